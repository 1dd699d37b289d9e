// The on-disk kernel cache (see disk_cache.h).
#include "runtime/cache/disk_cache.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <set>

#include <llvm/Support/xxhash.h>

#include "compiler/support/log.h"

namespace keops::runtime {
namespace fs = std::filesystem;

namespace {

static_assert(std::endian::native == std::endian::little, "the header is written as in memory");

constexpr char kMagic[8] = {'K', 'E', 'O', 'P', 'S', 'K', 'C', '\n'};
constexpr uint32_t kFormatVersion = 1;
constexpr const char* kSuffix = ".keops";
// Temporary files older than this were left by a crashed process: eviction removes them.
constexpr auto kStaleTemporary = std::chrono::hours(1);

struct Header {
  char magic[8];
  uint32_t version;
  uint32_t kind_size;
  uint32_t key_size;
  uint32_t reserved;
  uint64_t payload_size;
  uint64_t checksum;  // xxh3 of kind, key and payload, as they follow the header
};
static_assert(sizeof(Header) == 40);

uint64_t hash(std::string_view bytes) {
  return llvm::xxh3_64bits(llvm::StringRef(bytes.data(), bytes.size()));
}

std::string hex_digest(std::string_view key) {
  char digest[17];
  std::snprintf(digest, sizeof digest, "%016llx", static_cast<unsigned long long>(hash(key)));
  return digest;
}

bool is_entry(const fs::path& p) {
  const std::string name = p.filename().string();
  return !name.starts_with(".") && name.ends_with(kSuffix);
}

bool is_temporary(const fs::path& p) {
  const std::string name = p.filename().string();
  return name.starts_with(".") && name.find(".tmp.") != std::string::npos;
}

// Up to `limit` bytes from the start of the file, and the file's size; nullopt when it
// cannot be read (a missing file is no news: only other errors are logged).
struct FileStart {
  std::string bytes;
  uint64_t size = 0;
};

// Creates the missing directories of `dir`, readable and writable by this user only.
void create_private_directories(const fs::path& dir) {
  fs::path partial;
  for (const fs::path& part : dir) {
    partial /= part;
    if (::mkdir(partial.c_str(), 0700) != 0 && errno != EEXIST) return;
  }
}

// Only a regular file is read: a link is not followed, and a FIFO or device (which could
// block or never end) is not read at all.
std::optional<FileStart> read_start(const fs::path& path, uint64_t limit) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) {
    if (errno != ENOENT)
      detail::log_debug("disk cache: cannot open " + path.string() + ": " + std::strerror(errno));
    return std::nullopt;
  }
  FileStart f;
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    detail::log_debug("disk cache: " + path.string() + " is not a regular file; ignored");
    ::close(fd);
    return std::nullopt;
  }
  f.size = uint64_t(st.st_size);
  f.bytes.resize(size_t(std::min(f.size, limit)));
  size_t done = 0;
  while (done < f.bytes.size()) {
    const ssize_t n = ::read(fd, f.bytes.data() + done, f.bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += size_t(n);
  }
  ::close(fd);
  f.bytes.resize(done);
  return f;
}

bool write_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    bytes.remove_prefix(size_t(n));
  }
  return true;
}

// An entry's parts, or why the bytes read are not a whole entry of a file of `file_size`
// bytes. The start of a file gives its kind and key when it holds them (payload cut short).
struct ParsedEntry {
  Header header{};
  std::string_view kind, key, payload;
  std::string problem;         // "" when the file is a whole entry
  uint64_t identity_size = 0;  // bytes up to the end of the key; more than read: kind and key unset

  bool has_identity(std::string_view bytes) const {
    return problem.empty() && bytes.size() >= identity_size;
  }
};

ParsedEntry parse(std::string_view bytes, uint64_t file_size) {
  ParsedEntry p;
  if (bytes.size() < sizeof(Header)) {
    p.problem = "truncated (" + std::to_string(file_size) + " bytes, no whole header)";
    return p;
  }
  std::memcpy(&p.header, bytes.data(), sizeof(Header));
  const Header& h = p.header;
  if (std::memcmp(h.magic, kMagic, sizeof kMagic) != 0) {
    p.problem = "not a keops cache entry (bad magic)";
    return p;
  }
  if (h.version != kFormatVersion) {
    p.problem = "of format version " + std::to_string(h.version) + ", not " +
                std::to_string(kFormatVersion);
    return p;
  }
  const uint64_t expected = sizeof(Header) + uint64_t(h.kind_size) + h.key_size + h.payload_size;
  if (file_size < expected) {
    p.problem =
        "truncated (" + std::to_string(file_size) + " of " + std::to_string(expected) + " bytes)";
    return p;
  }
  if (file_size > expected) {
    p.problem = "corrupted (" + std::to_string(file_size - expected) + " bytes after the payload)";
    return p;
  }
  p.identity_size = sizeof(Header) + uint64_t(h.kind_size) + h.key_size;
  if (bytes.size() < p.identity_size) return p;
  p.kind = bytes.substr(sizeof(Header), h.kind_size);
  p.key = bytes.substr(sizeof(Header) + h.kind_size, h.key_size);
  p.payload = bytes.substr(sizeof(Header) + h.kind_size + h.key_size);
  return p;
}

}  // namespace

