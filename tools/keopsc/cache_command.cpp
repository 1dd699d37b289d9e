// keopsc cache list and keopsc cache clear: the entries of the disk cache.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <stdexcept>

#include "runtime/cache/disk_cache.h"
#include "tools/keopsc/commands.h"

namespace keopsc {
namespace {

using keops::runtime::DiskCache;

std::string human_bytes(uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = double(bytes);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  char text[32];
  std::snprintf(text, sizeof text, u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
  return text;
}

std::string human_age(std::filesystem::file_time_type last_use) {
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(
                           std::filesystem::file_time_type::clock::now() - last_use)
                           .count();
  if (seconds < 120) return std::to_string(std::max<long long>(0, seconds)) + "s";
  if (seconds < 2 * 3600) return std::to_string(seconds / 60) + "m";
  if (seconds < 2 * 86400) return std::to_string(seconds / 3600) + "h";
  return std::to_string(seconds / 86400) + "d";
}

keops::runtime::DiskCacheSettings environment_settings() {
  const keops::runtime::DiskCacheSettings s =
      keops::runtime::disk_cache_settings_from_environment();
  if (s.dir.empty())
    throw std::runtime_error("no cache directory: set KEOPS_CACHE_DIR, XDG_CACHE_HOME or HOME");
  return s;
}

}  // namespace

void cache_list_command() {
  const keops::runtime::DiskCacheSettings settings = environment_settings();
  const DiskCache cache(settings.dir, settings.max_bytes);
  const auto entries = cache.list();
  uint64_t total = 0;
  for (const auto& e : entries) total += e.bytes;
  std::printf("%s: %zu entries, %s of %s%s\n", cache.dir().c_str(), entries.size(),
              human_bytes(total).c_str(), human_bytes(cache.max_bytes()).c_str(),
              settings.enabled ? "" : " (KEOPS_CACHE=0: not used)");
  if (entries.empty()) return;
  std::printf("%-16s  %-10s  %10s  %4s  %s\n", "DIGEST", "KIND", "SIZE", "AGE", "KEY");
  for (const auto& e : entries) {
    // Keys are long (every CPU feature): their start says which formula it is.
    std::string key = e.kind.empty() ? "(unreadable header: rebuilt on next use)" : e.key;
    if (key.size() > 100) key = key.substr(0, 97) + "...";
    std::printf("%-16s  %-10s  %10s  %4s  %s\n", e.digest.c_str(),
                e.kind.empty() ? "invalid" : e.kind.c_str(), human_bytes(e.bytes).c_str(),
                human_age(e.last_use).c_str(), key.c_str());
  }
}

void cache_clear_command() {
  const keops::runtime::DiskCacheSettings settings = environment_settings();
  const DiskCache cache(settings.dir, settings.max_bytes);
  const size_t removed = cache.clear();
  std::printf("%s: removed %zu file(s)\n", cache.dir().c_str(), removed);
}

}  // namespace keopsc
