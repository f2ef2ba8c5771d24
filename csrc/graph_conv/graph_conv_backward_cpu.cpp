// CPU backward of cpstn::graph_conv: grad_x, grad_weight, grad_bias, grad_A in one
// pass over the samples, computing only what output_mask asks for. Per sample
// (G = grad_out, X = x, TV = T*V) one of two schemes, whichever needs fewer
// multiply-adds for the shape and mask (backward_through_x); each intermediate feeds two gradients:
//   x side:  H  = W^T G          (K*Cin, TV)    -> grad_x = sum_k H_k A_k^T,  grad_A_k += X^T H_k
//            XA = X A_k          (K*Cin, TV)    -> grad_W += G XA^T
//   g side:  GA = G A_k^T        (K*Cout, TV)   -> grad_x = W^T GA,  grad_W += GA X^T
//            Z  = W X            (K*Cout, TV)   -> grad_A_k += Z_k^T G
// The bias terms come from gsum = sum_{n,t} G, a (Cout,V) table (graph_conv_common.h).
// bfloat16: each sample's G and X are widened to float32, every GEMM, intermediate and
// sum over samples is float32, grad_x is rounded to bfloat16 once per sample, and each
// parameter gradient is stored in that parameter's own dtype (graph_conv_cpu_opmath.h).
#include "graph_conv/graph_conv.h"
#include "graph_conv/graph_conv_blas.h"
#include "graph_conv/graph_conv_common.h"
#include "graph_conv/graph_conv_cpu_opmath.h"
#include "graph_conv/graph_conv_cpu_parallel.h"
#include "graph_conv/graph_conv_cpu_tables.h"

