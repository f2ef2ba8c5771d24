// The bias as it leaves the graph multiply, a (Cout,V) table built once per call
// from the shared per-element math, and the loops that add it to a sample's output.
#pragma once

#include <algorithm>

#include <ATen/ATen.h>

#include "graph_conv/graph_conv_common.h"

namespace cpstn {

template <typename scalar_t>
at::Tensor bias_table(const scalar_t* bias, const scalar_t* A, int64_t K, int64_t Cout, int64_t V,
                      const at::TensorOptions& options) {
  at::Tensor out = at::empty({Cout, V}, options);
  scalar_t* o = out.mutable_data_ptr<scalar_t>();
  for (int64_t c = 0; c < Cout; ++c)
    for (int64_t w = 0; w < V; ++w) o[c * V + w] = bias_through_graph(bias, A, K, Cout, V, c, w);
  return out;
}

// y (Cout,T,V) += table (Cout,V) broadcast over t.
template <typename scalar_t>
void add_bias_rows(scalar_t* y, const scalar_t* table, int64_t Cout, int64_t T, int64_t V) {
  for (int64_t c = 0; c < Cout; ++c)
    for (int64_t t = 0; t < T; ++t) {
      scalar_t* row = y + (c * T + t) * V;
      const scalar_t* b = table + c * V;
      for (int64_t w = 0; w < V; ++w) row[w] += b[w];
    }
}

// y (Cout,T,V) = table (Cout,V) broadcast over t.
template <typename scalar_t>
void fill_bias_rows(scalar_t* y, const scalar_t* table, int64_t Cout, int64_t T, int64_t V) {
  for (int64_t c = 0; c < Cout; ++c)
    for (int64_t t = 0; t < T; ++t) std::copy(table + c * V, table + (c + 1) * V, y + (c * T + t) * V);
}

}  // namespace cpstn
