"""cpstn::graph_conv in bfloat16 (CPU, CUDA) and float16 (CUDA): forward and all four
gradients against the float64 reference, float32 parameters beside low-precision x
(their gradients come back in float32), opcheck, the dtype errors, and autocast.

The kernels read the parameters in float32, keep every intermediate and sum in float32
and round only what they return (the output, grad_x) to the dtype, so the error is about
one rounding: max |error| <= TOL[dtype] * max |expected|.
"""
import pytest
import torch

from cpstn_min import ops, reference
from test_graph_conv import assert_rel_close, needs_ext, sample_inputs

needs_cuda = pytest.mark.skipif(not (torch.cuda.is_available() and ops._has_kernel("graph_conv", "CUDA")),
                                reason="needs a GPU and the CUDA kernels")

# Two unit roundoffs of the dtype (2^-8 for bfloat16's 8 significant bits, 2^-11 for
# float16's 11): the result is rounded once, the float32 sums add far less (measured on
# the CPU: at most 0.87 roundoff).
TOL = {torch.bfloat16: 2 * 2.0 ** -8, torch.float16: 2 * 2.0 ** -11}

CASES = [  # (device, dtype)
    ("cpu", torch.bfloat16),
    pytest.param("cuda", torch.bfloat16, marks=needs_cuda),
    pytest.param("cuda", torch.float16, marks=needs_cuda),
]

# (Cin, Cout, T, V, K, N, bias, non-contiguous, A requires grad): both contraction orders
# and both backward schemes, odd V and T, one frame, K = 1.
SHAPES = [
    (3, 16, 13, 25, 3, 4, True, False, True),
    (16, 3, 7, 17, 2, 3, True, True, True),
    (64, 64, 5, 18, 3, 2, False, False, True),
    (1, 8, 1, 5, 1, 1, True, False, False),
    (16, 64, 9, 25, 3, 2, True, True, True),
]


def low_precision_inputs(shape, device, dtype, params_dtype=torch.float32):
    """x in `dtype`, parameters in `params_dtype`; the float64 copies (made first, so they are
    leaves of their own) hold the same values."""
    Cin, Cout, T, V, K, N, bias, noncontig, a_grad = shape
    x, w, b, A = (None if t is None else t.detach() for t in
                  sample_inputs(Cin, Cout, T, V, K, N, bias, noncontig, a_grad, dtype=torch.float32))
    x = x.to(dtype)
    w, A = w.to(params_dtype), A.to(params_dtype)
    b = None if b is None else b.to(params_dtype)
    grad_flags = (True, True, True, a_grad)
    exact = [None if t is None else t.double().requires_grad_(rg) for t, rg in zip((x, w, b, A), grad_flags)]
    low = [None if t is None else t.to(device).requires_grad_(rg) for t, rg in zip((x, w, b, A), grad_flags)]
    return low, exact


def outputs_and_grads(fn, args, grad_out):
    y = fn(*args)
    leaves = [t for t in args if t is not None and t.requires_grad]
    return [y] + list(torch.autograd.grad(y, leaves, grad_out.to(y.device, y.dtype)))


