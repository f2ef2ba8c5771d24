"""cpstn::graph_conv: references agree, the fused kernels equal the reference
(forward and all four gradients), gradcheck, opcheck, clear input errors, and the
encoder under torch.compile.

Shapes: x (N,Cin,T,V), weight (K,Cout,Cin), bias (K,Cout) or None, A (K,V,V) -> (N,Cout,T,V).
"""
import pytest
import torch

from cpstn_min import ops, reference
from cpstn_min.encoder import STGCNEncoder
from cpstn_min.graph import Graph

needs_ext = pytest.mark.skipif(not ops.extension_loaded(), reason="C++ extension not built")
needs_cuda = pytest.mark.skipif(not (torch.cuda.is_available() and ops._has_kernel("graph_conv", "CUDA")),
                                reason="needs a GPU and the CUDA kernels")
DEVICES = ["cpu", pytest.param("cuda", marks=needs_cuda)]

# (Cin, Cout, T, V, K, N, bias, non-contiguous x/weight/A, A requires grad): every listed size of
# the issue (V 18/25, K 1..3, channels 1/3/16/64/256, T 1/13/50, N 1/7) appears, and both
# contraction orders (Cin < Cout graph first, Cin >= Cout channels first) are hit.
SHAPES = [
    (1, 3, 1, 18, 1, 1, True, False, True),
    (3, 16, 13, 25, 3, 7, True, True, True),
    (16, 3, 50, 18, 2, 1, False, False, False),
    (16, 16, 13, 25, 2, 7, True, False, False),
    (64, 256, 1, 25, 3, 7, True, True, True),
    (256, 64, 13, 18, 3, 1, False, True, True),
    (3, 1, 50, 25, 1, 7, True, False, True),
    (64, 16, 50, 25, 3, 1, True, False, True),
    (1, 64, 13, 18, 2, 7, False, True, False),
    (256, 1, 1, 25, 2, 1, True, True, True),
    (16, 64, 50, 18, 3, 7, True, True, True),
]


