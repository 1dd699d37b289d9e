// The build id of the binary holding the compiler (see build_id.h).
#include "runtime/cache/build_id.h"

#include <elf.h>
#include <link.h>

#include <cstring>

namespace keops::runtime {
namespace {

struct Search {
  uintptr_t address;  // inside the object looked for
  std::string id;
};

bool contains(const dl_phdr_info* info, uintptr_t address) {
  for (int k = 0; k < info->dlpi_phnum; ++k) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[k];
    const uintptr_t start = info->dlpi_addr + ph.p_vaddr;
    if (ph.p_type == PT_LOAD && address >= start && address < start + ph.p_memsz) return true;
  }
  return false;
}

std::string build_id_note(const dl_phdr_info* info) {
  static const char hex[] = "0123456789abcdef";
  auto align4 = [](size_t n) { return (n + 3) & ~size_t(3); };
  for (int k = 0; k < info->dlpi_phnum; ++k) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[k];
    if (ph.p_type != PT_NOTE) continue;
    const char* p = reinterpret_cast<const char*>(info->dlpi_addr + ph.p_vaddr);
    const char* end = p + ph.p_memsz;
    while (p + sizeof(ElfW(Nhdr)) <= end) {
      ElfW(Nhdr) note;
      std::memcpy(&note, p, sizeof note);
      const char* name = p + sizeof note;
      const unsigned char* desc =
          reinterpret_cast<const unsigned char*>(name + align4(note.n_namesz));
      if (note.n_type == NT_GNU_BUILD_ID && note.n_namesz == 4 &&
          std::memcmp(name, "GNU", 4) == 0) {
        std::string id;
        for (size_t b = 0; b < note.n_descsz; ++b) (id += hex[desc[b] >> 4]) += hex[desc[b] & 15];
        return id;
      }
      p = reinterpret_cast<const char*>(desc) + align4(note.n_descsz);
    }
  }
  return "";
}

int visit(dl_phdr_info* info, size_t, void* data) {
  auto* search = static_cast<Search*>(data);
  if (!contains(info, search->address)) return 0;
  search->id = build_id_note(info);
  return 1;
}

}  // namespace

const std::string& code_build_id() {
  static const std::string id = [] {
    Search search{reinterpret_cast<uintptr_t>(&code_build_id), ""};
    dl_iterate_phdr(visit, &search);
    return search.id;
  }();
  return id;
}

}  // namespace keops::runtime
