// The on-disk kernel cache: entries keyed by content, written atomically, checked when read.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace keops::runtime {

inline constexpr uint64_t kDefaultDiskCacheMaxBytes = uint64_t(512) << 20;

struct DiskCacheSettings {
  bool enabled = true;
  std::filesystem::path dir;
  uint64_t max_bytes = kDefaultDiskCacheMaxBytes;
};

// KEOPS_CACHE=0 disables the cache; its directory is $KEOPS_CACHE_DIR, else
// $XDG_CACHE_HOME/keops, else $HOME/.cache/keops; KEOPS_CACHE_MAX_BYTES caps its size.
DiskCacheSettings disk_cache_settings_from_environment();

// A byte count as KEOPS_CACHE_MAX_BYTES gives it: decimal digits only, within 64 bits.
std::optional<uint64_t> parse_byte_count(std::string_view text);

// One file of the cache directory, as `keopsc cache list` shows it.
struct DiskCacheEntry {
  std::filesystem::path path;
  std::string digest;  // 16 hex digits: the hash of the key, the file name's
  std::string kind;    // "cpu-object", ...; "" when the header does not read
  std::string key;
  uint64_t bytes = 0;                        // on disk
  std::filesystem::file_time_type last_use;  // mtime: set by a store and by every hit
};

// Entries are files "KIND-DIGEST.keops": a versioned header (magic, format version, the
// full kind and key, payload size, checksum) and the payload. A store writes a temporary
// file in the same directory, fsyncs it and renames it, so concurrent processes and
// crashes leave either a whole entry or none. A read checks everything (a truncated or
// corrupted entry, or another key with the same digest, is a miss: debug-logged, and
// rebuilt by the caller's next store). I/O errors are debug-logged and otherwise ignored:
// the cache only saves time. Stores evict the least recently used entries beyond max_bytes.
class DiskCache {
 public:
  DiskCache(std::filesystem::path dir, uint64_t max_bytes);

  const std::filesystem::path& dir() const { return dir_; }
  uint64_t max_bytes() const { return max_bytes_; }
  std::filesystem::path entry_path(std::string_view kind, std::string_view key) const;

  // The payload stored for (kind, key), or nullopt. A hit refreshes the entry's last use.
  std::optional<std::string> load(std::string_view kind, std::string_view key) const;
  void store(std::string_view kind, std::string_view key, std::string_view payload) const;

  // Every entry, oldest use first (headers only: payloads are checked by load).
  std::vector<DiskCacheEntry> list() const;
  // Removes every entry and leftover temporary file; returns how many files it removed.
  size_t clear() const;

 private:
  // Entry files with their sizes and last uses (no header read), oldest use first.
  std::vector<DiskCacheEntry> entry_files() const;
  void evict_beyond_cap(const std::filesystem::path& keep) const;

  std::filesystem::path dir_;
  uint64_t max_bytes_;
};

// Why a cache directory is not to be trusted with entries that the process will run: ""
// when it is a directory of this process's user that no other user may write to.
std::string untrusted_directory_reason(const std::filesystem::path& dir);

// The process's disk cache, set up from the environment on first use; null when disabled,
// or when its directory is not trusted (one warning on stderr per directory).
std::shared_ptr<const DiskCache> process_disk_cache();
// Replaces the process's settings (tests: a temporary directory, or disabled);
// std::nullopt goes back to the environment's.
void set_process_disk_cache(std::optional<DiskCacheSettings> settings);

}  // namespace keops::runtime