def sample_inputs(Cin, Cout, T, V, K, N, bias=True, noncontig=False, a_grad=True, device="cpu",
                  dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    if noncontig:  # transposed storage: x as (N,T,Cin,V), weight as (K,Cin,Cout), A as A^T
        x = torch.randn(N, T, Cin, V, generator=g, dtype=dtype).transpose(1, 2)
        w = torch.randn(K, Cin, Cout, generator=g, dtype=dtype).transpose(1, 2) / Cin ** 0.5
        A = torch.rand(K, V, V, generator=g, dtype=dtype).transpose(1, 2) / V
    else:
        x = torch.randn(N, Cin, T, V, generator=g, dtype=dtype)
        w = torch.randn(K, Cout, Cin, generator=g, dtype=dtype) / Cin ** 0.5
        A = torch.rand(K, V, V, generator=g, dtype=dtype) / V
    b = torch.randn(K, Cout, generator=g, dtype=dtype) if bias else None
    move = lambda t, rg: None if t is None else t.to(device).requires_grad_(rg)
    return move(x, True), move(w, True), move(b, True), move(A, a_grad)


def forward_and_grads(fn, x, w, b, A, grad_out=None):
    y = fn(x, w, b, A)
    inputs = [t for t in (x, w, b, A) if t is not None and t.requires_grad]
    if grad_out is None:
        grad_out = torch.randn(y.shape, generator=torch.Generator().manual_seed(1), dtype=y.dtype).to(y.device)
    return [y] + list(torch.autograd.grad(y, inputs, grad_out)), grad_out


def assert_rel_close(actual, expected, rel):
    """max |actual - expected| <= rel * max |expected|: sums of many terms make small
    entries meaningless to compare one by one in float32."""
    for a, e in zip(actual, expected):
        assert a.shape == e.shape
        err = (a.double().cpu() - e.double().cpu()).abs().max().item() if e.numel() else 0.0
        scale = e.double().abs().max().item() if e.numel() else 0.0
        assert err <= rel * max(scale, 1e-30), f"error {err:.3g} vs scale {scale:.3g}"


# ---------------------------------------------------------------- references

@pytest.mark.parametrize("shape", [(3, 4, 1, 5, 2, 2), (4, 3, 3, 6, 3, 1), (2, 2, 2, 18, 1, 2)])
@pytest.mark.parametrize("bias", [True, False])
def test_reference_equals_literal_loop(shape, bias):
    Cin, Cout, T, V, K, N = shape
    x, w, b, A = sample_inputs(Cin, Cout, T, V, K, N, bias)
    torch.testing.assert_close(reference.graph_conv(x, w, b, A), reference.graph_conv_loop(x, w, b, A))


@pytest.mark.parametrize("shape", [(3, 16, 13, 25, 3, 7), (16, 16, 1, 18, 2, 3), (64, 3, 5, 25, 1, 2)])
@pytest.mark.parametrize("bias", [True, False])
def test_composed_equals_reference_with_gradients(shape, bias):
    """The composition is the fallback when the extension is missing, so its gradients count too."""
    x, w, b, A = sample_inputs(*shape, bias=bias, noncontig=True)
    got, g = forward_and_grads(reference.graph_conv_composed, x, w, b, A)
    want, _ = forward_and_grads(reference.graph_conv, x, w, b, A, g)
    for a, e in zip(got, want):
        torch.testing.assert_close(a, e)


# ---------------------------------------------------------------- fused kernels

def ext_graph_conv(x, w, b, A):
    return torch.ops.cpstn.graph_conv.default(x, w, b, A)


@needs_ext
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s[:6])) + f"-b{int(s[6])}nc{int(s[7])}ag{int(s[8])}")
def test_forward_and_gradients_match_reference(shape, device):
    Cin, Cout, T, V, K, N, bias, noncontig, a_grad = shape
    x, w, b, A = sample_inputs(Cin, Cout, T, V, K, N, bias, noncontig, a_grad, device)
    want, g = forward_and_grads(reference.graph_conv, x, w, b, A)
    got, _ = forward_and_grads(ext_graph_conv, x, w, b, A, g)
    assert len(got) == len(want) == 3 + bias + a_grad
    assert_rel_close(got, want, 1e-10)
    # float32 against the float64 reference on the same (rounded) inputs
    x32, w32, b32, A32 = (None if t is None else t.detach().float().requires_grad_(t.requires_grad)
                          for t in (x, w, b, A))
    got32, _ = forward_and_grads(ext_graph_conv, x32, w32, b32, A32, g.float())
    want64, _ = forward_and_grads(reference.graph_conv, *(None if t is None else t.detach().double()
                                                          .requires_grad_(t.requires_grad)
                                                          for t in (x32, w32, b32, A32)), g)
    assert_rel_close(got32, want64, 1e-4)


@needs_ext
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("layout,strategy,Cin,Cout", [("ntu-rgb+d", "spatial", 3, 16), ("ntu-rgb+d", "uniform", 16, 3),
                                                      ("openpose", "distance", 16, 64), ("openpose", "spatial", 64, 16)])
