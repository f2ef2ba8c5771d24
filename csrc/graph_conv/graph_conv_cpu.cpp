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
// bfloat16: every GEMM sums in float32; the stacked intermediate is rounded to
// bfloat16 once (it is the next GEMM's operand), the output once at the end.
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
  using acc_t = at::opmath_type<scalar_t>;
  const int64_t K = s.K, Cin = s.Cin, Cout = s.Cout, V = s.V, T = s.T, TV = s.T * s.V;
  const bool graph_first = Cin < Cout;
  // graph first multiplies [W_1 .. W_K] (Cout, K*Cin) with the stacked XA_k
  const at::Tensor w_op = as_operand(weight, x), A_op = as_operand(A, x);
  const at::Tensor w_mix = graph_first ? w_op.permute({1, 0, 2}).contiguous() : w_op;
  const scalar_t *xp = x.const_data_ptr<scalar_t>(), *Wp = w_mix.const_data_ptr<scalar_t>(),
                 *Ap = A_op.const_data_ptr<scalar_t>();
  // the bias table is summed in the opmath type from the parameters as given
  const at::TensorOptions acc_opt = x.options().dtype(opmath_dtype<scalar_t>());
  const at::Tensor b_out = bias.defined()
      ? bias_table(bias.to(acc_opt).const_data_ptr<acc_t>(), A.to(acc_opt).const_data_ptr<acc_t>(), K, Cout, V,
                   acc_opt)
      : at::Tensor();
  const acc_t* bp = bias.defined() ? b_out.const_data_ptr<acc_t>() : nullptr;
  scalar_t* yp = y.mutable_data_ptr<scalar_t>();
  const int64_t scratch = K * (graph_first ? Cin : Cout) * TV;
  // staging (bfloat16 only): one XA_k or the output (graph first); Z, then the output (channels first)
  const int64_t staging = !sums_wider<scalar_t> ? 0 : graph_first ? std::max(Cin, Cout) * TV : K * Cout * TV;

  for_sample_groups<scalar_t>(s.N, s.N, scratch, staging, x.options(),
                              [&](int64_t, int64_t n0, int64_t n1, scalar_t* buf, acc_t* stage) {
    for (int64_t n = n0; n < n1; ++n) {
      const scalar_t* xn = xp + n * Cin * TV;
      scalar_t* yn = yp + n * Cout * TV;
      acc_t* yacc = staged(yn, stage);
      if (graph_first) {
        for (int64_t k = 0; k < K; ++k) {  // buf (K*Cin, TV): XA_k = X (Cin*T,V) @ A_k
          acc_t* xa = staged(buf + k * Cin * TV, stage);
          gemm<scalar_t>(false, false, Cin * T, V, V, xn, V, Ap + k * V * V, V, 0, xa, V);
          store_staged(buf + k * Cin * TV, xa, Cin * TV);
        }
        gemm<scalar_t>(false, false, Cout, TV, K * Cin, Wp, K * Cin, buf, TV, 0, yacc, TV);
        if (bp) add_bias_rows(yacc, bp, Cout, T, V);
      } else {
        // buf (K*Cout, TV): Z = W (K*Cout, Cin) @ X (Cin, TV)
        acc_t* z = staged(buf, stage);
        gemm<scalar_t>(false, false, K * Cout, TV, Cin, Wp, Cin, xn, TV, 0, z, TV);
        store_staged(buf, z, K * Cout * TV);
        if (bp) fill_bias_rows(yacc, bp, Cout, T, V);
        for (int64_t k = 0; k < K; ++k)  // Y (Cout*T, V) += Z_k (Cout*T, V) @ A_k
          gemm<scalar_t>(false, false, Cout * T, V, V, buf + k * Cout * TV, V, Ap + k * V * V, V,
                         (bp || k > 0) ? 1 : 0, yacc, V);
      }
      store_staged(yn, yacc, Cout * TV);
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
