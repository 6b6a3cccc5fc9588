// A tiny persistent thread pool: NumThreads()-1 workers plus the calling thread. Workers spin briefly
// after a job (jobs come in bursts during a training step) and then sleep on a condition variable.
#include <atomic>
#ifdef __linux__
#include <sched.h>
#endif
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

#include "common.h"

#ifdef MD2PR_HAVE_OPENBLAS
#include <cblas.h>
#endif

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define MD2PR_PAUSE() _mm_pause()
#else
#define MD2PR_PAUSE() std::this_thread::yield()
#endif

namespace md2pr {

namespace {

// Pause iterations a worker spins (roughly 50-200 us) before sleeping after a job.
constexpr int kWorkerSpin = 2000;

class Pool {
 public:
  explicit Pool(int n) { Resize(n); }

  int size() const { return size_; }

  void Resize(int n) {
    if (n < 1) n = 1;
    if (n > 64) n = 64;
    std::lock_guard<std::mutex> busy(busy_);
    StopWorkers();
    size_ = n;
    stop_ = false;
    // The generation is read here, not in the new thread: a job may be posted before it starts running.
    const uint64_t gen = gen_.load();
    for (int i = 1; i < n; i++) workers_.emplace_back([this, i, gen] { Work(i, gen); });
  }

  void Run(int nparts, const std::function<void(int, int)>& fn) {
    if (nparts > size_) nparts = size_;
    if (nparts <= 1 || !busy_.try_lock()) {
      for (int p = 0; p < nparts; p++) fn(p, nparts);
      return;
    }
    {
      std::lock_guard<std::mutex> lk(mu_);
      fn_ = &fn;
      nparts_ = nparts;
      pending_.store(nparts - 1, std::memory_order_relaxed);
      gen_.fetch_add(1, std::memory_order_release);
    }
    cv_.notify_all();
    fn(0, nparts);
    // The parts are even, so the wait is short: spin.
    for (int spin = 0; pending_.load(std::memory_order_acquire) != 0; spin++) {
      if (spin < 4000) {
        MD2PR_PAUSE();
      } else {
        std::this_thread::yield();  // the worker may be descheduled (oversubscribed machine)
      }
    }
    {
      std::lock_guard<std::mutex> lk(mu_);
      fn_ = nullptr;
    }
    busy_.unlock();
  }

 private:
  void Work(int id, uint64_t seen) {
    for (;;) {
      // Spin for a few tens of microseconds before sleeping.
      uint64_t g = seen;
      for (int spin = 0; spin < kWorkerSpin; spin++) {
        g = gen_.load(std::memory_order_acquire);
        if (g != seen || stop_.load(std::memory_order_relaxed)) break;
        MD2PR_PAUSE();
      }
      const std::function<void(int, int)>* fn;
      int np;
      {
        // Snapshot the job under the lock so generation, function and part count are consistent.
        std::unique_lock<std::mutex> lk(mu_);
        if (g == seen) cv_.wait(lk, [&] { return gen_.load(std::memory_order_acquire) != seen || stop_.load(); });
        if (stop_.load()) return;
        seen = gen_.load(std::memory_order_acquire);
        fn = fn_;
        np = nparts_;
      }
      if (fn != nullptr && id < np) {
        (*fn)(id, np);
        pending_.fetch_sub(1, std::memory_order_acq_rel);
      }
    }
  }

  void StopWorkers() {
    {
      std::lock_guard<std::mutex> lk(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
    workers_.clear();
  }

  int size_ = 1;
  std::vector<std::thread> workers_;
  std::mutex busy_;  // held by the thread running a job
  std::mutex mu_;
  std::condition_variable cv_;
  std::atomic<uint64_t> gen_{0};
  std::atomic<int> pending_{0};
  std::atomic<bool> stop_{false};
  const std::function<void(int, int)>* fn_ = nullptr;
  int nparts_ = 0;
};

// MD2PR_NUM_THREADS, else OMP_NUM_THREADS, else the CPUs this process may run on (affinity mask).
int DefaultThreads() {
  for (const char* name : {"MD2PR_NUM_THREADS", "OMP_NUM_THREADS"}) {
    const char* env = std::getenv(name);
    if (env && std::atoi(env) > 0) return std::atoi(env);
  }
#ifdef __linux__
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) return CPU_COUNT(&set);
#endif
  unsigned hc = std::thread::hardware_concurrency();
  return hc == 0 ? 1 : static_cast<int>(hc);
}

// Leaked on purpose: the workers may still be parked when the process exits.
Pool& ThePool() {
  static Pool* pool = new Pool(DefaultThreads());
  return *pool;
}

}  // namespace

int NumThreads() { return ThePool().size(); }

int SetNumThreads(int n) {
  int prev = ThePool().size();
  ThePool().Resize(n);
  BlasSetThreads(ThePool().size());
  return prev;
}

void ParallelParts(int nparts, const std::function<void(int, int)>& fn) { ThePool().Run(nparts, fn); }

void ParallelFor(size_t n, size_t minPerThread, const std::function<void(size_t, size_t)>& fn, size_t align) {
  int parts = NumThreads();
  if (minPerThread > 0 && n / minPerThread < static_cast<size_t>(parts)) parts = static_cast<int>(n / minPerThread);
  if (parts <= 1) {
    if (n > 0) fn(0, n);
    return;
  }
  ParallelParts(parts, [&](int p, int np) {
    size_t chunk = (n + np - 1) / np;
    chunk = (chunk + align - 1) / align * align;
    size_t b = chunk * p, e = b + chunk < n ? b + chunk : n;
    if (b < e) fn(b, e);
  });
}

void BlasSetThreads(int n) {
#ifdef MD2PR_HAVE_OPENBLAS
  openblas_set_num_threads(n);
#else
  (void)n;
#endif
}

int BlasGetThreads() {
#ifdef MD2PR_HAVE_OPENBLAS
  return openblas_get_num_threads();
#else
  return 1;
#endif
}

}  // namespace md2pr
