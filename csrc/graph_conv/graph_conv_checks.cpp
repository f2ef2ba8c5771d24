// Input checks of graph_conv and graph_conv_backward, shared by the CPU and CUDA
// kernels: every message names the argument, so a wrong call fails with a clear
// RuntimeError instead of reading out of bounds.
#include "graph_conv/graph_conv.h"

namespace cpstn {
namespace {

bool supported_dtype(const at::Tensor& t) {
  const at::ScalarType d = t.scalar_type();
  return d == at::kFloat || d == at::kDouble || d == at::kBFloat16 || d == at::kHalf;
}

bool low_precision(at::ScalarType d) { return d == at::kBFloat16 || d == at::kHalf; }

void check_same_device(const at::Tensor& t, const char* name, const at::Tensor& x, const char* op) {
  TORCH_CHECK(t.device() == x.device(), op, ": ", name, " is on ", t.device(), " but x is on ",
              x.device(), "; all tensors must be on one device");
}

// An activation (grad_out) has x's dtype exactly.
void check_like_x(const at::Tensor& t, const char* name, const at::Tensor& x, const char* op) {
  check_same_device(t, name, x, op);
  TORCH_CHECK(t.scalar_type() == x.scalar_type(), op, ": ", name, " has dtype ", t.scalar_type(),
              " but x has dtype ", x.scalar_type(), "; it must have x's dtype");
}

// A parameter (weight, bias, A) has x's dtype, or stays float32 beside a bfloat16/float16 x
// (mixed precision: the kernels read it in x's dtype and return its gradient in float32).
void check_parameter(const at::Tensor& t, const char* name, const at::Tensor& x, const char* op) {
  check_same_device(t, name, x, op);
  const bool ok = t.scalar_type() == x.scalar_type() ||
                  (t.scalar_type() == at::kFloat && low_precision(x.scalar_type()));
  TORCH_CHECK(ok, op, ": ", name, " has dtype ", t.scalar_type(), " but x has dtype ", x.scalar_type(),
              "; it must have x's dtype, or float32 when x is bfloat16 or float16");
}

}  // namespace

GraphConvShape check_graph_conv_inputs(const at::Tensor& x, const at::Tensor& weight,
                                       const std::optional<at::Tensor>& bias, const at::Tensor& A,
                                       const char* op) {
  TORCH_CHECK(x.dim() == 4, op, ": x must be 4-D (N,Cin,T,V), got shape ", x.sizes());
  TORCH_CHECK(weight.dim() == 3, op, ": weight must be 3-D (K,Cout,Cin), got shape ", weight.sizes());
  TORCH_CHECK(A.dim() == 3, op, ": A must be 3-D (K,V,V), got shape ", A.sizes());
  TORCH_CHECK(supported_dtype(x), op, ": x must be float32 or float64, or bfloat16 (CPU, CUDA) or float16 (CUDA), got ", x.scalar_type());
  check_parameter(weight, "weight", x, op);
  check_parameter(A, "A", x, op);

  GraphConvShape s{x.size(0), x.size(1), weight.size(1), x.size(2), x.size(3), weight.size(0)};
  TORCH_CHECK(s.K >= 1, op, ": weight must have at least one partition (K >= 1), got shape ",
              weight.sizes());
  TORCH_CHECK(weight.size(2) == s.Cin, op, ": weight has Cin=", weight.size(2), " but x has ", s.Cin,
              " channels (x is (N,Cin,T,V), weight is (K,Cout,Cin))");
  TORCH_CHECK(A.size(0) == s.K, op, ": A has K=", A.size(0), " partitions but weight has K=", s.K);
  TORCH_CHECK(A.size(1) == s.V && A.size(2) == s.V, op, ": A must be (K,V,V) with V=", s.V,
              " joints as in x, got shape ", A.sizes());
  if (bias.has_value() && bias->defined()) {
    const at::Tensor& b = *bias;
    check_parameter(b, "bias", x, op);
    TORCH_CHECK(b.dim() == 2 && b.size(0) == s.K && b.size(1) == s.Cout, op,
                ": bias must be (K,Cout) = (", s.K, ",", s.Cout, "), got shape ", b.sizes());
  }
  return s;
}

GraphConvShape check_graph_conv_backward_inputs(const at::Tensor& grad_out, const at::Tensor& x,
                                                const at::Tensor& weight,
                                                const std::optional<at::Tensor>& bias,
                                                const at::Tensor& A) {
  const char* op = "graph_conv_backward";
  GraphConvShape s = check_graph_conv_inputs(x, weight, bias, A, op);
  check_like_x(grad_out, "grad_out", x, op);
  TORCH_CHECK(grad_out.dim() == 4 && grad_out.size(0) == s.N && grad_out.size(1) == s.Cout &&
                  grad_out.size(2) == s.T && grad_out.size(3) == s.V,
              op, ": grad_out must be (N,Cout,T,V) = (", s.N, ",", s.Cout, ",", s.T, ",", s.V,
              "), got shape ", grad_out.sizes());
  return s;
}

}  // namespace cpstn
