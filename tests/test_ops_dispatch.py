import pytest
import torch

from cpstn_min import ops, reference


def test_backend_names(monkeypatch):
    expected = "cpu-ext" if ops.extension_loaded() else "reference"
    assert ops.backend("cpu") == expected
    monkeypatch.setenv("CPSTN_BACKEND", "reference")
    assert ops.backend("cpu") == "reference"


def test_fallback_is_the_composed_reference(reference_backend):
    torch.manual_seed(0)
    x, w, b, A = torch.randn(2, 5, 7, 25), torch.randn(3, 6, 5), torch.randn(3, 6), torch.rand(3, 25, 25)
    torch.testing.assert_close(ops.graph_conv(x, w, b, A), reference.graph_conv(x, w, b, A))


def test_schemas_registered_when_built():
    if not ops.extension_loaded():
        return
    for op in ops.OPS:
        assert hasattr(torch.ops.cpstn, op)
        assert torch._C._dispatch_has_kernel_for_dispatch_key(f"cpstn::{op}", "CPU"), op


@pytest.mark.skipif(not ops.extension_loaded(), reason="extension not built")
def test_one_input_on_meta_is_an_error_not_uninitialised_memory():
    x, w, b, A = torch.randn(2, 5, 7, 25), torch.randn(3, 6, 5), torch.randn(3, 6), torch.rand(3, 25, 25)
    for name, args in (("weight", (x, w.to("meta"), b, A)), ("bias", (x, w, b.to("meta"), A)),
                       ("A", (x, w, b, A.to("meta"))), ("weight", (x.to("meta"), w, b, A))):
        with pytest.raises(RuntimeError, match=f"graph_conv: {name} is on .* all tensors must be on one device"):
            torch.ops.cpstn.graph_conv(*args)
    assert torch.ops.cpstn.graph_conv(x.to("meta"), w.to("meta"), b.to("meta"), A.to("meta")).device.type == "meta"
    clips = (torch.randn(2, 3, 6, 25, 2), torch.tensor([6, 4]), torch.zeros(2), torch.ones(2),
             torch.eye(3).expand(2, 3, 3).contiguous())
    for i, name in enumerate(("valid_frames", "start", "step", "R"), start=1):
        args = list(clips)
        args[i] = args[i].to("meta")
        with pytest.raises(RuntimeError, match=f"skeleton_augment: {name} is on meta"):
            torch.ops.cpstn.skeleton_augment(*args, 4)


def dispatch_case(device):
    g = torch.Generator().manual_seed(0)
    x, w, b, A = (torch.randn(*s, generator=g, dtype=torch.float64).to(device)
                  for s in ((2, 5, 7, 25), (3, 6, 5), (3, 6), (3, 25, 25)))
    return x, w, b, A


@pytest.mark.skipif(not ops.extension_loaded(), reason="extension not built")
def test_the_graph_conv_path_can_be_forced_either_way(monkeypatch, composed_calls):
    x, w, b, A = dispatch_case("cpu")
    want = reference.graph_conv(x, w, b, A)
    calls = composed_calls
    assert ops.graph_conv_path(x) == "kernel"
    for forced, composed in (("composed", True), ("kernel", False)):
        monkeypatch.setenv("CPSTN_GRAPH_CONV", forced)
        calls.clear()
        assert ops.graph_conv_path(x) == forced
        torch.testing.assert_close(ops.graph_conv(x, w, b, A), want)
        assert bool(calls) == composed
    # the override beats the measured choice too (bfloat16 on a CPU with a bfloat16 matmul unit)
    monkeypatch.setattr(ops, "CPU_BF16_COMPOSED", True)
    assert ops.graph_conv_path(x.bfloat16()) == "kernel"
    monkeypatch.setenv("CPSTN_GRAPH_CONV", "fused")
    with pytest.raises(ValueError, match="CPSTN_GRAPH_CONV must be one of kernel, composed or unset, not 'fused'"):
        ops.graph_conv(x, w, b, A)
    monkeypatch.setenv("CPSTN_BACKEND", "reference")     # no kernel to force: the variable is not read
    assert ops.graph_conv_path(x) == "composed"


@pytest.mark.skipif(not (torch.cuda.is_available() and ops._has_kernel("graph_conv", "CUDA")),
                    reason="needs a GPU and the CUDA kernels")
def test_cuda_takes_the_composed_order_unless_the_kernel_is_asked_for(monkeypatch, composed_calls):
    x, w, b, A = dispatch_case("cuda")
    want = reference.graph_conv(*(t.cpu() for t in (x, w, b, A)))
    calls = composed_calls
    assert ops.graph_conv_path(x) == "composed"
    torch.testing.assert_close(ops.graph_conv(x, w, b, A).cpu(), want)
    assert calls
    monkeypatch.setenv("CPSTN_GRAPH_CONV", "kernel")
    calls.clear()
    torch.testing.assert_close(ops.graph_conv(x, w, b, A).cpu(), want)
    assert not calls and ops.graph_conv_path(x) == "kernel"
