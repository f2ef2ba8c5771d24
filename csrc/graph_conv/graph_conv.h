// cpstn::graph_conv — fused ST-GCN spatial unit, shared declarations.
//
//   y[n,c,t,w] = sum_k sum_v (sum_i weight[k,c,i] x[n,i,t,v] + bias[k,c]) * A[k,v,w]
//
// x (N,Cin,T,V), weight (K,Cout,Cin), bias (K,Cout) or None, A (K,V,V) -> y (N,Cout,T,V).
// The CPU and CUDA kernels share the input checks (graph_conv_checks.cpp) and the
// per-element math (graph_conv_common.h).
#pragma once

#include <array>
#include <optional>
#include <tuple>

#include <ATen/ATen.h>

namespace cpstn {

struct GraphConvShape {
  int64_t N, Cin, Cout, T, V, K;
};

// Checks rank, K/V/channel agreement, dtype and device of every argument and
// returns the sizes. `op` prefixes each message ("graph_conv: weight ...").
GraphConvShape check_graph_conv_inputs(const at::Tensor& x, const at::Tensor& weight,
                                       const std::optional<at::Tensor>& bias, const at::Tensor& A,
                                       const char* op);

// Same, plus grad_out (N,Cout,T,V) on the same device with the same dtype.
GraphConvShape check_graph_conv_backward_inputs(const at::Tensor& grad_out, const at::Tensor& x,
                                                const at::Tensor& weight,
                                                const std::optional<at::Tensor>& bias,
                                                const at::Tensor& A);

// Which backward scheme needs fewer multiply-adds per (k, t, v) for the requested
// gradients: through x (H = W^T grad_out, XA = x A_k) or through grad_out
// (GA = grad_out A_k^T, Z = W x); see graph_conv_backward_cpu.cpp. The x side wins
// unless grad_out is thinner than x or the graph multiplies dominate (few channels).
inline bool backward_through_x(int64_t Cin, int64_t Cout, int64_t V, bool need_x, bool need_w, bool need_A) {
  const int64_t x_side = ((need_x || need_A) ? Cin * Cout : 0) + (need_x ? Cin * V : 0) + (need_A ? Cin * V : 0) +
                         (need_w ? Cin * V + Cout * Cin : 0);
  const int64_t g_side = ((need_x || need_w) ? Cout * V : 0) + (need_x ? Cin * Cout : 0) +
                         (need_w ? Cin * Cout : 0) + (need_A ? Cin * Cout + Cout * V : 0);
  return x_side <= g_side;
}

// What graph_conv_backward returns for an output that output_mask does not ask for.
inline at::Tensor not_requested(const at::Tensor& like) { return at::empty({0}, like.options()); }

using GraphConvGrads = std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor>;

at::Tensor graph_conv_cpu(const at::Tensor& x, const at::Tensor& weight,
                          const std::optional<at::Tensor>& bias, const at::Tensor& A);
GraphConvGrads graph_conv_backward_cpu(const at::Tensor& grad_out, const at::Tensor& x,
                                       const at::Tensor& weight, const std::optional<at::Tensor>& bias,
                                       const at::Tensor& A, std::array<bool, 4> output_mask);

// CUDA kernels (compiled only in CUDA builds).
at::Tensor graph_conv_cuda(const at::Tensor& x, const at::Tensor& weight,
                           const std::optional<at::Tensor>& bias, const at::Tensor& A);
GraphConvGrads graph_conv_backward_cuda(const at::Tensor& grad_out, const at::Tensor& x,
                                        const at::Tensor& weight, const std::optional<at::Tensor>& bias,
                                        const at::Tensor& A, std::array<bool, 4> output_mask);

}  // namespace cpstn
