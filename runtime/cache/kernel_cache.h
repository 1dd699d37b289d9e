// The in-memory kernel cache: one compile per key per process, even under concurrent callers.
#pragma once

#include <functional>
#include <future>
#include <mutex>
#include <string>
#include <unordered_map>

namespace keops::runtime {

template <class Kernel>
class KernelCache {
 public:
  // The kernel for key, compiled by `compile` on the first request. Concurrent requests
  // for one key wait for that single compile; a compile that throws is not cached, so
  // the error reaches every waiter and a later call tries again.
  Kernel get(const std::string& key, const std::function<Kernel()>& compile) {
    std::promise<Kernel> promise;
    std::shared_future<Kernel> future;
    bool owner = false;
    {
      std::lock_guard lock(mutex_);
      auto it = entries_.find(key);
      if (it != entries_.end()) {
        future = it->second;
      } else {
        future = promise.get_future().share();
        entries_.emplace(key, future);
        owner = true;
        ++compiles_;
      }
    }
    if (owner) {
      try {
        promise.set_value(compile());
      } catch (...) {
        promise.set_exception(std::current_exception());
        std::lock_guard lock(mutex_);
        entries_.erase(key);
      }
    }
    return future.get();
  }

  // Whether key has been requested: its kernel is compiled, or being compiled.
  bool holds(const std::string& key) const {
    std::lock_guard lock(mutex_);
    return entries_.count(key) != 0;
  }

  // Compiles started so far (tests check that equal keys compile once).
  size_t compiles() const {
    std::lock_guard lock(mutex_);
    return compiles_;
  }

 private:
  mutable std::mutex mutex_;
  std::unordered_map<std::string, std::shared_future<Kernel>> entries_;
  size_t compiles_ = 0;
};

}  // namespace keops::runtime