def test_skeleton_graphs_match_reference(device, layout, strategy, Cin, Cout):
    """Real adjacencies: mostly zeros, rescaled by edge importance (which keeps the zeros)."""
    graph = torch.tensor(Graph(layout, strategy).A, dtype=torch.float64)
    K, V, _ = graph.shape
    x, w, b, _ = sample_inputs(Cin, Cout, 13, V, K, 7, noncontig=True, device=device)
    importance = 0.5 + torch.rand(graph.shape, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    A = (graph * importance).to(device).requires_grad_()
    want, g = forward_and_grads(reference.graph_conv, x, w, b, A)
    got, _ = forward_and_grads(ext_graph_conv, x, w, b, A, g)
    assert_rel_close(got, want, 1e-10)
    assert got[-1].count_nonzero() > (A != 0).sum()  # grad_A is dense: the zeros of A have gradients too


@needs_ext
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("Cin,Cout", [(3, 5), (6, 4)])
def test_backward_computes_only_requested_outputs(device, Cin, Cout):
    x, w, b, A = sample_inputs(Cin, Cout, 4, 7, 2, 3, device=device)
    want, g = forward_and_grads(reference.graph_conv, x, w, b, A)
    for mask in ([True, False, False, False], [False, True, False, False], [False, False, True, False],
                 [False, False, False, True], [True, True, True, True], [False, True, True, True]):
        grads = torch.ops.cpstn.graph_conv_backward.default(g, x.detach(), w.detach(), b.detach(), A.detach(), mask)
        for got, expected, needed in zip(grads, want[1:], mask):
            if needed:
                torch.testing.assert_close(got, expected)
            else:
                assert got.shape == (0,)
    grads = torch.ops.cpstn.graph_conv_backward.default(g, x.detach(), w.detach(), None, A.detach(), [True] * 4)
    assert grads[2].shape == (0,)  # no bias, no grad_bias
    torch.testing.assert_close(grads[3], forward_and_grads(reference.graph_conv, x, w, None, A, g)[0][3])


@needs_ext
@pytest.mark.parametrize("device", DEVICES)
def test_only_weight_requires_grad(device):
    x, w, b, A = sample_inputs(3, 5, 4, 7, 2, 3, device=device)
    x, b, A = x.detach(), b.detach(), A.detach()
    got, g = forward_and_grads(ext_graph_conv, x, w, b, A)
    want, _ = forward_and_grads(reference.graph_conv, x, w, b, A, g)
    assert len(got) == 2
    assert_rel_close(got, want, 1e-10)


@needs_ext
@pytest.mark.parametrize("device", DEVICES)
def test_empty_batch(device):
    x, w, b, A = sample_inputs(3, 5, 4, 7, 2, 0, device=device)
    got, g = forward_and_grads(ext_graph_conv, x, w, b, A)
    assert got[0].shape == (0, 5, 4, 7)
    assert got[1].shape == x.shape
    for grad in got[2:]:
        assert not grad.any()


@needs_ext
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("Cin,Cout,bias", [(3, 4, True), (4, 2, True), (2, 3, False)])
def test_gradcheck(device, Cin, Cout, bias):
    x, w, b, A = sample_inputs(Cin, Cout, 3, 5, 2, 2, bias=bias, device=device)
    assert torch.autograd.gradcheck(ext_graph_conv, (x, w, b, A))


@needs_ext
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("Cin,Cout", [(3, 4), (5, 2)])
def test_opcheck(device, Cin, Cout):
    x, w, b, A = sample_inputs(Cin, Cout, 3, 6, 2, 2, noncontig=True, device=device, dtype=torch.float32)
    torch.library.opcheck(torch.ops.cpstn.graph_conv.default, (x, w, b, A))
    torch.library.opcheck(torch.ops.cpstn.graph_conv.default, (x, w, None, A))
    g = torch.randn(2, Cout, 3, 6, device=device)
    d = [t.detach() for t in (x, w, b, A)]
    for mask in ([True, True, True, True], [False, True, False, True]):
        torch.library.opcheck(torch.ops.cpstn.graph_conv_backward.default, (g, *d, mask))


# ---------------------------------------------------------------- input errors

def bad_calls():
    x, w, b, A = (t.detach() for t in sample_inputs(3, 4, 5, 6, 2, 2, dtype=torch.float32))
    return [
        ((x[0], w, b, A), "x must be 4-D"),
        ((x, w[0], b, A), "weight must be 3-D"),
        ((x, w, b, A[0]), "A must be 3-D"),
        ((x, w[:, :, :2], b, A), "weight has Cin=2"),
        ((x, w, b, A[:1]), "A has K=1"),
        ((x, w, b, A[:, :5, :5]), "A must be"),
        ((x, w, b[:, :3], A), "bias must be"),
        ((x.long(), w, b, A), "x must be float32 or float64"),
        ((x, w.double(), b, A), "weight has dtype"),
        ((x, w, b.double(), A), "bias has dtype"),
        ((x, w, b, A.half()), "A has dtype"),
    ]


@needs_ext
@pytest.mark.parametrize("case", range(11))
def test_bad_input_names_the_argument(case):
    args, message = bad_calls()[case]
    with pytest.raises(RuntimeError, match=message):
        torch.ops.cpstn.graph_conv.default(*args)


@needs_ext
def test_backward_bad_grad_out_and_mixed_devices():
    x, w, b, A = (t.detach() for t in sample_inputs(3, 4, 5, 6, 2, 2, dtype=torch.float32))
    with pytest.raises(RuntimeError, match="grad_out must be"):
        torch.ops.cpstn.graph_conv_backward.default(torch.ones(2, 4, 5, 5), x, w, b, A, [True] * 4)
    # another device reaching the CPU kernel (a real second device is tested in the CUDA run)
    cpu = torch._C.DispatchKeySet(torch._C.DispatchKey.CPU)
    with pytest.raises(RuntimeError, match="A is on meta but x is on cpu"):
        torch.ops.cpstn.graph_conv.default.redispatch(cpu, x, w, b, A.to("meta"))


@needs_ext
@needs_cuda
def test_mixed_cpu_cuda_devices():
    x, w, b, A = (t.detach() for t in sample_inputs(3, 4, 5, 6, 2, 2, dtype=torch.float32))
    with pytest.raises(RuntimeError, match="weight is on cuda"):
        torch.ops.cpstn.graph_conv.default(x, w.cuda(), b, A)


# ---------------------------------------------------------------- encoder

def small_encoder():
    torch.manual_seed(0)
    return STGCNEncoder(hidden_channels=4, feature_dim=12, widths=[4, 8, 12], strides=[1, 2, 1]).double()


def encoder_outputs(enc, clip):
    enc.zero_grad()
    out = enc(clip)
    out.pow(2).sum().backward()
    return [out.detach()] + [p.grad.clone() for p in enc.parameters()]


@needs_ext
def test_encoder_extension_equals_reference_backend(monkeypatch):
    enc = small_encoder()
    clip = torch.randn(3, 3, 10, 25, 2, dtype=torch.float64)
    got = encoder_outputs(enc, clip)
    monkeypatch.setenv("CPSTN_BACKEND", "reference")
    assert ops.backend("cpu") == "reference"
    want = encoder_outputs(enc, clip)
    for a, e in zip(got, want):
        torch.testing.assert_close(a, e)


@needs_ext
def test_encoder_under_torch_compile_matches_eager():
    """Whole graph (fullgraph=True: no break at the custom op), traced through the fake
    kernels and the registered autograd; aot_eager keeps compile time small."""
    enc = small_encoder()
    clip = torch.randn(2, 3, 8, 25, 2, dtype=torch.float64)
    want = encoder_outputs(enc, clip)
    got = encoder_outputs(torch.compile(enc, fullgraph=True, backend="aot_eager"), clip)
    for a, e in zip(got, want):
        torch.testing.assert_close(a, e)


@needs_ext
def test_op_under_inductor_matches_eager():
    x, w, b, A = sample_inputs(3, 5, 4, 25, 3, 2)
    fn = lambda x, w, b, A: ops.graph_conv(x, w, b, A).relu()
    want, g = forward_and_grads(fn, x, w, b, A)
    got, _ = forward_and_grads(torch.compile(fn, fullgraph=True), x, w, b, A, g)
    for a, e in zip(got, want):
        torch.testing.assert_close(a, e)


@needs_ext
def test_autocast_runs_the_kernel_in_bfloat16():
    # train.py --amp on the CPU: bfloat16 activations, float32 parameters and their gradients
    # (tolerances per dtype: tests/test_graph_conv_half.py)
    x, w, b, A = sample_inputs(3, 8, 5, 25, 3, 2, dtype=torch.float32)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = torch.ops.cpstn.graph_conv.default(x.bfloat16(), w, b, A)
    assert y.dtype == torch.bfloat16
    expected = reference.graph_conv(x.bfloat16().float(), w, b, A)
    assert_rel_close([y], [expected], 1e-2)
    y.sum().backward()
    assert w.grad is not None and w.grad.dtype == torch.float32
