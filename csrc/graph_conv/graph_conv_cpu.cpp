// CPU forward of cpstn::graph_conv, one sample at a time on each thread; the
// per-sample intermediate lives in the thread's scratch buffer (L2-sized for the
// ST-GCN shapes), never as a (N,K*Cout,T,V) tensor.
//
// Two contraction orders, picked per shape (FLOPs per sample, TV = T*V):
//   graph first    (Cin < Cout):  XA_k = X A_k            K*Cin*TV*V
//                                 Y    = [W_1..W_K] XA     K*Cin*TV*Cout
//   channels first (Cin >= Cout): Z    = [W_1;..;W_K] X    K*Cout*TV*Cin
//                                 Y    = sum_k Z_k A_k     K*Cout*TV*V
// The bias passes through the graph as a (Cout,V) table (graph_conv_common.h).
// bfloat16: each sample's x is widened to float32, the GEMMs and the intermediate are
// float32, and the output is rounded to bfloat16 once (graph_conv_cpu_opmath.h).
#include <torch/library.h>

#include "graph_conv/graph_conv.h"
#include "graph_conv/graph_conv_blas.h"
#include "graph_conv/graph_conv_common.h"
#include "graph_conv/graph_conv_cpu_opmath.h"
#include "graph_conv/graph_conv_cpu_parallel.h"
#include "graph_conv/graph_conv_cpu_tables.h"

namespace cpstn {
namespace {

template <typename scalar_t>
void forward_cpu(const GraphConvShape& s, const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                 const at::Tensor& A, at::Tensor& y) {
  using calc_t = at::opmath_type<scalar_t>;
  const int64_t K = s.K, Cin = s.Cin, Cout = s.Cout, V = s.V, T = s.T, TV = s.T * s.V;
  const bool graph_first = Cin < Cout;
  // graph first multiplies [W_1 .. W_K] (Cout, K*Cin) with the stacked XA_k
  const at::Tensor w_op = as_operand<scalar_t>(weight), A_op = as_operand<scalar_t>(A);
  const at::Tensor w_mix = graph_first ? w_op.permute({1, 0, 2}).contiguous() : w_op;
  const calc_t *Wp = w_mix.const_data_ptr<calc_t>(), *Ap = A_op.const_data_ptr<calc_t>();
  const at::TensorOptions calc_opt = x.options().dtype(opmath_dtype<scalar_t>());
  const at::Tensor b_op = bias.defined() ? as_operand<scalar_t>(bias) : at::Tensor();
  const at::Tensor b_out =
      bias.defined() ? bias_table(b_op.const_data_ptr<calc_t>(), Ap, K, Cout, V, calc_opt) : at::Tensor();
  const calc_t* bp = bias.defined() ? b_out.const_data_ptr<calc_t>() : nullptr;
  const scalar_t* xp = x.const_data_ptr<scalar_t>();
  scalar_t* yp = y.mutable_data_ptr<scalar_t>();
  // per thread: the intermediate, then (bfloat16 only) the widened x and the float32 output
  const int64_t tile = K * (graph_first ? Cin : Cout) * TV;
  const int64_t scratch = tile + (widened<scalar_t> ? (Cin + Cout) * TV : 0);

  for_sample_groups<calc_t>(s.N, s.N, scratch, calc_opt, [&](int64_t, int64_t n0, int64_t n1, calc_t* buf) {
    calc_t *x_wide = buf + tile, *y_wide = x_wide + Cin * TV;
    for (int64_t n = n0; n < n1; ++n) {
      const calc_t* xn = widen(xp + n * Cin * TV, Cin * TV, x_wide);
      calc_t* yn = result_tile(yp + n * Cout * TV, y_wide);
      if (graph_first) {
        for (int64_t k = 0; k < K; ++k)  // buf (K*Cin, TV): XA_k = X (Cin*T,V) @ A_k
          gemm<calc_t>(false, false, Cin * T, V, V, xn, V, Ap + k * V * V, V, 0, buf + k * Cin * TV, V);
        gemm<calc_t>(false, false, Cout, TV, K * Cin, Wp, K * Cin, buf, TV, 0, yn, TV);
        if (bp) add_bias_rows(yn, bp, Cout, T, V);
      } else {
        // buf (K*Cout, TV): Z = W (K*Cout, Cin) @ X (Cin, TV)
        gemm<calc_t>(false, false, K * Cout, TV, Cin, Wp, Cin, xn, TV, 0, buf, TV);
        if (bp) fill_bias_rows(yn, bp, Cout, T, V);
        for (int64_t k = 0; k < K; ++k)  // Y (Cout*T, V) += Z_k (Cout*T, V) @ A_k
          gemm<calc_t>(false, false, Cout * T, V, V, buf + k * Cout * TV, V, Ap + k * V * V, V,
                       (bp || k > 0) ? 1 : 0, yn, V);
      }
      narrow(yn, Cout * TV, yp + n * Cout * TV);
    }
  });
}

}  // namespace

at::Tensor graph_conv_cpu(const at::Tensor& x_, const at::Tensor& weight_, const std::optional<at::Tensor>& bias_,
                          const at::Tensor& A_) {
  const GraphConvShape s = check_graph_conv_inputs(x_, weight_, bias_, A_, "graph_conv");
  TORCH_CHECK(x_.device().is_cpu(), "graph_conv: CPU kernel called with x on ", x_.device());
  TORCH_CHECK(x_.scalar_type() != at::kHalf, "graph_conv: x is float16, which the CPU kernel does not support "
              "(float32, float64 or bfloat16)");
  const at::Tensor x = x_.contiguous(), weight = weight_.contiguous(), A = A_.contiguous();
  const at::Tensor bias = bias_.has_value() && bias_->defined() ? bias_->contiguous() : at::Tensor();
  at::Tensor y = at::empty({s.N, s.Cout, s.T, s.V}, x.options());
  if (y.numel() == 0) return y;
  AT_DISPATCH_FLOATING_TYPES_AND(at::kBFloat16, x.scalar_type(), "graph_conv_cpu",
                                 [&] { forward_cpu<scalar_t>(s, x, weight, bias, A, y); });
  return y;
}

TORCH_LIBRARY_IMPL(cpstn, CPU, m) {
  m.impl("graph_conv", &graph_conv_cpu);
  m.impl("graph_conv_backward", &graph_conv_backward_cpu);
}

}  // namespace cpstn