@needs_ext
@pytest.mark.parametrize("device,dtype", CASES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("params_dtype", ["float32", "same"])
def test_low_precision_matches_float64_reference(device, dtype, shape, params_dtype):
    pdt = torch.float32 if params_dtype == "float32" else dtype
    low, exact = low_precision_inputs(shape, device, dtype, pdt)
    want_y = reference.graph_conv(*exact)
    grad_out = torch.randn(want_y.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    grad_out = grad_out.to(dtype).double()  # the values the kernel sees
    want = outputs_and_grads(reference.graph_conv, exact, grad_out)
    got = outputs_and_grads(torch.ops.cpstn.graph_conv.default, low, grad_out)
    # activations and grad_x in x's dtype, parameter gradients in each parameter's dtype
    leaves = [t for t in low if t is not None and t.requires_grad]
    assert [g.dtype for g in got] == [dtype, dtype] + [t.dtype for t in leaves[1:]]
    assert_rel_close(got, want, TOL[dtype])


@needs_ext
@pytest.mark.parametrize("device,dtype", CASES)
def test_float32_parameter_gradients_are_not_rounded_to_16_bits(device, dtype):
    """grad_weight is summed over every (n,t) in float32: a bfloat16/float16 round trip of it
    would miss the float64 value by about the dtype's roundoff; the kernel's is far closer."""
    shape = (8, 16, 50, 25, 3, 8, True, False, True)
    low, exact = low_precision_inputs(shape, device, dtype)
    grad_out = torch.randn(8, 16, 50, 25, generator=torch.Generator().manual_seed(2)).to(dtype).double()
    got_w = outputs_and_grads(torch.ops.cpstn.graph_conv.default, low, grad_out)[2]
    want_w = outputs_and_grads(reference.graph_conv, exact, grad_out)[2]
    assert got_w.dtype == torch.float32
    rounded = want_w.to(dtype).double()
    rounding_err = (rounded - want_w).abs().max().item()
    assert (got_w.double().cpu() - want_w).abs().max().item() < rounding_err


@needs_ext
@pytest.mark.parametrize("device,dtype", CASES)
def test_opcheck_low_precision(device, dtype):
    low, _ = low_precision_inputs((3, 5, 4, 7, 2, 2, True, False, True), device, dtype)
    torch.library.opcheck(torch.ops.cpstn.graph_conv.default, tuple(low))
    x, w, b, A = (t.detach() for t in low)
    g = torch.randn(2, 5, 4, 7, device=device).to(dtype)
    for mask in ([True] * 4, [True, False, True, False]):
        torch.library.opcheck(torch.ops.cpstn.graph_conv_backward.default, (g, x, w, b, A, mask))


@needs_ext
def test_low_precision_dtype_errors_name_the_argument():
    (x, w, b, A), _ = low_precision_inputs((3, 4, 5, 6, 2, 2, True, False, True), "cpu", torch.bfloat16)
    x, w, b, A = (t.detach() for t in (x, w, b, A))
    op, bwd = torch.ops.cpstn.graph_conv.default, torch.ops.cpstn.graph_conv_backward.default
    with pytest.raises(RuntimeError, match="weight has dtype Double"):
        op(x, w.double(), b, A)
    with pytest.raises(RuntimeError, match="A has dtype Half"):
        op(x, w, b, A.half())
    with pytest.raises(RuntimeError, match="bias has dtype BFloat16 but x has dtype Float"):
        op(x.float(), w, b.bfloat16(), A)
    with pytest.raises(RuntimeError, match="x is float16, which the CPU kernel does not support"):
        op(x.half(), w, b, A)
    g = torch.ones(2, 4, 5, 6)
    with pytest.raises(RuntimeError, match="grad_out has dtype Float but x has dtype BFloat16"):
        bwd(g, x, w, b, A, [True] * 4)
    with pytest.raises(RuntimeError, match="x is float16, which the CPU kernel does not support"):
        bwd(g.half(), x.half(), w, b, A, [True] * 4)


# ---------------------------------------------------------------- autocast
# The op's autocast rule, called through the dispatcher (ops.graph_conv may take the composed
# order in bfloat16 on the CPU: the last tests).

def autocast_case(device):
    low, exact = low_precision_inputs((3, 16, 6, 25, 3, 2, True, False, True), device, torch.float32)
    return low, exact


@needs_ext
@pytest.mark.parametrize("device,dtype", CASES)
def test_autocast_runs_the_kernel_in_the_autocast_dtype(device, dtype):
    (x, w, b, A), exact = autocast_case(device)
    with torch.autocast(device, dtype=dtype):
        y = torch.ops.cpstn.graph_conv.default(x, w, b, A)
    assert y.dtype == dtype
    # the kernel saw x rounded to the autocast dtype and the float32 parameters as they are
    exact[0] = x.detach().to(dtype).double().cpu()
    want = reference.graph_conv(*exact)
    assert_rel_close([y], [want], TOL[dtype])
    y.float().square().sum().backward()
    want.square().sum().backward()
    for p, e in zip((x, w, b, A), exact):
        assert p.grad is not None and p.grad.dtype == torch.float32
    assert_rel_close([w.grad, b.grad, A.grad], [e.grad for e in exact[1:]], 2 * TOL[dtype])


@needs_ext
def test_autocast_dtype_without_a_kernel_runs_in_float32():
    # float16 autocast on the CPU: there is no CPU float16 kernel, so the op keeps float32
    (x, w, b, A), exact = autocast_case("cpu")
    with torch.autocast("cpu", dtype=torch.float16):
        y = torch.ops.cpstn.graph_conv.default(x.half(), w, b, A)
    assert y.dtype == torch.float32
    exact[0] = x.detach().half().double()
    assert_rel_close([y], [reference.graph_conv(*exact)], 1e-5)


@needs_ext
def test_autocast_under_torch_compile_matches_eager():
    (x, w, b, A), _ = autocast_case("cpu")

    def fn(x, w, b, A):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return torch.ops.cpstn.graph_conv.default(x, w, b, A)

    want = fn(x, w, b, A)
    got = torch.compile(fn, fullgraph=True, backend="aot_eager")(x, w, b, A)
    assert got.dtype == torch.bfloat16
    torch.testing.assert_close(got, want)


@needs_ext
def test_autocast_leaves_float64_alone():
    # autocast's own rule: only float32 (and other 16-bit) tensors are cast
    (x, w, b, A), exact = autocast_case("cpu")
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = torch.ops.cpstn.graph_conv.default(*(t.detach().double() for t in (x, w, b, A)))
    assert y.dtype == torch.float64
    torch.testing.assert_close(y, reference.graph_conv(*(t.detach() for t in exact)))


# ---------------------------------------------------------------- ops.graph_conv in bfloat16 on the CPU

@needs_ext
@pytest.mark.parametrize("how", ["autocast", "bfloat16 x"])
def test_cpu_bfloat16_takes_the_composed_order_where_the_cpu_has_a_bf16_matmul(how, monkeypatch, composed_calls):
    (x, w, b, A), exact = autocast_case("cpu")
    calls = composed_calls
    for has_bf16_matmul in (True, False):
        monkeypatch.setattr(ops, "CPU_BF16_COMPOSED", has_bf16_matmul)
        calls.clear()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=how == "autocast"):
            y = ops.graph_conv(x if how == "autocast" else x.bfloat16(), w, b, A)
        assert ops.graph_conv_path(x.bfloat16()) == ("composed" if has_bf16_matmul else "kernel")
        assert bool(calls) == has_bf16_matmul and y.dtype == torch.bfloat16
        # the composed order rounds the weights and its intermediate to bfloat16 as well: a few roundoffs
        exact[0] = x.detach().bfloat16().double()
        assert_rel_close([y], [reference.graph_conv(*(t.detach() for t in exact))], 4 * TOL[torch.bfloat16])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert ops.graph_conv_path(x.double()) == "kernel"     # autocast leaves float64 alone
    assert ops.graph_conv_path(x) == "kernel"                  # float32 without autocast
