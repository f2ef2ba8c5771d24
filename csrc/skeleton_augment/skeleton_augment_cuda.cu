// CUDA kernel of cpstn::skeleton_augment. One thread per (sample, output frame,
// joint*body): consecutive threads handle consecutive joints/bodies, so reads of
// the two source frames and writes of the output row are coalesced. The math is
// the same as the CPU loop (skeleton_augment_common.h).
#include <ATen/ATen.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include "skeleton_augment/skeleton_augment.h"
#include "skeleton_augment/skeleton_augment_common.h"

namespace cpstn {

namespace {

struct XStrides {
  int64_t n, c, t, v, m;
};

template <typename scalar_t>
__global__ void skeleton_augment_kernel(const scalar_t* __restrict__ x, XStrides xs,
                                        const int64_t* __restrict__ valid_frames,
                                        const scalar_t* __restrict__ start, const scalar_t* __restrict__ step,
                                        const scalar_t* __restrict__ R, scalar_t* __restrict__ out, int64_t N,
                                        int64_t T_out, int64_t M, int64_t VM, bool reflect) {
  const int64_t total = N * T_out * VM;
  const int64_t out_cstride = T_out * VM;
  for (int64_t idx = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; idx < total;
       idx += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t k = idx % VM, nj = idx / VM;
    const int64_t n = nj / T_out, j = nj % T_out;
    scalar_t* o = out + n * 3 * out_cstride + j * VM + k;
    const int64_t valid = valid_frames[n];
    if (valid == 0) {
      for (int c = 0; c < 3; ++c) o[c * out_cstride] = scalar_t(0);
      continue;
    }
    const auto s = sample_frame<scalar_t>(start[n], step[n], j, valid, reflect);
    const int64_t off = n * xs.n + (k / M) * xs.v + (k % M) * xs.m;
    augment_point(x + off + s.i0 * xs.t, x + off + s.i1 * xs.t, xs.c, s.frac, R + 9 * n, o, out_cstride);
  }
}

}  // namespace

at::Tensor skeleton_augment_cuda(const at::Tensor& x, const at::Tensor& valid_frames, const at::Tensor& start,
                                 const at::Tensor& step, const at::Tensor& R, int64_t T_out, bool reflect) {
  const c10::cuda::CUDAGuard guard(x.device());
  const auto params = check_skeleton_augment_args(x, valid_frames, start, step, R, T_out);
  const int64_t N = x.size(0), V = x.size(3), M = x.size(4);
  auto out = at::empty({N, 3, T_out, V, M}, x.options().memory_format(at::MemoryFormat::Contiguous));
  if (out.numel() == 0) return out;
  const auto vf = valid_frames.contiguous();
  const XStrides xs{x.stride(0), x.stride(1), x.stride(2), x.stride(3), x.stride(4)};
  const int64_t total = N * T_out * V * M;
  const int threads = 256;
  const int64_t blocks = std::min<int64_t>((total + threads - 1) / threads, int64_t(1) << 20);
  auto stream = at::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "skeleton_augment_cuda", [&] {
    skeleton_augment_kernel<scalar_t><<<static_cast<unsigned>(blocks), threads, 0, stream>>>(
        x.data_ptr<scalar_t>(), xs, vf.data_ptr<int64_t>(), params.start.data_ptr<scalar_t>(),
        params.step.data_ptr<scalar_t>(), params.R.data_ptr<scalar_t>(), out.data_ptr<scalar_t>(), N, T_out, M,
        V * M, reflect);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return out;
}

TORCH_LIBRARY_IMPL(cpstn, CUDA, m) { m.impl("skeleton_augment", &skeleton_augment_cuda); }

}  // namespace cpstn
