"""The first pretraining steps on two devices from one seed: the losses must agree.

    python benchmarks/first_step_parity.py --devices cpu,cuda [--json FILE]

Both runs go through the typed API (cpstn_min.training.prepare + train_step) with the
same Config but the device: prepare seeds every RNG and builds the model on the CPU
before moving it, the data order depends only on the seed, and the augmentation
parameters come from a CPU generator, so both devices see the same weights, batch and
views. TF32 is switched off so CUDA computes in true float32. A loss term passes when
|a - b| <= TOL * max(1, |a|), TOL = 1e-3 (float32 sums in another order, through ten
layers with batch norm, differ by ~1e-6 relative; a wrong kernel by far more).
The accuracies and the second step's losses (after one SGD update) are reported, not judged.
Exit 1 when a first-step term differs by more than that.
"""
import argparse
import json
import os
import sys
import tempfile

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from cpstn_min import ops, training  # noqa: E402
from cpstn_min.config import Config  # noqa: E402

TOL = 1e-3


def config(device, out_dir, args) -> Config:
    cfg = Config()
    cfg.data.synthetic_train, cfg.data.cache_dir = args.synthetic_train, args.cache_dir
    cfg.augment.T_out, cfg.model.hidden_channels = args.frames, args.hidden_channels
    cfg.train.batch_size, cfg.train.device, cfg.train.out_dir = args.batch_size, device, out_dir
    cfg.train.overwrite, cfg.train.seed = True, args.seed
    return cfg


def first_steps(cfg: Config, steps: int):
    run = training.prepare(cfg, log=lambda *a, **k: None)
    batches = iter(run.loader)
    losses = []
    for _ in range(steps):
        clips, valid_frames, _, _ = next(batches)
        losses.append({k: float(v) for k, v in training.train_step(run, clips, valid_frames).items()})
    return losses, ops.backend(run.device)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--devices", default="cpu,cuda", help="two devices, comma-separated")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--frames", type=int, default=50)
    p.add_argument("--hidden-channels", type=int, default=16)
    p.add_argument("--synthetic-train", type=int, default=1200)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--cache-dir", default=None, help="synthetic data cache (default: cpstn's)")
    p.add_argument("--work-dir", default=None, help="run folders (default: a temporary folder)")
    p.add_argument("--json", help="also write the result here")
    args = p.parse_args(argv)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    devices = args.devices.split(",")
    work = args.work_dir or tempfile.mkdtemp(prefix="cpstn_parity_")
    results = {}
    for i, dev in enumerate(devices):
        losses, backend = first_steps(config(dev, os.path.join(work, f"run{i}_{dev}"), args), 2)
        results[dev if dev not in results else f"{dev}#{i}"] = {"backend": backend, "steps": losses}
    (a_name, a), (b_name, b) = results.items()
    first_a, first_b = a["steps"][0], b["steps"][0]
    # accuracies are counts of argmax hits: a last-bit difference may flip one, so they are shown, not judged
    diffs = {k: abs(first_a[k] - first_b[k]) / max(1.0, abs(first_a[k])) for k in first_a if not k.startswith("acc")}
    worst = max(diffs.values())
    record = {"devices": devices, "tolerance": f"|a-b| <= {TOL} * max(1, |a|) per loss term, first step",
              "tf32": False, "batch_size": args.batch_size, "frames": args.frames,
              "hidden_channels": args.hidden_channels, "seed": args.seed, "runs": results,
              "first_step_scaled_diff": diffs, "worst_scaled_diff": worst, "ok": worst <= TOL}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(record, f, indent=2)
    print(f"first-step loss {a_name} {first_a['loss']:.6f} vs {b_name} {first_b['loss']:.6f}; "
          f"worst term difference {worst:.2e} (tolerance {TOL:.0e}): {'ok' if record['ok'] else 'DIFFERENT'}")
    print("first_step_parity: " + json.dumps({"ok": record["ok"], "worst_scaled_diff": worst,
                                              "loss": {a_name: first_a["loss"], b_name: first_b["loss"]}}))
    return 0 if record["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
