/* keopsc GPU objects (--target sm_XX) call into libkeops through this C interface. */
#ifndef KEOPS_AOT_GPU_H
#define KEOPS_AOT_GPU_H

#include <stdint.h>

#if defined(__GNUC__)
#define KEOPS_AOT_EXPORT __attribute__((visibility("default")))
#else
#define KEOPS_AOT_EXPORT
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* The layout of struct keops_aot_gpu_kernel and the kernel's parameter list; a library
   refuses kernels written for another version (KEOPS_AOT_BAD_KERNEL). 2: column_groups.
   3: wide_tiles_pay. */
#define KEOPS_AOT_GPU_ABI_VERSION 3

/* What the entries of keopsc objects return: 1 to 4 as the CPU objects (API.md, keopsc). */
enum keops_aot_status {
  KEOPS_AOT_OK = 0,
  KEOPS_AOT_BAD_SIZE = 1,      /* nx or ny < 0, or an array too large to address */
  KEOPS_AOT_NULL_ARGUMENT = 2, /* args, or args[k] with rows > 0, is NULL */
  KEOPS_AOT_NULL_VALUES = 3,   /* values is NULL, the reduction yields values, rows > 0 */
  KEOPS_AOT_NULL_INDICES = 4,  /* indices is NULL, the reduction yields indices, rows > 0 */
  KEOPS_AOT_NO_GPU = 5,        /* no usable CUDA driver or device */
  KEOPS_AOT_GPU_FAILURE = 6,   /* the GPU failed it: architecture, memory, driver error */
  KEOPS_AOT_BAD_KERNEL = 7     /* the kernel description is NULL or of another version */
};

/* Which rows an argument has. */
enum keops_aot_category { KEOPS_AOT_CAT_I = 0, KEOPS_AOT_CAT_J = 1, KEOPS_AOT_CAT_P = 2 };

/* A kernel as keopsc embeds it in an object: its PTX and what launching it needs.
   Every field is 8 bytes wide, so the layout is the same for every compiler; abi_version
   and symbol lead it in every version, so that a library can name an object it refuses. */
struct keops_aot_gpu_kernel {
  int64_t abi_version;     /* KEOPS_AOT_GPU_ABI_VERSION of the keopsc that wrote it */
  const char* symbol;      /* the object's C entry, for messages */
  const char* ptx;         /* NUL-terminated PTX text */
  uint64_t ptx_hash;       /* 64-bit FNV-1a of ptx: with the device, the module cache key */
  const char* kernel_name; /* the .entry of ptx */
  int64_t sm;              /* ptx targets sm_<sm>; it runs on GPUs of that or a later one */
  int64_t dtype_bytes;     /* 4: float, 8: double, 2: float16 or bfloat16 (the PTX knows) */
  int64_t axis;            /* 1: nx output rows, reduced over ny; 0: ny rows over nx */
  int64_t block_threads;   /* threads per block */
  int64_t shared_bytes;    /* dynamic shared memory per block */
  int64_t column_groups;   /* column groups of a long output (grid.z up to 65535); else 1 */
  int64_t value_cols;      /* values per output row; 0: none */
  int64_t index_cols;      /* indices per output row; 0: none */
  int64_t arg_count;
  const int64_t* arg_dims; /* columns of argument k */
  const int64_t* arg_cats; /* rows of argument k: keops_aot_category (nx, ny or 1) */
  int64_t wide_tiles_pay;  /* 1: blocks sized as Genred sizes those of long pair bodies */
};

/* Runs kernel k on the GPU with the C ABI of keopsc objects (args[k] points to argument
   k, row-major; values and indices have nx (axis 1) or ny (axis 0) rows). Each of args[k],
   values and indices may be host memory (copied in and out) or CUDA device memory (used
   in place, as cuPointerGetAttribute reports it); the kernel runs on the GPU that holds
   the device arrays, else on GPU 0. Returns when the results are written: a
   keops_aot_status, with the reason of a failure in keops_aot_last_error(). */
KEOPS_AOT_EXPORT int keops_aot_gpu_launch(const struct keops_aot_gpu_kernel* k, int64_t nx,
                                          int64_t ny, const void* const* args, void* values,
                                          int64_t* indices);

/* Why the last call of a keops_aot entry on this thread failed; "" after a success.
   Valid until the thread's next call. */
KEOPS_AOT_EXPORT const char* keops_aot_last_error(void);

#ifdef __cplusplus
}
#endif

#endif