DiskCacheSettings disk_cache_settings_from_environment() {
  DiskCacheSettings s;
  const char* enabled = std::getenv("KEOPS_CACHE");
  s.enabled = !(enabled && std::strcmp(enabled, "0") == 0);
  const char* dir = std::getenv("KEOPS_CACHE_DIR");
  const char* xdg = std::getenv("XDG_CACHE_HOME");
  const char* home = std::getenv("HOME");
  if (dir && *dir) {
    s.dir = dir;
  } else if (xdg && *xdg) {
    s.dir = fs::path(xdg) / "keops";
  } else if (home && *home) {
    s.dir = fs::path(home) / ".cache" / "keops";
  } else {
    detail::log_debug("disk cache: off (neither KEOPS_CACHE_DIR, XDG_CACHE_HOME nor HOME is set)");
    s.enabled = false;
  }
  if (const char* max = std::getenv("KEOPS_CACHE_MAX_BYTES")) {
    if (const std::optional<uint64_t> bytes = parse_byte_count(max))
      s.max_bytes = *bytes;
    else
      detail::log_debug(std::string("disk cache: ignoring KEOPS_CACHE_MAX_BYTES=") + max +
                        " (not a number of bytes)");
  }
  return s;
}

std::optional<uint64_t> parse_byte_count(std::string_view text) {
  // Digits only: strtoull would take "-5" as 2^64 - 5, and " 5" or "+5" as 5.
  if (text.empty() || text.size() > 20 || text.find_first_not_of("0123456789") != text.npos)
    return std::nullopt;
  errno = 0;
  const unsigned long long v = std::strtoull(std::string(text).c_str(), nullptr, 10);
  if (errno != 0) return std::nullopt;
  return uint64_t(v);
}

DiskCache::DiskCache(fs::path dir, uint64_t max_bytes)
    : dir_(std::move(dir)), max_bytes_(max_bytes) {}

fs::path DiskCache::entry_path(std::string_view kind, std::string_view key) const {
  return dir_ / (std::string(kind) + "-" + hex_digest(key) + kSuffix);
}

std::optional<std::string> DiskCache::load(std::string_view kind, std::string_view key) const {
  const fs::path path = entry_path(kind, key);
  const std::optional<FileStart> file = read_start(path, UINT64_MAX);
  if (!file) {
    detail::log_debug("disk cache: miss " + path.string());
    return std::nullopt;
  }
  const ParsedEntry p = parse(file->bytes, file->bytes.size());
  std::string problem = p.problem;
  if (problem.empty() && (p.kind != kind || p.key != key))
    problem = "for another key with the same digest";
  if (problem.empty() &&
      hash(std::string_view(file->bytes).substr(sizeof(Header))) != p.header.checksum)
    problem = "corrupted (checksum mismatch)";
  if (!problem.empty()) {
    detail::log_debug("disk cache: " + path.string() + " is " + problem + "; rebuilding it");
    return std::nullopt;
  }
  std::error_code ec;
  fs::last_write_time(path, fs::file_time_type::clock::now(), ec);  // least recently used
  detail::log_debug("disk cache: hit " + path.string());
  return std::string(p.payload);
}

void DiskCache::store(std::string_view kind, std::string_view key, std::string_view payload) const {
  Header h{};
  std::memcpy(h.magic, kMagic, sizeof kMagic);
  h.version = kFormatVersion;
  h.kind_size = uint32_t(kind.size());
  h.key_size = uint32_t(key.size());
  h.payload_size = payload.size();
  std::string body;
  body.reserve(kind.size() + key.size() + payload.size());
  body.append(kind).append(key).append(payload);
  h.checksum = hash(body);
  const fs::path path = entry_path(kind, key);
  if (sizeof h + body.size() > max_bytes_) {
    detail::log_debug("disk cache: not storing " + path.string() +
                      ": larger than KEOPS_CACHE_MAX_BYTES");
    return;
  }
  create_private_directories(dir_);
  std::string temporary = (dir_ / ("." + path.filename().string() + ".tmp.XXXXXX")).string();
  const int fd = ::mkstemp(temporary.data());
  if (fd < 0) {
    detail::log_debug("disk cache: cannot create a file in " + dir_.string() + ": " +
                      std::strerror(errno));
    return;
  }
  const bool written =
      write_all(fd, std::string_view(reinterpret_cast<const char*>(&h), sizeof h)) &&
      write_all(fd, body) && ::fsync(fd) == 0;
  const int write_errno = errno;
  ::close(fd);
  if (!written || ::rename(temporary.c_str(), path.c_str()) != 0) {
    detail::log_debug("disk cache: cannot write " + path.string() + ": " +
                      std::strerror(written ? errno : write_errno));
    ::unlink(temporary.c_str());
    return;
  }
  // The rename itself is durable once the directory is synced.
  const int dir_fd = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {
    ::fsync(dir_fd);
    ::close(dir_fd);
  }
  detail::log_debug("disk cache: stored " + path.string());
  evict_beyond_cap(path);
}

