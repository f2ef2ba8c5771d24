"""CP-STN: contrastive (MoCo v2) and pretext learning on one ST-GCN query encoder.

forward(views) takes the dict of augment.make_views — 'query', 'key', 'pretext'
clips (N,3,T,V,M) and the pretext labels (N,) — and returns a dict of scalars:
'loss' (what to minimize), the loss terms ('nce', 'spatial' or 'mask', 'pace', 'dir') and
their scores ('acc_nce', ...: top-1 accuracy; R^2 for the 'mask' regression). Three encoder passes: query view and
pretext view through the query encoder (the pretext view only up to
model_cfg.pretext_block when set; the pretext-only model always uses the
whole encoder), key view through the key encoder. The relative-viewpoint task
('view') also reads the query pass's feature map at model_cfg.pretext_block.

Pretext loss weights: fixed lambdas, or with model_cfg.loss_weighting =
"uncertainty" learned per task as in Kendall et al. (2018): each term becomes
exp(-s) * CE + s with a learned log-variance s, so a task the encoder cannot
(yet) improve is turned down instead of dominating the shared encoder. Either
way times forward's pretext_scale (the schedule of training/pretext_weight.py).
`model_cfg.contrastive` / `model_cfg.pretext` switch the branches off in this
same code path (pretext-only model / SkeletonCLR baseline).

Batch norm: every pass normalizes with its own batch statistics; keys are not
shuffle-BN'd across processes (as in SkeletonCLR/AimCLR's single-process code).
model_cfg.shuffle_bn_groups > 1 normalizes the query and key views in groups of each
process's batch instead, the keys' groups shuffled (shuffle_bn.py).
"""
from typing import Dict, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from .config import AugmentConfig
from .encoder import build_encoder, pool_map
from .moco import MoCo
from .shuffle_bn import grouped_forward
from .pretext import PretextHeads, pretext_classes


def projector(feature_dim: int, proj_dim: int, mlp: bool) -> nn.Module:
    """MoCo v2 MLP head (or MoCo v1 linear head): (N,feature_dim) -> (N,proj_dim)."""
    if not mlp:
        return nn.Linear(feature_dim, proj_dim)
    return nn.Sequential(nn.Linear(feature_dim, feature_dim), nn.ReLU(inplace=True),
                         nn.Linear(feature_dim, proj_dim))


class CPSTN(nn.Module):
    """model_cfg: config.ModelConfig; queue_size: resolved queue length (already capped to
    the dataset size); classes: pretext task -> number of classes (default from AugmentConfig())."""

    def __init__(self, model_cfg, queue_size: int, classes: Optional[Dict[str, int]] = None):
        super().__init__()
        if not (model_cfg.contrastive or model_cfg.pretext):
            raise ValueError("at least one of the contrastive and pretext branches must be on")
        self.cfg = model_cfg
        self.encoder_q = build_encoder(model_cfg)
        fd = self.encoder_q.feature_dim
        if model_cfg.contrastive:
            self.projector = projector(fd, model_cfg.proj_dim, model_cfg.mlp)
            self.moco = MoCo(nn.Sequential(self.encoder_q, self.projector), model_cfg.proj_dim,
                             queue_size, model_cfg.momentum, model_cfg.temperature,
                             model_cfg.shuffle_bn_groups)
        if model_cfg.pretext:
            classes = classes if classes is not None else pretext_classes(AugmentConfig())
            blocks = len(self.encoder_q.widths)
            if not 0 <= model_cfg.pretext_block <= blocks:
                raise ValueError(f"model.pretext_block must be in 0..{blocks}, got {model_cfg.pretext_block}")
            # without the contrastive branch nothing would train the blocks above: heads read the last
            self.pretext_block = model_cfg.pretext_block if model_cfg.contrastive else 0
            head_dim = self.encoder_q.widths[self.pretext_block - 1] if self.pretext_block else fd
            self.pretext = PretextHeads(head_dim, classes, model_cfg.pretext_hidden, self.encoder_q.A.shape[1],
                                        spatial_pool=model_cfg.spatial_pool, pace_pool=model_cfg.pace_pool)
            self.weights = {"spatial": model_cfg.lambda_spatial, "mask": model_cfg.lambda_spatial,
                            "pace": model_cfg.lambda_pace, "dir": model_cfg.lambda_dir,
                            "view": model_cfg.lambda_view}
            if "view" in classes and not model_cfg.contrastive:
                raise ValueError("the relative-viewpoint task compares the pretext view with the contrastive "
                                 "query view: it needs the contrastive branch")
            if model_cfg.loss_weighting not in ("fixed", "uncertainty"):
                raise ValueError(f"model.loss_weighting must be fixed or uncertainty, got {model_cfg.loss_weighting!r}")
            if model_cfg.loss_weighting == "uncertainty":
                self.log_vars = nn.ParameterDict({k: nn.Parameter(torch.zeros(())) for k in classes})

    def query_params(self):
        """Parameters of the query network in the order of the key network's."""
        return list(self.encoder_q.parameters()) + list(self.projector.parameters())

    def forward(self, views: dict, pretext_scale: float = 1.0) -> Dict[str, torch.Tensor]:
        """pretext_scale multiplies every pretext weight (the schedule of training/pretext_weight.py)."""
        out, loss, query_map = {}, 0.0, None
        if self.cfg.contrastive:
            if self.cfg.pretext and "view" in self.pretext.heads:   # one query pass, its block map kept
                query_map = self.encoder_q.forward_map(views["query"], upto=self.pretext_block)
                features = pool_map(self.encoder_q.continue_map(query_map, self.pretext_block),
                                    views["query"].shape[0])
            else:   # in groups when keys are shuffle-BN'd, as each GPU's queries are in MoCo
                features = grouped_forward(self.encoder_q, views["query"], self.cfg.shuffle_bn_groups,
                                           shuffle=False)
            q = F.normalize(self.projector(features).float(), dim=1)  # (N,C)
            out["nce"], out["acc_nce"] = self.moco(q, views["key"], self.query_params())
            loss = loss + out["nce"]
        if self.cfg.pretext:
            feature_map = self.encoder_q.forward_map(views["pretext"], upto=self.pretext_block)
            for name, (term, acc) in self.pretext(feature_map, views, query_map).items():
                out[name], out[f"acc_{name}"] = term, acc
                if self.cfg.loss_weighting == "uncertainty":
                    s = self.log_vars[name]
                    loss = loss + self.weights[name] * pretext_scale * (torch.exp(-s) * term + s)
                else:
                    loss = loss + self.weights[name] * pretext_scale * term
        out["loss"] = loss
        return out
