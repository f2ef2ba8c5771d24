"""How strongly the pretext losses count at a point of training.

Every pretext weight (model.lambda_*) is multiplied by a factor that moves from
model.pretext_weight_start to model.pretext_weight_end along a half cosine over
the whole run. The factor depends only on how far training has got, which a
checkpoint records (epoch and batch), so a resumed run continues on the same curve.
"""
import math


def training_progress(epoch: int, batch_in_epoch: int, steps_per_epoch: int, epochs: int) -> float:
    """The share of training done before this step: 0 at the first step, < 1 at the last."""
    return (epoch + batch_in_epoch / steps_per_epoch) / epochs


def scheduled(model_cfg) -> bool:
    """Whether the factor changes over training (start != end); else it is one constant."""
    return model_cfg.pretext_weight_start != model_cfg.pretext_weight_end


def pretext_weight_scale(model_cfg, progress: float) -> float:
    """start at progress 0, end at progress 1, half a cosine in between (flat at both ends)."""
    start, end = model_cfg.pretext_weight_start, model_cfg.pretext_weight_end
    if not scheduled(model_cfg):   # fixed weights: exactly the factor, so such runs replay bit for bit
        return float(start)
    return end + (start - end) * 0.5 * (1.0 + math.cos(math.pi * min(max(progress, 0.0), 1.0)))
