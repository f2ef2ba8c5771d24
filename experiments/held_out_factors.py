"""What does a held-out split cost a pretrained encoder: new performers, or new cameras?

    python experiments/held_out_factors.py runs/ablation/xsub/seed1/skeletonclr runs/ablation/xsub/seed1/cpstn ...

Each RUN is a pretraining on the synthetic data (its config.json and checkpoint.pt). The kNN and the
default (standardized) linear probe are fitted on the features of the run's own training clips and
tested on the *other* split's validation clips, which mix the held-out factor with its absence:

  xsub run   tested on the xview validation clips: all 40 performers, cameras at |yaw| 15-30 deg,
             inside the +-45 deg the xsub clips are filmed from. Grouped by performer: among the 20
             xsub training performers ("seen") or not ("unseen"; clips whose two performers fall on
             both sides count in neither).
  xview run  tested on the xsub validation clips: 20 performers, all of them in xview training,
             cameras anywhere in +-45 deg. Grouped by camera: |yaw| in the sectors xview trains on
             ("seen") or in the 15-30 deg sector it holds out ("unseen").

With runs of both a contrastive-only and a CP-STN pretraining of the same seeds it also prints
CP-STN minus SkeletonCLR, paired by seed, in each group (mean and 95% CI). --out writes every
number as JSON.
"""
import argparse
import dataclasses
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402
import torch  # noqa: E402

from cpstn_min.config import EvalConfig  # noqa: E402
from cpstn_min.data import build_dataset  # noqa: E402
from cpstn_min.data.synthetic.splits import XVIEW_VAL_YAW, performer_pool  # noqa: E402
from cpstn_min.errors import UsageError, run_cli  # noqa: E402
from cpstn_min.evaluation.features import extract_features  # noqa: E402
from cpstn_min.evaluation.knn import knn_scores  # noqa: E402
from cpstn_min.evaluation.linear import train_linear_probe  # noqa: E402
from cpstn_min.pretrained import load_pretrained_encoder  # noqa: E402

from experiments.stats import difference_cell  # noqa: E402
from experiments.tables import write_json  # noqa: E402

GROUPS = ("seen", "unseen")
COLUMNS = ("knn", "probe")
PROTOCOLS = EvalConfig().with_epochs(100)   # eval.py's kNN and default probe, 100 epochs as in the ablation
OTHER_SPLIT = {"xsub": "xview", "xview": "xsub"}
FACTOR = {"xsub": "performer", "xview": "camera"}         # what each split holds out


def performer_groups(performers: np.ndarray, seen_ids: np.ndarray) -> dict:
    """performers (n,2) 0-based ids (-1: no second body) -> {"seen": mask, "unseen": mask}: every
    performer of the clip among seen_ids, or none of them (mixed clips are in neither)."""
    present = performers >= 0
    seen = np.isin(performers, seen_ids) & present
    return {"seen": (seen | ~present).all(1), "unseen": (~seen).all(1)}


def camera_groups(yaw: np.ndarray) -> dict:
    """yaw (n,) degrees -> {"seen": |yaw| in xview's training sectors, "unseen": in its held-out sector}."""
    lo, hi = XVIEW_VAL_YAW
    held_out = (np.abs(yaw) >= lo) & (np.abs(yaw) < hi)
    return {"seen": ~held_out, "unseen": held_out}


def top1_by_group(scores: torch.Tensor, labels: torch.Tensor, groups: dict) -> dict:
    """Top-1 (%) of the class scores within each group of test clips (nan for a group without clips)."""
    hit = (scores.argmax(1) == labels).numpy()
    return {g: 100.0 * float(hit[mask].mean()) if mask.any() else float("nan") for g, mask in groups.items()}


def variant_of(cfg) -> str:
    return "cpstn" if cfg.model.pretext and cfg.model.contrastive else (
        "skeletonclr" if cfg.model.contrastive else "pretext-only")


def evaluate_run(run: str, progress: bool) -> dict:
    """One pretraining -> {variant, seed, split, factor, "knn"/"probe": {group: top1}, clips per group}."""
    path = os.path.join(run, "checkpoint.pt")
    if not os.path.isfile(path):
        raise UsageError(f"{run}: no checkpoint.pt (give the folder of a finished pretraining)")
    encoder, cfg = load_pretrained_encoder(path)
    split = cfg.data.split
    if cfg.data.dataset != "synthetic" or split not in OTHER_SPLIT:
        raise UsageError(f"{run}: pretrained on {cfg.data.dataset} {split}; this check needs the synthetic "
                         f"xsub or xview split (only there are performers and cameras known per clip)")
    train_set = build_dataset(cfg.data, True)
    test_set = build_dataset(dataclasses.replace(cfg.data, split=OTHER_SPLIT[split]), False)
    T = cfg.augment.T_out
    train_x, train_y = extract_features(encoder, train_set, T, progress=progress, desc=f"{split} train")
    test_x, test_y = extract_features(encoder, test_set, T, progress=progress, desc=f"{OTHER_SPLIT[split]} test")
    groups = (performer_groups(np.asarray(test_set.performers), performer_pool("xsub", True)) if split == "xsub"
              else camera_groups(np.asarray(test_set.camera_yaw)))
    C = train_set.num_classes
    e = PROTOCOLS
    probe = train_linear_probe(train_x, train_y, test_x, test_y, C, e.linear_epochs, e.probe_lr, e.linear_momentum,
                               e.linear_milestones, e.linear_batch_size, cfg.train.seed, progress,
                               standardize=e.linear_probe == "standardized")
    knn = knn_scores(train_x, train_y, test_x, C, e.knn_k, e.knn_temperature)
    return {"run": run, "variant": variant_of(cfg), "seed": cfg.train.seed, "split": split,
            "factor": FACTOR[split], "clips": {g: int(m.sum()) for g, m in groups.items()},
            "knn": top1_by_group(knn, test_y, groups),
            "probe": top1_by_group(probe["test_logits"], test_y, groups)}


def paired_lines(results: list) -> list:
    """CP-STN minus SkeletonCLR, paired by split and seed, per group and column."""
    by = {(r["split"], r["variant"], r["seed"]): r for r in results}
    lines = []
    for split in OTHER_SPLIT:
        seeds = sorted(s for sp, v, s in by if sp == split and v == "cpstn" and (split, "skeletonclr", s) in by)
        if not seeds:
            continue
        lines.append(f"{split} runs, CP-STN - SkeletonCLR, paired by seed ({', '.join(map(str, seeds))}), "
                     f"by {FACTOR[split]}:")
        for g in GROUPS:
            cells = [f"{c} " + difference_cell([by[split, "cpstn", s][c][g] for s in seeds],
                                               [by[split, "skeletonclr", s][c][g] for s in seeds]) for c in COLUMNS]
            lines.append(f"  {g:7s} " + ", ".join(cells))
    return lines


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="+", metavar="RUN", help="folders of synthetic xsub or xview pretrainings")
    p.add_argument("--out", help="write every number to this JSON file")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    results = []
    for run in args.runs:
        r = evaluate_run(run, not args.no_progress)
        results.append(r)
        print(f"{r['split']} {r['variant']:12s} seed {r['seed']}, by {r['factor']}: " + "; ".join(
            f"{g} ({r['clips'][g]} clips) kNN {r['knn'][g]:.1f} probe {r['probe'][g]:.1f}" for g in GROUPS),
            flush=True)
    for line in paired_lines(results):
        print(line)
    if args.out:
        write_json(args.out, {"results": results})
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