std::vector<DiskCacheEntry> DiskCache::list() const {
  std::vector<DiskCacheEntry> entries = entry_files();
  for (DiskCacheEntry& e : entries) {
    std::optional<FileStart> start = read_start(e.path, 4096);
    if (!start) continue;
    ParsedEntry p = parse(start->bytes, start->size);
    if (p.problem.empty() && !p.has_identity(start->bytes)) {  // a long key
      start = read_start(e.path, p.identity_size);
      if (!start) continue;
      p = parse(start->bytes, start->size);
    }
    if (!p.has_identity(start->bytes)) continue;
    e.kind = p.kind;
    e.key = p.key;
  }
  return entries;
}

std::vector<DiskCacheEntry> DiskCache::entry_files() const {
  std::vector<DiskCacheEntry> entries;
  std::error_code ec;
  for (const fs::directory_entry& f : fs::directory_iterator(dir_, ec)) {
    std::error_code file_ec;
    if (!is_entry(f.path()) || !f.is_regular_file(file_ec)) continue;
    DiskCacheEntry e;
    e.path = f.path();
    const std::string name = f.path().stem().string();
    e.digest = name.substr(name.rfind('-') + 1);
    e.bytes = f.file_size(file_ec);
    e.last_use = f.last_write_time(file_ec);
    if (!file_ec) entries.push_back(std::move(e));
  }
  std::sort(entries.begin(), entries.end(), [](const DiskCacheEntry& a, const DiskCacheEntry& b) {
    return a.last_use < b.last_use;
  });
  return entries;
}

size_t DiskCache::clear() const {
  size_t removed = 0;
  std::error_code ec;
  for (const fs::directory_entry& f : fs::directory_iterator(dir_, ec)) {
    std::error_code file_ec;
    if ((is_entry(f.path()) || is_temporary(f.path())) && fs::remove(f.path(), file_ec)) ++removed;
  }
  return removed;
}

void DiskCache::evict_beyond_cap(const fs::path& keep) const {
  std::error_code ec;
  const auto now = fs::file_time_type::clock::now();
  for (const fs::directory_entry& f : fs::directory_iterator(dir_, ec)) {
    std::error_code file_ec;
    if (is_temporary(f.path()) && now - f.last_write_time(file_ec) > kStaleTemporary)
      fs::remove(f.path(), file_ec);
  }
  std::vector<DiskCacheEntry> entries = entry_files();
  uint64_t total = 0;
  for (const DiskCacheEntry& e : entries) total += e.bytes;
  for (const DiskCacheEntry& e : entries) {  // oldest use first
    if (total <= max_bytes_) break;
    if (e.path == keep) continue;
    std::error_code file_ec;
    if (fs::remove(e.path, file_ec)) detail::log_debug("disk cache: evicted " + e.path.string());
    total -= e.bytes;
  }
}

std::string untrusted_directory_reason(const fs::path& dir) {
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0) return std::string("cannot stat it: ") + std::strerror(errno);
  if (!S_ISDIR(st.st_mode)) return "it is not a directory";
  if (st.st_uid != ::geteuid())
    return "it belongs to user " + std::to_string(st.st_uid) + ", not to this process's user " +
           std::to_string(::geteuid());
  if (st.st_mode & (S_IWGRP | S_IWOTH))
    return "other users may write to it (mode " + std::to_string((st.st_mode >> 6) & 7) +
           std::to_string((st.st_mode >> 3) & 7) + std::to_string(st.st_mode & 7) +
           "); chmod go-w it to use it";
  return "";
}

namespace {

struct ProcessCache {
  std::mutex mutex;
  bool configured = false;
  std::shared_ptr<const DiskCache> cache;

  // Entries hold native code that the process runs: a directory that someone else could
  // write to is not used (as ssh treats its own), with one warning per directory.
  void configure(const DiskCacheSettings& s) {
    configured = true;
    cache = nullptr;
    if (!s.enabled) return;
    create_private_directories(s.dir);
    if (const std::string reason = untrusted_directory_reason(s.dir); !reason.empty()) {
      if (warned.insert(s.dir.string()).second)
        std::fprintf(stderr,
                     "keops: not using the kernel cache directory %s: %s; compiled kernels are "
                     "kept in memory only\n",
                     s.dir.c_str(), reason.c_str());
      return;
    }
    cache = std::make_shared<const DiskCache>(s.dir, s.max_bytes);
  }

 private:
  std::set<std::string> warned;
};

ProcessCache& process_cache() {
  static ProcessCache instance;
  return instance;
}

}  // namespace

std::shared_ptr<const DiskCache> process_disk_cache() {
  ProcessCache& p = process_cache();
  std::lock_guard lock(p.mutex);
  if (!p.configured) p.configure(disk_cache_settings_from_environment());
  return p.cache;
}

void set_process_disk_cache(std::optional<DiskCacheSettings> settings) {
  ProcessCache& p = process_cache();
  std::lock_guard lock(p.mutex);
  if (settings)
    p.configure(*settings);
  else
    p.configured = false;
}

}  // namespace keops::runtime
