// Sample-parallel loop of the graph_conv CPU kernels: contiguous ranges of
// samples, dynamically scheduled over torch's intra-op threads (the cores may be
// shared, so a fixed split would wait on the slowest one), one scratch buffer
// per thread sized for one sample's tiles so they stay in cache. Buffers come
// from the torch allocator on the calling thread, so memory profiling sees them.
#pragma once

#include <algorithm>
#include <exception>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace cpstn {

// Calls body(group, first_sample, end_sample, scratch) for group = 0..groups-1, where the
// groups split [0, N) into contiguous ranges; scratch holds scratch_elems elements of
// the thread running the group.
// Which groups share a thread varies, so anything a group accumulates must go to
// storage owned by that group (results then do not depend on the schedule).
template <typename scalar_t, typename Body>
void for_sample_groups(int64_t N, int64_t groups, int64_t scratch_elems, const at::TensorOptions& options,
                       const Body& body) {
  std::exception_ptr error;
  auto run = [&](int64_t g, scalar_t* scratch) {
    try {
      body(g, g * N / groups, (g + 1) * N / groups, scratch);
    } catch (...) {
#ifdef _OPENMP
#pragma omp critical(cpstn_graph_conv_error)
#endif
      if (!error) error = std::current_exception();
    }
  };
#ifdef _OPENMP  // nested inside another parallel region: run serially
  const int threads =
      omp_in_parallel() ? 1 : static_cast<int>(std::clamp<int64_t>(at::get_num_threads(), 1, std::max<int64_t>(groups, 1)));
#else
  const int threads = 1;
#endif
  const int64_t per_thread = std::max<int64_t>(scratch_elems, 1);
  at::Tensor scratch = at::empty({threads, per_thread}, options);
  scalar_t* base = scratch.mutable_data_ptr<scalar_t>();
#ifdef _OPENMP
#pragma omp parallel num_threads(threads) if (threads > 1)
  {
    scalar_t* mine = base + omp_get_thread_num() * per_thread;
#pragma omp for schedule(dynamic, 1)
    for (int64_t g = 0; g < groups; ++g) run(g, mine);
  }
#else
  for (int64_t g = 0; g < groups; ++g) run(g, base);
#endif
  if (error) std::rethrow_exception(error);
}

// Number of groups for a loop that accumulates per group: a few per thread for balance,
// few enough that the per-group accumulators stay small.
inline int64_t reduction_groups(int64_t N) {
  return std::max<int64_t>(1, std::min<int64_t>(N, 4 * at::get_num_threads()));
}

}  // namespace cpstn
