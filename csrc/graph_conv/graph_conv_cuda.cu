// CUDA forward of cpstn::graph_conv and the CUDA registrations. The work happens in
// the tile kernels (graph_conv_cuda_tiles.cuh); the bias enters as a (Cout,V) table
// summed in the opmath type. The parameters are read in the opmath type (float32 for
// bfloat16/float16 x), as on the CPU: float32 weights are never rounded to 16 bits.
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include "graph_conv/graph_conv.h"
#include "graph_conv/graph_conv_cuda_tiles.cuh"

namespace cpstn {
namespace {

template <typename acc_t>
__global__ void bias_table_kernel(const acc_t* __restrict__ bias, const acc_t* __restrict__ A,
                                  acc_t* __restrict__ table, int64_t K, int64_t Cout, int64_t V) {
  const int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (e < Cout * V) table[e] = bias_through_graph(bias, A, K, Cout, V, e / V, e % V);
}

}  // namespace

at::Tensor graph_conv_cuda(const at::Tensor& x_, const at::Tensor& weight_, const std::optional<at::Tensor>& bias_,
                           const at::Tensor& A_) {
  const GraphConvShape s = check_graph_conv_inputs(x_, weight_, bias_, A_, "graph_conv");
  TORCH_CHECK(x_.is_cuda(), "graph_conv: CUDA kernel called with x on ", x_.device());
  TORCH_CHECK(s.N * s.T < (int64_t(1) << 31), "graph_conv: N*T must be < 2^31 on CUDA");
  const c10::cuda::CUDAGuard guard(x_.device());
  const at::Tensor x = x_.contiguous();
  const bool has_bias = bias_.has_value() && bias_->defined();
  at::Tensor y = at::empty({s.N, s.Cout, s.T, s.V}, x.options());
  if (y.numel() == 0) return y;
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "graph_conv_cuda", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    const at::TensorOptions acc_opt = x.options().dtype(c10::CppTypeToScalarType<acc_t>::value);
    const at::Tensor W = weight_.to(acc_opt).contiguous(), A = A_.to(acc_opt).contiguous();
    at::Tensor table;
    if (has_bias) {
      const at::Tensor bias = bias_->to(acc_opt).contiguous();
      table = at::empty({s.Cout, s.V}, acc_opt);
      const int64_t n = s.Cout * s.V;
      bias_table_kernel<acc_t><<<unsigned((n + kThreads - 1) / kThreads), kThreads, 0,
                                 at::cuda::getCurrentCUDAStream()>>>(
          bias.const_data_ptr<acc_t>(), A.const_data_ptr<acc_t>(), table.mutable_data_ptr<acc_t>(), s.K, s.Cout, s.V);
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    }
    // forward map: M_k(o,i) = W[k,o,i], G_k(v,w) = A[k,v,w]
    launch_tile_conv<scalar_t>(x.const_data_ptr<scalar_t>(), W.const_data_ptr<acc_t>(),
                               ChannelMix{s.Cout * s.Cin, s.Cin, 1}, A.const_data_ptr<acc_t>(), GraphMap{s.V, 1},
                               has_bias ? table.const_data_ptr<acc_t>() : nullptr, y.mutable_data_ptr<scalar_t>(),
                               s.N, TileSizes{s.Cin, s.Cout, s.T, s.V, s.K});
  });
  return y;
}

TORCH_LIBRARY_IMPL(cpstn, CUDA, m) {
  m.impl("graph_conv", &graph_conv_cuda);
  m.impl("graph_conv_backward", &graph_conv_backward_cuda);
}

}  // namespace cpstn
