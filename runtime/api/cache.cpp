// The public face of the disk cache (keops/cache.h) over the process's DiskCache.
#include "keops/cache.h"

#include "runtime/cache/disk_cache.h"

namespace keops {

std::string cache_directory() {
  const auto cache = runtime::process_disk_cache();
  return cache ? cache->dir().string() : std::string();
}

void set_cache_directory(const std::string& directory) {
  if (directory.empty()) return runtime::set_process_disk_cache(std::nullopt);
  runtime::DiskCacheSettings settings = runtime::disk_cache_settings_from_environment();
  settings.enabled = true;
  settings.dir = directory;
  runtime::set_process_disk_cache(settings);
}

size_t clear_cache() {
  const auto cache = runtime::process_disk_cache();
  return cache ? cache->clear() : 0;
}

}  // namespace keops
