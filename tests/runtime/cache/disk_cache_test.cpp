// The disk cache: round trips, checks of every kind of damage, LRU eviction, settings, and
// the CPU kernel cache storing objects there.
#include <doctest/doctest.h>

#include <chrono>

#include <sys/stat.h>

#include <keops/keops.h>

#include "runtime/cache/disk_cache.h"
#include "tests/support/scratch.h"

using keops::runtime::DiskCache;
using keops::runtime::DiskCacheSettings;
using keops::test::read_bytes;
using keops::test::ScopedEnv;
using keops::test::TempDir;
using keops::test::write_bytes;
namespace fs = std::filesystem;

namespace {

constexpr const char* kKind = "cpu-object";

void age(const fs::path& p, std::chrono::seconds by) {
  fs::last_write_time(p, fs::file_time_type::clock::now() - by);
}

}  // namespace

TEST_CASE("a stored payload loads back, under its own key only") {
  TempDir dir;
  const DiskCache cache(dir.path() / "cache", 1 << 20);
  CHECK_FALSE(cache.load(kKind, "key-a").has_value());
  const std::string payload(
      "\x7f"
      "ELF\0with zeros\0",
      16);
  cache.store(kKind, "key-a", payload);
  CHECK(cache.load(kKind, "key-a") == payload);
  CHECK_FALSE(cache.load(kKind, "key-b").has_value());
  CHECK_FALSE(cache.load("other-kind", "key-a").has_value());
  // Another key whose file name is key-a's (a digest collision): the stored key decides.
  fs::rename(cache.entry_path(kKind, "key-a"), cache.entry_path(kKind, "key-b"));
  CHECK_FALSE(cache.load(kKind, "key-b").has_value());

  const auto entries = cache.list();
  REQUIRE(entries.size() == 1);
  CHECK(entries[0].kind == kKind);
  CHECK(entries[0].key == "key-a");
  CHECK(entries[0].digest.size() == 16);
  CHECK(entries[0].bytes == fs::file_size(entries[0].path));
  for (const auto& f : fs::directory_iterator(cache.dir()))  // no temporary file left
    CHECK(f.path().filename().string()[0] != '.');
}

TEST_CASE("a truncated, corrupted or foreign entry is a miss, and the next store rebuilds it") {
  TempDir dir;
  const DiskCache cache(dir.path(), 1 << 20);
  const std::string payload(3000, 'p');
  const std::string path = cache.entry_path(kKind, "key").string();
  cache.store(kKind, "key", payload);
  const std::string good = read_bytes(path);

  std::string flipped = good;
  flipped[flipped.size() - 100] ^= 0x10;  // in the payload
  std::string bad_header = good;
  bad_header[9] ^= 1;  // the format version
  std::string bad_magic = good;
  bad_magic[0] = 'X';
  const std::string damaged[] = {
      flipped,           bad_header, bad_magic, good.substr(0, good.size() / 2), good.substr(0, 20),
      good + "trailing", ""};
  for (const std::string& bytes : damaged) {
    write_bytes(path, bytes);
    CHECK_FALSE(cache.load(kKind, "key").has_value());
    cache.store(kKind, "key", payload);
    CHECK(read_bytes(path) == good);
    CHECK(cache.load(kKind, "key") == payload);
  }
  write_bytes(path, good.substr(0, 30));
  REQUIRE(cache.list().size() == 1);
  CHECK(cache.list()[0].kind.empty());  // listed as invalid
}

TEST_CASE("stores evict the least recently used entries beyond the cap; a hit counts as a use") {
  TempDir dir;
  const std::string payload(1000, 'x');
  const DiskCache cache(dir.path(), 2600);  // two entries of ~1.1 KB fit, not three
  cache.store(kKind, "a", payload);
  cache.store(kKind, "b", payload);
  age(cache.entry_path(kKind, "a"), std::chrono::seconds(100));
  age(cache.entry_path(kKind, "b"), std::chrono::seconds(200));
  CHECK(cache.load(kKind, "b").has_value());  // b is now the most recently used
  cache.store(kKind, "c", payload);
  CHECK_FALSE(fs::exists(cache.entry_path(kKind, "a")));
  CHECK(cache.load(kKind, "b").has_value());
  CHECK(cache.load(kKind, "c").has_value());
  // A payload larger than the cap is not stored at all.
  cache.store(kKind, "huge", std::string(4000, 'h'));
  CHECK_FALSE(fs::exists(cache.entry_path(kKind, "huge")));
  CHECK(cache.list().size() == 2);
}

TEST_CASE("clear removes the entries and leftover temporary files") {
  TempDir dir;
  const DiskCache cache(dir.path(), 1 << 20);
  cache.store(kKind, "a", "1");
  cache.store(kKind, "b", "2");
  write_bytes(dir / ".cpu-object-0000000000000000.keops.tmp.abcdef", "partial");
  write_bytes(dir / "unrelated.txt", "kept");
  CHECK(cache.clear() == 3);
  CHECK(cache.list().empty());
  CHECK(fs::exists(dir / "unrelated.txt"));
}

