// .npy files (see npy.h; the format:
// numpy.org/doc/stable/reference/generated/numpy.lib.format.html).
#include "tools/keopsc/npy.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <string_view>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "keops/error.h"

namespace keopsc {
namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicSize = 6;
// The longest header read: version 1.0's limit (NumPy writes far shorter ones).
constexpr size_t kMaxHeaderBytes = 65535;

size_t item_size(NpyType t) { return t == NpyType::F16 ? 2 : t == NpyType::F32 ? 4 : 8; }

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw keops::Error(path + ": " + what);
}

// Header text quoted in a message, cut to its first `keep` characters.
std::string abbreviated(std::string_view text, size_t keep) {
  return text.size() > keep ? std::string(text.substr(0, keep)) + "..." : std::string(text);
}

// The header's dict, a Python literal: {'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }
// Scanned without a regex (a backtracking one overflowed the stack on long strings).
class HeaderScanner {
 public:
  HeaderScanner(const std::string& path, const std::string& header) : path_(path), text_(header) {}

  // The position just after `key`'s colon, or npos when the dict has no such key.
  size_t value_of(std::string_view key) const {
    for (size_t at = 0; at < text_.size();) {
      const char c = text_[at];
      if (c != '\'' && c != '"') {
        ++at;
        continue;
      }
      const size_t end = text_.find(c, at + 1);
      if (end == std::string::npos) return std::string::npos;
      const std::string_view literal(text_.data() + at + 1, end - at - 1);
      size_t next = skip_spaces(end + 1);
      if (literal == key && next < text_.size() && text_[next] == ':') return skip_spaces(next + 1);
      at = end + 1;
    }
    return std::string::npos;
  }

  size_t skip_spaces(size_t at) const {
    while (at < text_.size() && (text_[at] == ' ' || text_[at] == '\t')) ++at;
    return at;
  }

  // The text from `at` (just after an opening delimiter) to the closing one, excluded.
  std::string_view until(size_t at, char close, const char* key) const {
    const size_t end = text_.find(close, at);
    if (end == std::string::npos)
      fail(path_, std::string("unterminated '") + key + "' in the .npy header");
    return std::string_view(text_).substr(at, end - at);
  }

  const std::string& text() const { return text_; }

 private:
  const std::string& path_;
  const std::string& text_;
};

NpyType parse_descr(const std::string& path, const HeaderScanner& h) {
  const size_t at = h.value_of("descr");
  if (at == std::string::npos || at >= h.text().size() ||
      (h.text()[at] != '\'' && h.text()[at] != '"'))
    fail(path, "the .npy header has no 'descr'");
  const std::string descr(h.until(at + 1, h.text()[at], "descr"));
  const std::string shown = abbreviated(descr, 16);
  if (!descr.empty() && descr[0] == '>')
    fail(path, "big-endian data ('" + shown + "') is not supported: save it little-endian");
  if (descr == "<f2") return NpyType::F16;
  if (descr == "<f4") return NpyType::F32;
  if (descr == "<f8") return NpyType::F64;
  fail(path, "dtype '" + shown + "' is not float16 ('<f2'), float32 ('<f4') or float64 ('<f8')");
}

std::vector<int64_t> parse_shape(const std::string& path, const HeaderScanner& h) {
  const size_t at = h.value_of("shape");
  if (at == std::string::npos || at >= h.text().size() || h.text()[at] != '(')
    fail(path, "the .npy header has no 'shape'");
  const std::string_view inside = h.until(at + 1, ')', "shape");
  std::string dims;  // "3,2" or "3," (1-D) or "" (0-D)
  for (char c : inside)
    if (c != ' ') dims += c;
  if (dims.ends_with(",")) dims.pop_back();
  const std::string shown = abbreviated(inside, 64);
  std::vector<int64_t> shape;
  for (size_t start = 0; start < dims.size();) {
    const size_t end = std::min(dims.find(',', start), dims.size());
    const std::string dim = dims.substr(start, end - start);
    if (dim.empty() || dim.size() > 15 || dim.find_first_not_of("0123456789") != std::string::npos)
      fail(path, "bad shape (" + shown + ") in the .npy header");
    shape.push_back(std::stoll(dim));
    start = end + 1;
  }
  return shape;
}

void parse_header(const std::string& path, const std::string& header, NpyArray& a) {
  const HeaderScanner h(path, header);
  a.type = parse_descr(path, h);
  const size_t order = h.value_of("fortran_order");
  if (order == std::string::npos) fail(path, "the .npy header has no 'fortran_order'");
  if (header.compare(order, 4, "True") == 0)
    fail(path, "Fortran-ordered arrays are not supported: save it in C order");
  if (header.compare(order, 5, "False") != 0) fail(path, "the .npy header has no 'fortran_order'");
  const std::vector<int64_t> shape = parse_shape(path, h);
  if (shape.empty() || shape.size() > 2)
    fail(path, "a " + std::to_string(shape.size()) + "-D array: expected 1-D or 2-D");
  a.rank = int(shape.size());
  a.rows = shape[0];
  a.cols = shape.size() == 2 ? shape[1] : 1;
}

// The whole content of a regular file. Others (a FIFO, a device such as /dev/zero, a
// directory) are refused before anything is read from them.
std::string read_regular_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) fail(path, std::string("cannot open: ") + std::strerror(errno));
  struct FdCloser {
    int fd;
    ~FdCloser() { ::close(fd); }
  } closer{fd};
  struct stat info;
  if (::fstat(fd, &info) != 0) fail(path, std::string("cannot stat: ") + std::strerror(errno));
  if (!S_ISREG(info.st_mode))
    fail(path, S_ISDIR(info.st_mode) ? "is a directory, not a .npy file"
                                     : "is not a regular file (a FIFO, socket or device?)");
  std::string content(size_t(info.st_size), '\0');
  size_t got = 0;
  while (got < content.size()) {
    const ssize_t n = ::read(fd, content.data() + got, content.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail(path, std::string("read failed: ") + std::strerror(errno));
    if (n == 0) break;
    got += size_t(n);
  }
  content.resize(got);
  return content;
}

}  // namespace

const char* npy_type_name(NpyType type) {
  return type == NpyType::F16   ? "float16"
         : type == NpyType::F32 ? "float32"
         : type == NpyType::F64 ? "float64"
                                : "int64";
}

NpyArray read_npy(const std::string& path) {
  const std::string file = read_regular_file(path);
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
    if (header_size > kMaxHeaderBytes)
      fail(path, "a .npy header of " + std::to_string(header_size) + " bytes: at most " +
                     std::to_string(kMaxHeaderBytes) + " are read");
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
  if (expected > 0) std::memcpy(a.bytes.data(), file.data() + data_start, expected);
  return a;
}

void write_npy(const std::string& path, NpyType type, int64_t rows, int64_t cols,
               const void* data) {
  const char* descr = type == NpyType::F16   ? "<f2"
                      : type == NpyType::F32 ? "<f4"
                      : type == NpyType::F64 ? "<f8"
                                             : "<i8";
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
