"""Is the pace label a playback speed the network can learn? A check of the pretext view on the synthetic data.

    python experiments/pace_signal.py                # statistics + a short pace training (a few minutes)
    python experiments/pace_signal.py --steps 0      # only the statistics (seconds)
    python experiments/pace_signal.py --set pretext_pace=crop pretext_spatial=rotation   # the first design

Builds pretext views of synthetic training clips exactly as pretraining does
(augment.make_views) and reports, against chance:
  1. the class counts and each class's mean per-frame joint speed (raw, and of the
     view's 5-frame moving average, which removes most sensor jitter): with the
     stride label the counts are balanced and the speed grows with the stride;
  2. a logistic regression on one hand-made statistic of each view (mean joint
     speed, median speed, mean acceleration): how much pace information the views
     carry that a simple motion feature exposes;
  3. an ST-GCN encoder + pace head trained for --steps SGD steps at a constant lr
     (the ablation's encoder size), on the pace loss alone and then with the spatial
     loss added (as in pretraining, its head reading --spatial-pool features): when gradient
     descent finds each label.
Accuracies are on the training views (a capacity check, not a benchmark).
"""
import argparse
import dataclasses
import json
import math
import os
import sys
import warnings

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from tqdm import tqdm  # noqa: E402

from cpstn_min import augment  # noqa: E402
from cpstn_min.config import AugmentConfig, DataConfig, ModelConfig  # noqa: E402
from cpstn_min.data import build_dataset  # noqa: E402
from cpstn_min.encoder import STGCNEncoder  # noqa: E402
from cpstn_min.errors import UsageError, run_cli  # noqa: E402
from cpstn_min.pretext import SPATIAL_POOLS, PretextHeads, pretext_classes  # noqa: E402


def speed_statistics(views: torch.Tensor) -> dict:
    """(N,3,T,V,M) views -> {name: (N,) statistic of the first body's joint motion}."""
    body = views[..., 0]
    speed = (body[:, :, 1:] - body[:, :, :-1]).norm(dim=1)                       # (N,T-1,V)
    accel = (body[:, :, 2:] - 2 * body[:, :, 1:-1] + body[:, :, :-2]).norm(dim=1)
    return {"mean joint speed": speed.mean((1, 2)), "median joint speed": speed.median(1).values.mean(1),
            "mean joint acceleration": accel.mean((1, 2))}


def logistic_accuracy(feature: torch.Tensor, labels: torch.Tensor, classes: int) -> float:
    """Training accuracy (%) of a multinomial logistic regression on one standardized feature."""
    x = feature.double().clamp_min(1e-9).log()[:, None]
    x = (x - x.mean()) / x.std()
    w = torch.zeros(1, classes, dtype=torch.float64, requires_grad=True)
    b = torch.zeros(classes, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], max_iter=200)

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(x @ w + b, labels)
        loss.backward()
        return loss
    opt.step(closure)
    return 100.0 * ((x @ w + b).argmax(1) == labels).double().mean().item()


def train_pretext(clips, valid_frames, cfg: AugmentConfig, steps: int, batch: int, lr: float,
                  hidden: int, feature_dim: int, seed: int, with_spatial: bool, spatial_pool: str):
    """ST-GCN + the model's pace head (+ its spatial head, loss added with weight 1) trained by
    SGD at a constant lr -> {task: [(loss, accuracy %) averaged over each tenth of the steps]}."""
    torch.manual_seed(seed)
    encoder = STGCNEncoder(hidden_channels=hidden, feature_dim=feature_dim)
    classes = pretext_classes(cfg)
    tasks = ("pace", "spatial") if with_spatial and "spatial" in classes else ("pace",)
    heads = PretextHeads(feature_dim, {t: classes[t] for t in tasks}, spatial_pool=spatial_pool)
    opt = torch.optim.SGD(list(encoder.parameters()) + list(heads.parameters()), lr=lr, momentum=0.9,
                          weight_decay=1e-4)
    gen = torch.Generator().manual_seed(seed)
    curves = {t: ([], []) for t in tasks}   # task -> (losses, accuracies)
    for _ in tqdm(range(steps), desc="pretext training", unit="step", leave=False):
        idx = torch.randint(len(clips), (batch,), generator=gen)
        views = augment.make_views(clips[idx], valid_frames[idx], gen, cfg, contrastive=False)
        terms = heads(encoder.forward_map(views["pretext"]), views)     # {task: (loss, accuracy)}
        opt.zero_grad(set_to_none=True)
        sum(loss for loss, _ in terms.values()).backward()
        opt.step()
        for t, (loss, acc) in terms.items():
            curves[t][0].append(loss.item())
            curves[t][1].append(100.0 * acc.item())
    return {t: [(np.mean(l), np.mean(a)) for l, a in zip(np.array_split(losses, 10), np.array_split(accs, 10))]
            for t, (losses, accs) in curves.items()}


