"""The pretext weight schedule: its curve, what the model does with the factor, and that a
run trained with it logs the factor it used."""
import json
import math

import pytest
import torch

from cpstn_min.config import ModelConfig
from cpstn_min.model import CPSTN
from cpstn_min.training.pretext_weight import pretext_weight_scale, training_progress
from test_model import CLASSES, tiny_cfg, views

pytestmark = pytest.mark.usefixtures("one_thread")


def test_half_cosine_from_start_to_end():
    cfg = ModelConfig(pretext_weight_start=1.0, pretext_weight_end=0.0)
    assert pretext_weight_scale(cfg, 0.0) == 1.0
    assert pretext_weight_scale(cfg, 1.0) == pytest.approx(0.0, abs=1e-12)
    assert pretext_weight_scale(cfg, 0.5) == pytest.approx(0.5)
    assert pretext_weight_scale(cfg, 0.25) == pytest.approx(0.5 + 0.5 * math.cos(math.pi / 4))
    curve = [pretext_weight_scale(cfg, p / 100) for p in range(101)]
    assert all(a > b for a, b in zip(curve, curve[1:]))   # strictly falling
    warm_up = ModelConfig(pretext_weight_start=0.0, pretext_weight_end=2.0)
    assert pretext_weight_scale(warm_up, 0.0) == 0.0 and pretext_weight_scale(warm_up, 1.0) == 2.0
    assert pretext_weight_scale(warm_up, 0.5) == pytest.approx(1.0)


def test_fixed_weights_give_exactly_the_factor():
    assert pretext_weight_scale(ModelConfig(), 0.37) == 1.0
    assert pretext_weight_scale(ModelConfig(pretext_weight_start=0.5, pretext_weight_end=0.5), 0.9) == 0.5


def test_progress_counts_finished_steps():
    assert training_progress(0, 0, 8, 2) == 0.0
    assert training_progress(1, 0, 8, 2) == 0.5
    assert training_progress(1, 7, 8, 2) == pytest.approx(15 / 16)


def test_model_multiplies_every_pretext_weight_by_the_factor():
    model = CPSTN(tiny_cfg(lambda_spatial=0.5, lambda_pace=2.0), queue_size=16, classes=CLASSES)
    torch.manual_seed(0)
    full = model(views())
    torch.manual_seed(0)
    scaled = model(views(), pretext_scale=0.25)
    torch.testing.assert_close(scaled["loss"], scaled["nce"] + 0.25 * (0.5 * scaled["spatial"] + 2.0 * scaled["pace"]))
    torch.testing.assert_close(scaled["pace"], full["pace"])     # the terms themselves are unchanged
    torch.manual_seed(0)
    off = model(views(), pretext_scale=0.0)
    assert torch.equal(off["loss"], off["nce"])


def test_factor_zero_leaves_the_heads_without_gradient():
    model = CPSTN(tiny_cfg(), queue_size=16, classes=CLASSES)
    model(views(), pretext_scale=0.0)["loss"].backward()
    assert all(p.grad is None or not p.grad.any() for p in model.pretext.parameters())


def test_uncertainty_weights_are_scaled_too():
    model = CPSTN(tiny_cfg(loss_weighting="uncertainty"), queue_size=16, classes=CLASSES)
    with torch.no_grad():
        model.log_vars["pace"].fill_(0.3)
    torch.manual_seed(0)
    out = model(views(), pretext_scale=0.5)
    s = 0.3
    expected = out["nce"] + 0.5 * (out["spatial"] + (math.exp(-s) * out["pace"] + s))
    torch.testing.assert_close(out["loss"], expected)


def test_eval_plot_draws_the_schedule_beside_the_heads(tmp_path):
    from cpstn_min.evaluation.report import plot, pretext_curves
    records = [{"epoch": e, "step": 8 * (e + 1), "type": "epoch", "acc_pace": 0.3 + 0.1 * e,
                "pretext_weight": w} for e, w in enumerate((0.9, 0.3))]
    (tmp_path / "log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    curves = pretext_curves(str(tmp_path))
    assert curves["epoch"] == [1, 2] and curves["pace"] == pytest.approx([30.0, 40.0])
    assert curves["pretext_weight"] == [0.9, 0.3]
    without = {k: v for k, v in curves.items() if k != "pretext_weight"}
    args = ("title", {}, [[1, 0], [0, 1]])
    axes_with = plot(str(tmp_path / "a.png"), *args, pretext=curves).axes
    axes_without = plot(str(tmp_path / "b.png"), *args, pretext=without).axes
    assert len(axes_with) == len(axes_without) + 1          # the factor's own axis
    assert "pretext weight factor (epoch mean)" in [ax.get_ylabel() for ax in axes_with]
    assert (tmp_path / "a.png").stat().st_size > 0
