/* keopsc objects' speed by dtype (bench/keopsc_objects.sh builds them): gauss_D64_E16,
   Exp(-SqDist(x, y) * g) * b over j, x and y of 64 components, b of 16; JSON lines. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int g_float32(int64_t, int64_t, const float* const*, float*, int64_t*);
int g_float16(int64_t, int64_t, const uint16_t* const*, uint16_t*, int64_t*);
int g_bfloat16(int64_t, int64_t, const uint16_t* const*, uint16_t*, int64_t*);

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}
static int by_value(const void* a, const void* b) {
  const double x = *(const double*)a, y = *(const double*)b;
  return (x > y) - (x < y);
}

int main(int argc, char** argv) {
  const int64_t n = argc > 1 ? atoll(argv[1]) : 10000;
  enum { kReps = 7 };
  float *x = malloc(n * 64 * 4), *y = malloc(n * 64 * 4), *b = malloc(n * 16 * 4),
        *out = malloc(n * 16 * 4), g = 0.0625f;
  uint16_t *x16 = malloc(n * 64 * 2), *y16 = malloc(n * 64 * 2), *b16 = malloc(n * 16 * 2),
           *out16 = malloc(n * 16 * 2);
  /* 0, 0.5 and 1, exact in every format, so that the three runs reduce the same numbers. */
  const uint16_t codes[3][3] = {{0}, {0, 0x3800, 0x3c00}, {0, 0x3f00, 0x3f80}};
  const uint16_t g_codes[3] = {0, 0x2c00, 0x3d80}; /* 0.0625 */
  const char* names[3] = {"float32", "float16", "bfloat16"};
  for (int k = 0; k < 3; ++k) {
    for (int64_t q = 0; q < n * 64; ++q) {
      x[q] = (float)(q % 3) * 0.5f;
      y[q] = q % 5 == 0 ? 1.0f : 0.0f;
      x16[q] = codes[k][q % 3];
      y16[q] = codes[k][q % 5 == 0 ? 2 : 0];
    }
    for (int64_t q = 0; q < n * 16; ++q) {
      b[q] = 1;
      b16[q] = codes[k][2];
    }
    const float* args32[4] = {x, y, b, &g};
    const uint16_t g16 = g_codes[k];
    const uint16_t* args16[4] = {x16, y16, b16, &g16};
    double t[kReps];
    for (int r = 0; r < kReps; ++r) {
      const double t0 = now();
      const int status = k == 0   ? g_float32(n, n, args32, out, 0)
                         : k == 1 ? g_float16(n, n, args16, out16, 0)
                                  : g_bfloat16(n, n, args16, out16, 0);
      t[r] = now() - t0;
      if (status != 0) return status;
    }
    qsort(t, kReps, sizeof t[0], by_value);
    printf("{\"bench\": \"keopsc_objects\", \"case\": \"gauss_D64_E16\", \"dtype\": \"%s\", "
           "\"n\": %lld, \"m\": %lld, \"reps\": %d, \"median_s\": %.5f, \"min_s\": %.5f}\n",
           names[k], (long long)n, (long long)n, kReps, t[kReps / 2], t[0]);
  }
  return 0;
}