def class_speeds(views, labels, classes: int) -> str:
    """'count / mean speed / smoothed speed' of each pace class (speeds in mm per frame)."""
    body = views[..., :1]
    flat = body.permute(0, 1, 3, 4, 2).reshape(-1, 1, body.shape[2])
    smooth = torch.nn.functional.avg_pool1d(flat, 5, 1).view(*body.shape[:2], body.shape[3], 1, -1)
    raw = (body[:, :, 1:] - body[:, :, :-1]).norm(dim=1).mean((1, 2, 3))
    motion = (smooth[..., 1:] - smooth[..., :-1]).norm(dim=1).mean((1, 2, 3))
    return "  ".join(f"{int((labels == k).sum())} / {1000 * raw[labels == k].mean():.1f} / "
                     f"{1000 * motion[labels == k].mean():.1f}" for k in range(classes))


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--synthetic-train", type=int, default=2600, help="synthetic training clips (xsub)")
    p.add_argument("--frames", type=int, default=32, help="frames per view")
    p.add_argument("--steps", type=int, default=375, help="SGD steps of each training run (0: skip them)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--hidden-channels", type=int, default=8)
    p.add_argument("--feature-dim", type=int, default=128)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--spatial-pool", choices=SPATIAL_POOLS, default=ModelConfig.spatial_pool,
                   help="what the spatial head reads (model.spatial_pool)")
    p.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE", help="augment fields, as JSON values")
    args = p.parse_args(argv)
    warnings.filterwarnings("ignore", message="The given NumPy array is not writable")

    data = build_dataset(DataConfig(synthetic_train=args.synthetic_train), train=True)
    clips = torch.from_numpy(np.asarray(data.data)).float()
    valid_frames = torch.from_numpy(np.asarray(data.valid_frames)).long()
    cfg = AugmentConfig(T_out=args.frames)
    try:
        cfg = dataclasses.replace(cfg, **{k: _value(v) for k, v in (item.split("=", 1) for item in args.set)})
    except (TypeError, ValueError) as e:
        raise UsageError(f"--set: {e}") from None
    views = augment.make_views(clips, valid_frames, torch.Generator().manual_seed(args.seed), cfg,
                               contrastive=False)
    labels, classes = views["pace_label"], pretext_classes(cfg)["pace"]
    what = (f"strides {cfg.pretext_strides} (source frames per output frame)" if cfg.pretext_pace == "stride"
            else f"crops {cfg.pretext_paces} (fraction of the valid clip)")
    print(f"pace classes: {what}; {len(labels)} views of {views['pretext'].shape[2]} frames; "
          f"chance {100 / classes:.1f}%, ln {classes} = {math.log(classes):.3f}")
    print(f"  per class, clips / mean joint speed / speed of the 5-frame average (mm per frame): "
          f"{class_speeds(views['pretext'], labels, classes)}")
    for name, value in speed_statistics(views["pretext"]).items():
        print(f"  logistic regression on {name:24s} {logistic_accuracy(value, labels, classes):5.1f}%")
    for with_spatial in ((False, True) if args.steps > 0 else ()):
        curves = train_pretext(clips, valid_frames, cfg, args.steps, args.batch_size, args.lr,
                               args.hidden_channels, args.feature_dim, args.seed, with_spatial, args.spatial_pool)
        task = (f"pace + spatial ({cfg.pretext_spatial}, head on {args.spatial_pool} features) losses"
                if "spatial" in curves else "pace loss only")
        print(f"  ST-GCN (hidden {args.hidden_channels}), {task}, {args.steps} steps at lr {args.lr:g}: "
              f"loss / accuracy per tenth of the steps:")
        for t, tenths in curves.items():
            print(f"    {t:8s}" + "  ".join(f"{l:.3f}/{a:.0f}%" for l, a in tenths))


def _value(text: str):
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return tuple(value) if isinstance(value, list) else value


if __name__ == "__main__":
    sys.exit(run_cli(main))
