"""`python -m cpstn_min.data.synthetic`: generate the dataset in memory (no cache), print its
classes, the generation time and the raw-joint baselines (baselines.py)."""
import argparse
import time

import numpy as np

from .baselines import raw_joint_baselines
from .generator import CLIP_SHAPE, generate
from .motions import ACTIONS
from .splits import SPLITS


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m cpstn_min.data.synthetic",
                                description="Generate the synthetic dataset in memory (no cache), "
                                            "print its classes, timing and raw-joint baselines.")
    p.add_argument("--split", choices=SPLITS, default="xsub")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--train", type=int, default=1200)
    p.add_argument("--val", type=int, default=600)
    p.add_argument("--style", type=float, default=0.0, help="0..1: how much each performer does each action "
                                                             "their own way (DataConfig.synthetic_style)")
    args = p.parse_args(argv)
    parts = []
    for train, n in ((True, args.train), (False, args.val)):
        data = np.zeros((n,) + CLIP_SHAPE, dtype=np.float32)
        start = time.perf_counter()
        meta = generate(args.seed, args.split, train, n, data, style=args.style)
        valid = meta["valid_frames"]
        seconds = time.perf_counter() - start
        print(f"{args.split} {'train' if train else 'val'}: {n} clips in {seconds:.1f} s, "
              f"valid frames {valid.min()}..{valid.max()} (median {int(np.median(valid))})")
        parts.append((data, valid, meta["labels"]))
    for c, action in enumerate(ACTIONS):
        print(f"  {c:2d} {action.name}{' (two persons)' if action.two_person else ''}")
    for name, acc in raw_joint_baselines(*parts).items():
        print(f"{name}: {100 * acc:.1f}%")


if __name__ == "__main__":
    main()
