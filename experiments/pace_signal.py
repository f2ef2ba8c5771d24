"""Is the pace label learnable? A check of the pretext task on the synthetic data.

    python experiments/pace_signal.py                # speed statistics + a short pace-only training
    python experiments/pace_signal.py --steps 0      # only the speed statistics (seconds)

Builds pretext views of synthetic training clips exactly as pretraining does
(augment.make_views) and reports, against chance:
  1. a logistic regression on one hand-made statistic of each view (mean joint
     speed, median speed, mean acceleration): how much pace information the views
     carry that a simple motion feature exposes;
  2. an ST-GCN encoder + pace head trained for --steps SGD steps at a constant lr
     (the ablation's encoder size and lr), on the pace loss alone and then with the
     rotation loss added (as in pretraining): when gradient descent finds the label.
Both accuracies are on the training views (a capacity check, not a benchmark).
"""
import argparse
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
from cpstn_min.config import AugmentConfig, DataConfig  # noqa: E402
from cpstn_min.data import build_dataset  # noqa: E402
from cpstn_min.encoder import STGCNEncoder  # noqa: E402
from cpstn_min.errors import run_cli  # noqa: E402
from cpstn_min.pretext import PretextHeads, pretext_classes  # noqa: E402


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
                  hidden: int, feature_dim: int, seed: int, with_rotation: bool):
    """ST-GCN + the model's pace head (+ its rotation head, loss added with weight 1) trained by
    SGD at a constant lr -> pace loss and accuracy (%) averaged over each tenth of the steps."""
    torch.manual_seed(seed)
    encoder = STGCNEncoder(hidden_channels=hidden, feature_dim=feature_dim)
    classes = pretext_classes(cfg)
    heads = PretextHeads(feature_dim, {t: classes[t] for t in (("pace", "rot") if with_rotation else ("pace",))})
    opt = torch.optim.SGD(list(encoder.parameters()) + list(heads.parameters()), lr=lr, momentum=0.9,
                          weight_decay=1e-4)
    gen = torch.Generator().manual_seed(seed)
    losses, accs = [], []
    for _ in tqdm(range(steps), desc="pretext training", unit="step", leave=False):
        idx = torch.randint(len(clips), (batch,), generator=gen)
        views = augment.make_views(clips[idx], valid_frames[idx], gen, cfg, contrastive=False)
        terms = heads(encoder(views["pretext"]), views)                 # {task: (loss, accuracy)}
        opt.zero_grad(set_to_none=True)
        sum(loss for loss, _ in terms.values()).backward()
        opt.step()
        losses.append(terms["pace"][0].item())
        accs.append(100.0 * terms["pace"][1].item())
    return [(np.mean(l), np.mean(a)) for l, a in zip(np.array_split(losses, 10), np.array_split(accs, 10))]


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--synthetic-train", type=int, default=600, help="synthetic training clips (xsub)")
    p.add_argument("--frames", type=int, default=32, help="frames per view")
    p.add_argument("--steps", type=int, default=375, help="SGD steps of each training run (0: skip them)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--hidden-channels", type=int, default=8)
    p.add_argument("--feature-dim", type=int, default=128)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    warnings.filterwarnings("ignore", message="The given NumPy array is not writable")

    data = build_dataset(DataConfig(synthetic_train=args.synthetic_train), train=True)
    clips = torch.from_numpy(np.asarray(data.data)).float()
    valid_frames = torch.from_numpy(np.asarray(data.valid_frames)).long()
    cfg = AugmentConfig(T_out=args.frames)
    views = augment.make_views(clips, valid_frames, torch.Generator().manual_seed(args.seed), cfg,
                               contrastive=False)
    labels, classes = views["pace_label"], len(cfg.pretext_paces)
    print(f"pace classes {cfg.pretext_paces} (fraction of the valid clip), {len(labels)} views of "
          f"{args.frames} frames; chance {100 / classes:.1f}%, ln {classes} = {math.log(classes):.3f}")
    for name, value in speed_statistics(views["pretext"]).items():
        print(f"  logistic regression on {name:24s} {logistic_accuracy(value, labels, classes):5.1f}%")
    for with_rotation in ((False, True) if args.steps > 0 else ()):
        tenths = train_pretext(clips, valid_frames, cfg, args.steps, args.batch_size, args.lr,
                               args.hidden_channels, args.feature_dim, args.seed, with_rotation)
        task = "pace + rotation losses" if with_rotation else "pace loss only"
        print(f"  ST-GCN (hidden {args.hidden_channels}), {task}, {args.steps} steps at lr {args.lr:g}: "
              f"pace loss / accuracy per tenth of the steps:")
        print("    " + "  ".join(f"{l:.3f}/{a:.0f}%" for l, a in tenths))


if __name__ == "__main__":
    sys.exit(run_cli(main))
