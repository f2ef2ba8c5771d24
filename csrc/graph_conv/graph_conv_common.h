// Per-element math of cpstn::graph_conv, written once for the CPU and CUDA kernels.
//
// Layouts (contiguous): x (N,Cin,T,V), weight (K,Cout,Cin), bias (K,Cout), A (K,V,V),
// y and grad_out (N,Cout,T,V); gsum (Cout,V) = sum over n and t of grad_out.
// The bias enters the output only through the column sums of A, so its forward
// term and both of its gradients are small (Cout,V) / (K,Cout) / (K,V) tables.
#pragma once

#include <c10/macros/Macros.h>

#include <cstdint>

namespace cpstn {

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
template <typename T>
C10_HOST_DEVICE inline T aggregate_joints(const T* row, const T* a, int64_t V, int64_t sv,
                                          int64_t sw, int64_t w) {
  T s = T(0);
  for (int64_t v = 0; v < V; ++v) s += row[v] * a[v * sv + w * sw];
  return s;
}

// Channel mix: sum_i m[i * sm] * col[i * sc] (a weight row or column against a feature column).
template <typename T>
C10_HOST_DEVICE inline T mix_channels(const T* m, int64_t sm, const T* col, int64_t sc, int64_t C) {
  T s = T(0);
  for (int64_t i = 0; i < C; ++i) s += m[i * sm] * col[i * sc];
  return s;
}

}  // namespace cpstn
