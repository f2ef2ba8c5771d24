// cpstn::skeleton_augment: batched temporal resample + per-sample 3x3 map.
// x (N,3,T,V,M), valid_frames (N,) int64, start/step (N,), R (N,3,3) -> (N,3,T_out,V,M);
// reflect: ping-pong playback instead of clamping positions to the valid frames
#pragma once

#include <ATen/core/Tensor.h>

namespace cpstn {

// start, step and R converted to x's dtype and made contiguous (they are tiny).
struct SkeletonAugmentParams {
  at::Tensor start;
  at::Tensor step;
  at::Tensor R;
};

// Validates every argument (messages name it) for both devices and returns the
// per-sample parameters ready for a kernel.
SkeletonAugmentParams check_skeleton_augment_args(const at::Tensor& x, const at::Tensor& valid_frames,
                                                  const at::Tensor& start, const at::Tensor& step,
                                                  const at::Tensor& R, int64_t T_out);

at::Tensor skeleton_augment_cpu(const at::Tensor& x, const at::Tensor& valid_frames, const at::Tensor& start,
                                const at::Tensor& step, const at::Tensor& R, int64_t T_out, bool reflect);

#ifdef CPSTN_WITH_CUDA
at::Tensor skeleton_augment_cuda(const at::Tensor& x, const at::Tensor& valid_frames, const at::Tensor& start,
                                 const at::Tensor& step, const at::Tensor& R, int64_t T_out, bool reflect);
#endif

}  // namespace cpstn
