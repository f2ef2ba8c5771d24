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