namespace cpstn {
namespace {

struct Needs {
  bool x, weight, bias, A;
};

template <typename scalar_t>
void backward_cpu(const GraphConvShape& s, const at::Tensor& grad_out, const at::Tensor& x, const at::Tensor& weight,
                  const at::Tensor& bias, const at::Tensor& A, Needs need, at::Tensor& grad_x,
                  at::Tensor& grad_weight, at::Tensor& grad_bias, at::Tensor& grad_A) {
  using calc_t = at::opmath_type<scalar_t>;
  const int64_t N = s.N, K = s.K, Cin = s.Cin, Cout = s.Cout, V = s.V, T = s.T, TV = s.T * s.V;
  const bool x_side = backward_through_x(Cin, Cout, V, need.x, need.weight, need.A);
  const bool need_gsum = need.bias || (need.A && bias.defined());
  const at::Tensor w_op = as_operand<scalar_t>(weight), A_op = as_operand<scalar_t>(A);
  const at::Tensor At = A_op.transpose(1, 2).contiguous();
  // x side: [W_1^T; ..; W_K^T] (K*Cin, Cout) maps G to all H_k in one product
  const at::Tensor Wt = x_side ? w_op.transpose(1, 2).contiguous() : w_op;
  const calc_t *W = w_op.const_data_ptr<calc_t>(), *wt = Wt.const_data_ptr<calc_t>(),
               *Ap = A_op.const_data_ptr<calc_t>(), *at_ = At.const_data_ptr<calc_t>();
  const scalar_t *g = grad_out.const_data_ptr<scalar_t>(), *x_ = x.const_data_ptr<scalar_t>();
  scalar_t* gx = need.x ? grad_x.mutable_data_ptr<scalar_t>() : nullptr;

  // Per-group sums over samples in the compute type, added up in group order at the end
  // (deterministic). grad_W is summed as (Cout, K*Cin) on the x side, as (K*Cout, Cin) on the g side.
  const at::TensorOptions calc_opt = x.options().dtype(opmath_dtype<scalar_t>());
  const int64_t groups = reduction_groups(N), nW = K * Cout * Cin, nA = K * V * V, nS = Cout * V;
  at::Tensor sumW = at::zeros({need.weight ? groups : 0, nW}, calc_opt);
  at::Tensor sumA = at::zeros({need.A ? groups : 0, nA}, calc_opt);
  at::Tensor sumG = at::zeros({need_gsum ? groups : 0, nS}, calc_opt);
  // per thread: x side H then XA, each (K*Cin, TV); g side GA then Z, each (K*Cout, TV);
  // then (bfloat16 only) the widened G and X and the float32 grad_x
  const int64_t tile = K * (x_side ? Cin : Cout) * TV;
  const int64_t scratch = 2 * tile + (widened<scalar_t> ? (Cout + 2 * Cin) * TV : 0);

  for_sample_groups<calc_t>(N, groups, scratch, calc_opt, [&](int64_t grp, int64_t n0, int64_t n1, calc_t* buf) {
    calc_t *t1 = buf, *t2 = buf + tile;
    calc_t *g_wide = buf + 2 * tile, *x_wide = g_wide + Cout * TV, *gx_wide = x_wide + Cin * TV;
    calc_t* accW = need.weight ? sumW.mutable_data_ptr<calc_t>() + grp * nW : nullptr;
    calc_t* accA = need.A ? sumA.mutable_data_ptr<calc_t>() + grp * nA : nullptr;
    calc_t* accG = need_gsum ? sumG.mutable_data_ptr<calc_t>() + grp * nS : nullptr;
    // G is read by every gradient; X only by grad_W and grad_A
    const bool read_x = need.weight || need.A;
    for (int64_t n = n0; n < n1; ++n) {
      const calc_t* gn = widen(g + n * Cout * TV, Cout * TV, g_wide);
      const calc_t* xn = read_x ? widen(x_ + n * Cin * TV, Cin * TV, x_wide) : nullptr;
      calc_t* gxn = need.x ? result_tile(gx + n * Cin * TV, gx_wide) : nullptr;
      if (x_side) {
        if (need.x || need.A)  // H (K*Cin, TV) = [W_1^T; ..; W_K^T] (K*Cin, Cout) @ G (Cout, TV)
          gemm<calc_t>(false, false, K * Cin, TV, Cout, wt, Cout, gn, TV, 0, t1, TV);
        for (int64_t k = 0; need.x && k < K; ++k)  // grad_x (Cin*T, V) += H_k (Cin*T, V) @ A_k^T
          gemm<calc_t>(false, false, Cin * T, V, V, t1 + k * Cin * TV, V, at_ + k * V * V, V, k > 0 ? 1 : 0, gxn, V);
        for (int64_t k = 0; need.A && k < K; ++k)  // grad_A_k (V,V) += X^T (V, Cin*T) @ H_k (Cin*T, V)
          gemm<calc_t>(true, false, V, V, Cin * T, xn, V, t1 + k * Cin * TV, V, 1, accA + k * V * V, V);
        if (need.weight) {
          for (int64_t k = 0; k < K; ++k)  // XA_k (Cin*T, V) = X @ A_k
            gemm<calc_t>(false, false, Cin * T, V, V, xn, V, Ap + k * V * V, V, 0, t2 + k * Cin * TV, V);
          // grad_W as (Cout, K*Cin) += G (Cout, TV) @ XA^T (TV, K*Cin)
          gemm<calc_t>(false, true, Cout, K * Cin, TV, gn, TV, t2, TV, 1, accW, K * Cin);
        }
      } else {
        for (int64_t k = 0; (need.x || need.weight) && k < K; ++k)  // GA_k (Cout*T, V) = G @ A_k^T
          gemm<calc_t>(false, false, Cout * T, V, V, gn, V, at_ + k * V * V, V, 0, t1 + k * Cout * TV, V);
        if (need.x)  // grad_x (Cin, TV) = W^T (Cin, K*Cout) @ GA (K*Cout, TV)
          gemm<calc_t>(true, false, Cin, TV, K * Cout, W, Cin, t1, TV, 0, gxn, TV);
        if (need.weight)  // grad_W (K*Cout, Cin) += GA (K*Cout, TV) @ X^T (TV, Cin)
          gemm<calc_t>(false, true, K * Cout, Cin, TV, t1, TV, xn, TV, 1, accW, Cin);
        if (need.A) {
          // Z (K*Cout, TV) = W (K*Cout, Cin) @ X (Cin, TV); grad_A_k += Z_k^T (V, Cout*T) @ G (Cout*T, V)
          gemm<calc_t>(false, false, K * Cout, TV, Cin, W, Cin, xn, TV, 0, t2, TV);
          for (int64_t k = 0; k < K; ++k)
            gemm<calc_t>(true, false, V, V, Cout * T, t2 + k * Cout * TV, V, gn, V, 1, accA + k * V * V, V);
        }
      }
      if (need.x) narrow(gxn, Cin * TV, gx + n * Cin * TV);
      for (int64_t c = 0; need_gsum && c < Cout; ++c)  // gsum (Cout,V) += sum_t G[c,t,:]
        for (int64_t t = 0; t < T; ++t)
          for (int64_t w = 0; w < V; ++w) accG[c * V + w] += gn[(c * T + t) * V + w];
    }
  });

  // Sum the groups in order; the tables are small. Each gradient is finished in the
  // compute type, then stored in its parameter's dtype.
  const at::Tensor gsum = need_gsum ? sumG.sum(0).view({Cout, V}) : at::Tensor();
  if (need.weight) {  // x side summed (Cout, K, Cin); g side already (K, Cout, Cin)
    at::Tensor w = sumW.sum(0);
    grad_weight.copy_(x_side ? w.view({Cout, K, Cin}).permute({1, 0, 2}) : w.view({K, Cout, Cin}));
  }
  const calc_t* gs = need_gsum ? gsum.const_data_ptr<calc_t>() : nullptr;
  if (need.A) {
    at::Tensor gA_sum = sumA.sum(0).view({K, V, V});
    calc_t* gA = gA_sum.mutable_data_ptr<calc_t>();
    const at::Tensor b_op = bias.defined() ? as_operand<scalar_t>(bias) : at::Tensor();
    const calc_t* b = bias.defined() ? b_op.const_data_ptr<calc_t>() : nullptr;
    for (int64_t k = 0; b && k < K; ++k)
      for (int64_t w = 0; w < V; ++w) {
        const calc_t share = grad_adjacency_bias_share(b, gs, Cout, V, k, w);
        for (int64_t v = 0; v < V; ++v) gA[(k * V + v) * V + w] += share;
      }
    grad_A.copy_(gA_sum);
  }
  if (need.bias) {
    at::Tensor gb_sum = at::empty({K, Cout}, calc_opt);
    calc_t* gb = gb_sum.mutable_data_ptr<calc_t>();
    for (int64_t k = 0; k < K; ++k)
      for (int64_t c = 0; c < Cout; ++c) gb[k * Cout + c] = grad_bias_element(gs, Ap, V, k, c);
    grad_bias.copy_(gb_sum);
  }
}

}  // namespace

GraphConvGrads graph_conv_backward_cpu(const at::Tensor& grad_out_, const at::Tensor& x_, const at::Tensor& weight_,
                                       const std::optional<at::Tensor>& bias_, const at::Tensor& A_,
                                       std::array<bool, 4> output_mask) {
  const GraphConvShape s = check_graph_conv_backward_inputs(grad_out_, x_, weight_, bias_, A_);
  TORCH_CHECK(x_.device().is_cpu(), "graph_conv_backward: CPU kernel called with x on ", x_.device());
  TORCH_CHECK(x_.scalar_type() != at::kHalf, "graph_conv_backward: x is float16, which the CPU kernel does not "
              "support (float32, float64 or bfloat16)");
  const bool has_bias = bias_.has_value() && bias_->defined();
  const Needs need{output_mask[0], output_mask[1], output_mask[2] && has_bias, output_mask[3]};
  const at::Tensor g = grad_out_.contiguous(), x = x_.contiguous(), weight = weight_.contiguous(),
                   A = A_.contiguous(), bias = has_bias ? bias_->contiguous() : at::Tensor();
  at::Tensor gx = need.x ? at::empty_like(x) : not_requested(x);
  at::Tensor gW = need.weight ? at::empty_like(weight) : not_requested(x);
  at::Tensor gb = need.bias ? at::empty_like(bias) : not_requested(x);
  at::Tensor gA = need.A ? at::empty_like(A) : not_requested(x);
  AT_DISPATCH_FLOATING_TYPES_AND(at::kBFloat16, x.scalar_type(), "graph_conv_backward_cpu",
                                 [&] { backward_cpu<scalar_t>(s, g, x, weight, bias, A, need, gx, gW, gb, gA); });
  return {gx, gW, gb, gA};
}

}  // namespace cpstn
