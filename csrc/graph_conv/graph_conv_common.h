// Per-element math of cpstn::graph_conv, written once for the CPU and CUDA kernels.
//
// Layouts (contiguous): x (N,Cin,T,V), weight (K,Cout,Cin), bias (K,Cout), A (K,V,V),
// y and grad_out (N,Cout,T,V); gsum (Cout,V) = sum over n and t of grad_out.
// The bias enters the output only through the column sums of A, so its forward
// term and both of its gradients are small (Cout,V) / (K,Cout) / (K,V) tables.
// The two-operand sums take operands of two types (bfloat16/half storage beside a
// float accumulator tile) and add up in the wider opmath type, never in 16 bits.
#pragma once

#include <ATen/OpMathType.h>
#include <c10/macros/Macros.h>

#include <cstdint>
#include <type_traits>

namespace cpstn {

// The type a product of a T1 and a T2 is summed in: float for bfloat16/half/float, double for double.
template <typename T1, typename T2>
using sum_type = std::common_type_t<at::opmath_type<T1>, at::opmath_type<T2>>;

// sum_v A[k,v,w]: how much of a joint-constant feature reaches joint w in partition k.
template <typename T>
C10_HOST_DEVICE inline T adjacency_colsum(const T* A, int64_t V, int64_t k, int64_t w) {
  T s = T(0);
  for (int64_t v = 0; v < V; ++v) s += A[(k * V + v) * V + w];
  return s;
}

// The bias after the graph multiply, added to y[:, c, :, w]: sum_k bias[k,c] colsum_k(A)[w].
template <typename T>
C10_HOST_DEVICE inline T bias_through_graph(const T* bias, const T* A, int64_t K, int64_t Cout,
                                            int64_t V, int64_t c, int64_t w) {
  T s = T(0);
  for (int64_t k = 0; k < K; ++k) s += bias[k * Cout + c] * adjacency_colsum(A, V, k, w);
  return s;
}

// grad_bias[k,c] = sum_w gsum[c,w] colsum_k(A)[w].
template <typename T>
C10_HOST_DEVICE inline T grad_bias_element(const T* gsum, const T* A, int64_t V, int64_t k, int64_t c) {
  T s = T(0);
  for (int64_t w = 0; w < V; ++w) s += gsum[c * V + w] * adjacency_colsum(A, V, k, w);
  return s;
}

// The bias share of grad_A[k,v,w], the same for every v: sum_c bias[k,c] gsum[c,w].
template <typename T>
C10_HOST_DEVICE inline T grad_adjacency_bias_share(const T* bias, const T* gsum, int64_t Cout,
                                                   int64_t V, int64_t k, int64_t w) {
  T s = T(0);
  for (int64_t c = 0; c < Cout; ++c) s += bias[k * Cout + c] * gsum[c * V + w];
  return s;
}

// Graph aggregation of one row of joints: sum_v row[v] * a[v * sv + w * sw], where `a`
// is one (V,V) partition; (sv,sw) = (V,1) applies A (forward), (1,V) applies A^T (grad_x).
template <typename R, typename G>
C10_HOST_DEVICE inline sum_type<R, G> aggregate_joints(const R* row, const G* a, int64_t V, int64_t sv,
                                                       int64_t sw, int64_t w) {
  using acc_t = sum_type<R, G>;
  acc_t s = acc_t(0);
  for (int64_t v = 0; v < V; ++v) s += acc_t(row[v]) * acc_t(a[v * sv + w * sw]);
  return s;
}

// Channel mix: sum_i m[i * sm] * col[i * sc] (a weight row or column against a feature column).
template <typename M, typename X>
C10_HOST_DEVICE inline sum_type<M, X> mix_channels(const M* m, int64_t sm, const X* col, int64_t sc, int64_t C) {
  using acc_t = sum_type<M, X>;
  acc_t s = acc_t(0);
  for (int64_t i = 0; i < C; ++i) s += acc_t(m[i * sm]) * acc_t(col[i * sc]);
  return s;
}

}  // namespace cpstn
