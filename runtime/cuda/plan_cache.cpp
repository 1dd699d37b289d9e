// GPU kernel plans, lowered once (see plan_cache.h).
#include "runtime/cuda/plan_cache.h"

#include <mutex>
#include <unordered_map>

namespace keops::runtime::cuda {

std::shared_ptr<const lower::KernelPlan> cached_plan(const codegen::KernelSpec& spec,
                                                     const std::string& key) {
  static std::mutex mutex;
  static auto* plans =
      new std::unordered_map<std::string, std::shared_ptr<const lower::KernelPlan>>();
  {
    const std::lock_guard<std::mutex> lock(mutex);
    if (const auto at = plans->find(key); at != plans->end()) return at->second;
  }
  // Lowered outside the lock: concurrent first requests may both lower; the first stored wins.
  auto plan = std::make_shared<const lower::KernelPlan>(lower::lower(spec));
  const std::lock_guard<std::mutex> lock(mutex);
  return plans->try_emplace(key, std::move(plan)).first->second;
}

}  // namespace keops::runtime::cuda
