// .npy files (see npy.h; the format:
// numpy.org/doc/stable/reference/generated/numpy.lib.format.html).
#include "tools/keopsc/npy.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <regex>

#include "keops/error.h"

namespace keopsc {
namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicSize = 6;

size_t item_size(NpyType t) { return t == NpyType::F32 ? 4 : 8; }

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw keops::Error(path + ": " + what);
}

// The header's dict: {'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }
void parse_header(const std::string& path, const std::string& header, NpyArray& a) {
  std::smatch m;
  if (!std::regex_search(header, m, std::regex(R"(['"]descr['"]\s*:\s*['"]([^'"]*)['"])")))
    fail(path, "the .npy header has no 'descr'");
  const std::string descr = m[1];
  if (!descr.empty() && descr[0] == '>')
    fail(path, "big-endian data ('" + descr + "') is not supported: save it little-endian");
  if (descr == "<f4")
    a.type = NpyType::F32;
  else if (descr == "<f8")
    a.type = NpyType::F64;
  else
    fail(path, "dtype '" + descr + "' is not float32 ('<f4') or float64 ('<f8')");
  if (!std::regex_search(header, m, std::regex(R"(['"]fortran_order['"]\s*:\s*(True|False))")))
    fail(path, "the .npy header has no 'fortran_order'");
  if (m[1] == "True") fail(path, "Fortran-ordered arrays are not supported: save it in C order");
  if (!std::regex_search(header, m, std::regex(R"(['"]shape['"]\s*:\s*\(([^)]*)\))")))
    fail(path, "the .npy header has no 'shape'");
  std::string dims;  // "3,2" or "3," (1-D) or "" (0-D)
  for (char c : std::string(m[1]))
    if (c != ' ') dims += c;
  if (dims.ends_with(",")) dims.pop_back();
  std::vector<int64_t> shape;
  for (size_t start = 0; start < dims.size();) {
    const size_t end = std::min(dims.find(',', start), dims.size());
    const std::string dim = dims.substr(start, end - start);
    if (dim.empty() || dim.size() > 15 || dim.find_first_not_of("0123456789") != std::string::npos)
      fail(path, "bad shape (" + std::string(m[1]) + ") in the .npy header");
    shape.push_back(std::stoll(dim));
    start = end + 1;
  }
  if (shape.empty() || shape.size() > 2)
    fail(path, "a " + std::to_string(shape.size()) + "-D array: expected 1-D or 2-D");
  a.rank = int(shape.size());
  a.rows = shape[0];
  a.cols = shape.size() == 2 ? shape[1] : 1;
}

}  // namespace

const char* npy_type_name(NpyType type) {
  return type == NpyType::F32 ? "float32" : type == NpyType::F64 ? "float64" : "int64";
}

NpyArray read_npy(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path, std::string("cannot open: ") + std::strerror(errno));
  const std::string file((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (file.size() < kMagicSize + 4 || file.compare(0, kMagicSize, kMagic, kMagicSize) != 0)
    fail(path, "not a .npy file");
  const int major = static_cast<unsigned char>(file[6]);
  size_t header_size = 0, header_start = 0;
  if (major == 1) {
    header_size = static_cast<unsigned char>(file[8]) | size_t(static_cast<unsigned char>(file[9]))
                                                            << 8;
    header_start = 10;
  } else if (major == 2 || major == 3) {
    if (file.size() < 12) fail(path, "truncated .npy header");
    for (int b = 3; b >= 0; --b)
      header_size = header_size << 8 | static_cast<unsigned char>(file[8 + b]);
    header_start = 12;
  } else {
    fail(path, "unknown .npy format version " + std::to_string(major));
  }
  if (file.size() < header_start + header_size) fail(path, "truncated .npy header");
  NpyArray a;
  parse_header(path, file.substr(header_start, header_size), a);
  const size_t data_start = header_start + header_size;
  const size_t present = file.size() - data_start;
  const size_t item = item_size(a.type);
  // Compared before multiplying: 15-digit dims could overflow rows * cols.
  if (a.cols > 0 && uint64_t(a.rows) > present / item / uint64_t(a.cols))
    fail(path, "truncated: " + std::to_string(a.rows) + " x " + std::to_string(a.cols) + " " +
                   npy_type_name(a.type) + " values need more than the " + std::to_string(present) +
                   " bytes of data the file has");
  const size_t expected = size_t(a.rows) * size_t(a.cols) * item;
  if (present > expected)
    fail(path,
         std::to_string(present - expected) + " bytes follow the data: not a valid .npy file");
  a.bytes.resize(expected);
  std::memcpy(a.bytes.data(), file.data() + data_start, expected);
  return a;
}

void write_npy(const std::string& path, NpyType type, int64_t rows, int64_t cols,
               const void* data) {
  const char* descr = type == NpyType::F32 ? "<f4" : type == NpyType::F64 ? "<f8" : "<i8";
  std::string header = std::string("{'descr': '") + descr +
                       "', 'fortran_order': False, 'shape': (" + std::to_string(rows) + ", " +
                       std::to_string(cols) + "), }";
  // Version 1.0: the magic, the version, a 2-byte length, then the header padded with
  // spaces and ended by a newline so that the data starts at a multiple of 64 bytes.
  const size_t unpadded = kMagicSize + 4 + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ').push_back('\n');
  std::string out(kMagic, kMagicSize);
  out += '\x01';
  out += '\x00';
  out += char(header.size() & 0xff);
  out += char(header.size() >> 8);
  out += header;
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  if (!file) fail(path, std::string("cannot create: ") + std::strerror(errno));
  file.write(out.data(), std::streamsize(out.size()));
  file.write(static_cast<const char*>(data),
             std::streamsize(size_t(rows * cols) * item_size(type)));
  file.close();
  if (!file) fail(path, "write failed");
}

}  // namespace keopsc
