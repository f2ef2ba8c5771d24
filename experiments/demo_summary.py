"""The demo's last word: a pretrained encoder beside a random-init one of the same configuration.

    python experiments/demo_summary.py --checkpoint runs/demo/checkpoint.pt

Runs the default linear probe (standardized features) and kNN on the frozen features of both
encoders through evaluation.evaluate (results next to the checkpoint, random_init/ for the
random one), prints a small table and ends with the line
`demo linear top1=XX.XX (random init YY.YY) knn top1=... (random init ...)`.
"""
import argparse
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from cpstn_min.config import EvalConfig  # noqa: E402
from cpstn_min.errors import run_cli  # noqa: E402
from cpstn_min.evaluation import evaluate  # noqa: E402
from cpstn_min.evaluation.linear import probe_failed  # noqa: E402

PROTOCOLS = ("linear", "knn")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", required=True, help="RUN/checkpoint.pt written by train.py")
    p.add_argument("--device", default="cpu")
    args = p.parse_args(argv)
    top1 = {}
    for random_init in (False, True):
        for protocol in PROTOCOLS:
            record = evaluate(EvalConfig(protocol=protocol, checkpoint=args.checkpoint, random_init=random_init,
                                         device=args.device, progress=False), log=lambda *a: None)
            top1[protocol, random_init] = record["top1"]
            if protocol == "linear" and probe_failed(record["curves"], record["num_classes"]):
                print(f"warning: the {'random-init' if random_init else 'pretrained'} linear probe did not converge")
    chance = 100.0 / record["num_classes"]
    print(f"{'top-1 (%)':<24}{'pretrained':>12}{'random init':>13}")
    for protocol in PROTOCOLS:
        name = "linear probe" if protocol == "linear" else "kNN (k=20)"
        print(f"{name:<24}{top1[protocol, False]:>12.2f}{top1[protocol, True]:>13.2f}")
    print(f"{'chance':<24}{chance:>12.2f}{chance:>13.2f}")
    print("demo " + " ".join(f"{p} top1={top1[p, False]:.2f} (random init {top1[p, True]:.2f})" for p in PROTOCOLS))


if __name__ == "__main__":
    sys.exit(run_cli(main))