TEST_CASE(
    "settings come from KEOPS_CACHE, KEOPS_CACHE_DIR, XDG_CACHE_HOME, HOME, "
    "KEOPS_CACHE_MAX_BYTES") {
  ScopedEnv no_switch("KEOPS_CACHE", nullptr), no_dir("KEOPS_CACHE_DIR", nullptr),
      xdg("XDG_CACHE_HOME", "/xdg"), home("HOME", "/home/u"),
      no_max("KEOPS_CACHE_MAX_BYTES", nullptr);
  auto s = keops::runtime::disk_cache_settings_from_environment();
  CHECK(s.enabled);
  CHECK(s.dir == "/xdg/keops");
  CHECK(s.max_bytes == keops::runtime::kDefaultDiskCacheMaxBytes);
  {
    ScopedEnv no_xdg("XDG_CACHE_HOME", nullptr), max("KEOPS_CACHE_MAX_BYTES", "12345");
    s = keops::runtime::disk_cache_settings_from_environment();
    CHECK(s.dir == "/home/u/.cache/keops");
    CHECK(s.max_bytes == 12345);
  }
  ScopedEnv dir("KEOPS_CACHE_DIR", "/somewhere"), off("KEOPS_CACHE", "0"),
      bad_max("KEOPS_CACHE_MAX_BYTES", "lots");
  s = keops::runtime::disk_cache_settings_from_environment();
  CHECK_FALSE(s.enabled);
  CHECK(s.dir == "/somewhere");
  CHECK(s.max_bytes == keops::runtime::kDefaultDiskCacheMaxBytes);
}

TEST_CASE("a kernel compiled by Genred lands in the process's disk cache, unless it is off") {
  TempDir dir;
  const std::vector<std::string> aliases = {"x = Vi(2)", "y = Vj(2)"};
  const std::vector<float> x = {1, 2, 3, 4}, y = {0.5f, 0.25f};
  keops::Options cpu;  // the disk cache holds CPU objects; Auto would pick a GPU where one is
  cpu.backend = keops::Backend::CPU;
  keops::runtime::set_process_disk_cache(DiskCacheSettings{true, dir.path(), 1 << 30});
  const auto values = keops::Genred("Exp(-SqDist(x, y) * 7.25)", aliases, "Sum", 1,
                                    cpu)({{x.data(), 2, 2}, {y.data(), 1, 2}})
                          .values;
  const auto entries = DiskCache(dir.path(), 1 << 30).list();
  REQUIRE(entries.size() == 1);
  CHECK(entries[0].kind == "cpu-object");
  CHECK(values.size() == 2);

  keops::runtime::set_process_disk_cache(DiskCacheSettings{false, dir.path(), 1 << 30});
  keops::Genred("Exp(-SqDist(x, y) * 9.25)", aliases, "Sum", 1,
                cpu)({{x.data(), 2, 2}, {y.data(), 1, 2}});
  CHECK(DiskCache(dir.path(), 1 << 30).list().size() == 1);
  keops::runtime::set_process_disk_cache(std::nullopt);
}

TEST_CASE("KEOPS_CACHE_MAX_BYTES takes decimal digits only") {
  using keops::runtime::parse_byte_count;
  CHECK(parse_byte_count("0") == uint64_t(0));
  CHECK(parse_byte_count("536870912") == uint64_t(536870912));
  CHECK(parse_byte_count("18446744073709551615") == UINT64_MAX);
  for (const char* bad : {"", "-5", "+5", " 5", "5 ", "5MB", "0x10", "18446744073709551616"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_byte_count(bad).has_value());
  }
}

TEST_CASE("entries that are links, FIFOs or directories are misses, read without blocking") {
  TempDir dir;
  const DiskCache cache(dir.path(), 1 << 20);
  cache.store(kKind, "real", "payload");
  fs::create_symlink(cache.entry_path(kKind, "real"), cache.entry_path(kKind, "link"));
  CHECK(cache.load(kKind, "real") == std::string("payload"));
  CHECK_FALSE(cache.load(kKind, "link").has_value());  // its target holds another key anyway
  REQUIRE(::mkfifo(cache.entry_path(kKind, "fifo").c_str(), 0600) == 0);
  CHECK_FALSE(cache.load(kKind, "fifo").has_value());  // a read would block forever
  fs::create_directory(cache.entry_path(kKind, "folder"));
  CHECK_FALSE(cache.load(kKind, "folder").has_value());
  cache.store(kKind, "fifo", "rebuilt");  // the store replaces what was there
  CHECK(cache.load(kKind, "fifo") == std::string("rebuilt"));
}

TEST_CASE("a cache directory that other users may write to is not used") {
  TempDir dir;
  const fs::path open_dir = dir.path() / "open", own_dir = dir.path() / "own";
  fs::create_directory(open_dir);
  fs::permissions(open_dir, fs::perms::all);  // 0777
  CHECK(keops::runtime::untrusted_directory_reason(open_dir) ==
        "other users may write to it (mode 777); chmod go-w it to use it");
  CHECK(keops::runtime::untrusted_directory_reason(dir.path() / "missing").find("cannot stat") ==
        0);
  write_bytes(dir.path() / "file", "x");
  CHECK(keops::runtime::untrusted_directory_reason(dir.path() / "file") == "it is not a directory");

  DiskCacheSettings settings;
  settings.dir = open_dir;
  keops::runtime::set_process_disk_cache(settings);
  CHECK(keops::runtime::process_disk_cache() == nullptr);
  settings.dir = own_dir / "nested";  // created by this user, for this user only
  keops::runtime::set_process_disk_cache(settings);
  CHECK(keops::runtime::process_disk_cache() != nullptr);
  CHECK((fs::status(own_dir).permissions() & (fs::perms::group_all | fs::perms::others_all)) ==
        fs::perms::none);
  CHECK(keops::runtime::untrusted_directory_reason(own_dir / "nested") == "");
  keops::runtime::set_process_disk_cache(std::nullopt);
}
