import pytest
import torch

from cpstn_min import ops
from cpstn_min.encoder import STGCNEncoder


def expected_parameter_count(C=3, h=16, feature_dim=256, K=3, V=25, kt=9):
    """Closed form for the SkeletonCLR/AimCLR ST-GCN configuration."""
    widths = [h, h, h, h, 2 * h, 2 * h, 2 * h, 4 * h, 4 * h, feature_dim]
    strides = [1, 1, 1, 1, 2, 1, 1, 2, 1, 1]
    total, c_in = 2 * C * V, C                       # data batch-norm
    for i, (c, s) in enumerate(zip(widths, strides)):
        total += K * c * c_in + K * c                # graph conv weight + bias
        total += K * V * V                           # edge importance
        total += 2 * c + kt * c * c + c + 2 * c      # BN, temporal conv, BN
        if i > 0 and (c_in != c or s != 1):
            total += c_in * c + c + 2 * c            # residual 1x1 conv + BN
        c_in = c
    return total


def test_output_shape_and_parameter_count():
    enc = STGCNEncoder()
    n_params = sum(p.numel() for p in enc.parameters())
    print(f"ST-GCN encoder parameters: {n_params}")
    assert n_params == expected_parameter_count()
    x = torch.randn(2, 3, 50, 25, 2)
    assert enc(x).shape == (2, 256)
    assert enc.forward_map(x).shape == (4, 256, 13, 25)


def test_a_pass_split_at_a_block_gives_the_same_map():
    """continue_map(forward_map(x, k), k) is forward_map(x): a head can read block k of the same pass."""
    torch.manual_seed(0)
    enc = STGCNEncoder(hidden_channels=4, feature_dim=16).eval()
    x = torch.randn(2, 3, 16, 25, 2)
    whole = enc.forward_map(x)
    for k in (0, 1, 7, 10):
        torch.testing.assert_close(enc.continue_map(enc.forward_map(x, upto=k), k), whole)


def test_openpose_layout_and_width():
    enc = STGCNEncoder(hidden_channels=8, feature_dim=64, layout="openpose", strategy="uniform")
    assert sum(p.numel() for p in enc.parameters()) == expected_parameter_count(h=8, feature_dim=64, K=1, V=18)
    assert enc(torch.randn(3, 3, 20, 18, 1)).shape == (3, 64)


def test_gradients_reach_every_parameter():
    torch.manual_seed(0)
    enc = STGCNEncoder(hidden_channels=4, feature_dim=16)
    enc(torch.randn(2, 3, 16, 25, 2)).square().sum().backward()
    for name, p in enc.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


@pytest.mark.skipif(ops.backend("cpu") != "cpu-ext", reason="extension not built")
def test_extension_matches_reference_backend(monkeypatch):
    torch.manual_seed(0)
    enc = STGCNEncoder(hidden_channels=8, feature_dim=32).double()
    x = torch.randn(3, 3, 24, 25, 2, dtype=torch.float64)
    y_ext = enc(x)
    monkeypatch.setenv("CPSTN_BACKEND", "reference")
    assert ops.backend("cpu") == "reference"
    torch.testing.assert_close(enc(x), y_ext, rtol=1e-10, atol=1e-10)


def conv_weights(enc) -> dict:
    """{name: (weight as a (filters, rest) matrix)} of every graph-conv and conv weight in the blocks."""
    out = {}
    for name, p in enc.blocks.named_parameters():
        if name.endswith("gcn.weight"):
            out[name] = p.detach().reshape(p.shape[0] * p.shape[1], -1)
        elif p.dim() == 4:
            out[name] = p.detach().reshape(p.shape[0], -1)
    return out


def test_orthogonal_init_keeps_each_layers_norm_and_makes_its_filters_orthogonal():
    torch.manual_seed(3)
    uniform = conv_weights(STGCNEncoder(hidden_channels=8, feature_dim=128))
    torch.manual_seed(3)
    orthogonal = conv_weights(STGCNEncoder(hidden_channels=8, feature_dim=128, init="orthogonal"))
    assert uniform.keys() == orthogonal.keys() and len(orthogonal) == 10 + 10 + 3   # gcn, tcn, residual
    for name, w in orthogonal.items():
        assert float(w.norm()) == pytest.approx(float(uniform[name].norm()), rel=1e-5), name
        gram = w @ w.T if w.shape[0] <= w.shape[1] else w.T @ w      # the smaller side: a scaled identity
        scale = gram.diagonal().mean()
        assert torch.allclose(gram, scale * torch.eye(gram.shape[0]), atol=1e-5 * scale), name
        assert not torch.allclose(w, uniform[name])


def test_init_is_checked_and_configs_saved_before_it_read_uniform():
    from cpstn_min.config import Config
    from cpstn_min.config_checks import check_config
    from cpstn_min.errors import UsageError
    saved = Config().to_dict()
    del saved["model"]["init"]
    assert Config.from_dict(saved).model.init == "uniform"
    cfg = Config()
    cfg.model.init = "xavier"
    with pytest.raises(UsageError, match="model.init must be one of uniform, orthogonal, got 'xavier'"):
        check_config(cfg)
    with pytest.raises(ValueError, match="init must be one of"):
        STGCNEncoder(init="xavier")
