"""Raw NTU RGB+D `.skeleton` files -> memory-mappable arrays for training.

    python -m cpstn_min.data.ntu.prepare --dataset ntu60 --raw-dir nturgb+d_skeletons --out data/ntu60
    python -m cpstn_min.data.ntu.prepare --dataset ntu120 --raw-dir nturgb+d_skeletons --out data/ntu120

Steps: list the files (recursively), skip the official missing-skeleton samples and
samples of the other dataset; parse in parallel (--workers, tqdm bar) into restartable
shards (shards.py); then write for each split (xsub/xview for ntu60, xsub/xset
for ntu120) and part (train/val):
    <out>/<split>/<part>_data.npy   (N,3,T,25,2) float32, T = --max-frames (300), zero padded
    <out>/<split>/<part>_meta.npz   names (N,), labels (N,) = action-1, valid_frames (N,), bodies (N,)
and last <out>/manifest.json (counts per split and class, options, bad files). Arrays
are written under temporary names, fsynced and renamed; the manifest is removed before and
written after them, so only a finished run has one. Clips keep the 2 most active
bodies and drop frames without a body; --no-center keeps camera coordinates instead of
moving the spine joint of frame 0 to the origin. A bad file is reported and skipped
(--strict: stop at the first one).
"""
import argparse
import contextlib
import json
import multiprocessing
import os
import sys
import time

import numpy as np
from tqdm import tqdm

from ...atomic import atomic_write
from ...errors import DataError, UsageError, run_cli
from ...folders import make_folder
from ..common import MAX_BODIES, NUM_JOINTS, SPINE_JOINT, centre_clip
from ..mapped import atomic_open_memmap
from .layouts import MANIFEST, PREPARED_FORMAT
from .missing import missing_samples
from .splits import DATASETS, belongs_to, is_training, parse_name
from .shards import SHARD_FILES, ShardStore, parse_file
from .skeleton_text import sample_name

NTU60_FILES, NTU120_FILES = 56880, 114480


def list_samples(raw_dir, dataset):
    """-> (paths to parse, sorted by name; counts of skipped files; list of (name, error) for bad names)."""
    if not os.path.isdir(raw_dir):
        raise DataError(f"raw folder {raw_dir} does not exist; expected the extracted NTU RGB+D skeleton "
                        f"files (e.g. nturgb+d_skeletons/S001C001P001R001A001.skeleton)")
    found = {}
    bad, skipped = [], {"missing_skeletons": 0, "other_dataset": 0}
    missing = missing_samples(dataset)
    for folder, dirs, files in os.walk(raw_dir):
        dirs.sort()                                  # a deterministic order of reports
        for f in sorted(files):
            if not f.endswith(".skeleton"):
                continue
            path, name = os.path.join(folder, f), sample_name(f)
            fields = parse_name(name)
            if fields is None:
                bad.append((name, f"{path}: file name is not of the form SsssCcccPpppRrrrAaaa.skeleton"))
            elif not belongs_to(fields, dataset):
                skipped["other_dataset"] += 1
            elif name in missing:
                skipped["missing_skeletons"] += 1
            elif name in found:
                bad.append((name, f"{path}: duplicate of {found[name]}"))
            else:
                found[name] = path
    if not found:
        raise DataError(f"no {dataset} .skeleton files under {raw_dir}; expected the extracted NTU RGB+D "
                        f"skeleton files (e.g. S001C001P001R001A001.skeleton)")
    return [found[n] for n in sorted(found)], skipped, bad


def parse_all(paths, store, workers, strict):
    """Parses `paths` into shards; returns (files parsed, seconds)."""
    start, buffer = time.perf_counter(), []
    # spawn, not Linux's default fork: a child forked while another thread (torch's pools, a progress
    # bar's monitor) holds a lock can wait on it forever; it hung the test suite once
    pool = multiprocessing.get_context("spawn").Pool(workers) if workers > 1 and len(paths) > 1 else None
    results = pool.imap(parse_file, paths, chunksize=8) if pool else map(parse_file, paths)
    try:
        with tqdm(results, total=len(paths), unit="file", desc="parsing", disable=not paths) as bar:
            for result in bar:             # the bar closes on any error, so the error gets a line of its own
                buffer.append(result)
                if strict and result[3]:
                    raise DataError(f"{result[3]}\n(--strict: stopped at the first bad file; without --strict bad "
                                    f"files are listed and skipped)")
                if len(buffer) == SHARD_FILES:
                    store.write(buffer)
                    buffer = []
    finally:
        store.write(buffer)                 # keep what was parsed, also on error or Ctrl-C
        if pool:
            pool.terminate()
    return len(paths), time.perf_counter() - start


def report_speed(n, seconds, workers):
    if n == 0:
        return
    rate = n / max(seconds, 1e-9)
    print(f"parsed {n} files in {seconds:.1f} s with {workers} worker(s): {rate:.0f} files/s; at this rate the "
          f"{NTU60_FILES:,} files of NTU-60 take ~{NTU60_FILES / rate / 60:.1f} min, the {NTU120_FILES:,} of "
          f"NTU-120 ~{NTU120_FILES / rate / 60:.1f} min")


def assemble(store, out, dataset, centre, max_frames):
    """Writes the split arrays and returns the manifest's 'splits' entry and the truncation count."""
    info = DATASETS[dataset]
    names, errors, lengths, bodies = store.summary()
    good = np.flatnonzero(errors == "")
    order = good[np.argsort(names[good])]
    fields = [parse_name(str(n)) for n in names[order]]
    labels = np.array([f["action"] - 1 for f in fields], np.int64)
    valid = np.minimum(lengths[order], max_frames)
    arrays, metas, splits = {}, {}, {}
    with contextlib.ExitStack() as written:             # each array reaches its final name only when full
        for split in info["splits"]:
            os.makedirs(os.path.join(out, split), exist_ok=True)
            train = np.array([is_training(f, split) for f in fields], bool)
            splits[split] = {}
            for part, mask in (("train", train), ("val", ~train)):
                rows = np.flatnonzero(mask)
                data_rel, meta_rel = f"{split}/{part}_data.npy", f"{split}/{part}_meta.npz"
                arr = written.enter_context(atomic_open_memmap(
                    os.path.join(out, data_rel), np.float32, (len(rows), 3, max_frames, NUM_JOINTS, MAX_BODIES)))
                arrays[(split, part)] = (arr, {str(n): r for r, n in enumerate(names[order][rows])})
                metas[meta_rel] = dict(names=names[order][rows], labels=labels[rows], valid_frames=valid[rows],
                                       bodies=bodies[order][rows])
                splits[split][part] = dict(count=int(len(rows)), data=data_rel, meta=meta_rel,
                                           per_class=np.bincount(labels[rows], minlength=info["num_classes"]).tolist())
        with tqdm(store.clips(), total=len(order), unit="clip", desc="writing arrays") as bar:
            for name, clip in bar:
                clip = clip[:max_frames].transpose(3, 0, 2, 1)                  # (L,2,25,3) -> (3,L,25,2)
                if centre:
                    clip = centre_clip(clip)
                for arr, row_of in arrays.values():
                    if name in row_of:
                        arr[row_of[name], :, :clip.shape[1]] = clip
    for meta_rel, meta in metas.items():
        with atomic_write(os.path.join(out, meta_rel)) as f:
            np.savez(f, **meta)
    return splits, int((lengths[order] > max_frames).sum())


def prepare(dataset, raw_dir, out, workers=None, strict=False, centre=True, max_frames=300):
    """Runs every step; returns the manifest dict. Raises DataError on unusable input."""
    if dataset not in DATASETS:
        raise DataError(f"unknown dataset {dataset!r}; choose one of {sorted(DATASETS)}")
    if max_frames < 1:
        raise DataError(f"--max-frames must be at least 1, got {max_frames}")
    if workers is not None and workers < 0:
        raise UsageError(f"--workers must be >= 0 (0: all cores), got {workers}")
    workers = workers or os.cpu_count() or 1
    paths, skipped, bad_names = list_samples(raw_dir, dataset)
    if strict and bad_names:
        raise DataError(bad_names[0][1])
    options = dict(centre=centre, centre_joint=SPINE_JOINT + 1, max_frames=max_frames, max_bodies=MAX_BODIES)
    manifest_path = os.path.join(out, MANIFEST)
    if os.path.exists(manifest_path):
        with open(manifest_path) as f:
            old = json.load(f)
        if old.get("options") == options and old.get("files_found") == len(paths) and old.get("dataset") == dataset:
            print(f"{out} is already prepared ({manifest_path}); delete it to prepare again")
            return old
        os.remove(manifest_path)            # the outputs are rewritten: never leave a stale manifest
    make_folder(out, "--out")
    store = ShardStore(out, dict(dataset=dataset, raw_dir=os.path.abspath(raw_dir)))
    done = store.done_names()
    todo = [p for p in paths if sample_name(p) not in done]
    if done:
        print(f"resuming: {len(paths) - len(todo)} of {len(paths)} files already parsed")
    report_speed(*parse_all(todo, store, workers, strict), workers)
    names, errors, _, _ = store.summary()
    bad = bad_names + [(str(n), str(e)) for n, e in zip(names, errors) if e]
    if len(names) == len(bad) - len(bad_names):
        raise DataError(f"none of the {len(names)} files under {raw_dir} could be read; first error:\n{bad[-1][1]}")
    splits, truncated = assemble(store, out, dataset, centre, max_frames)
    manifest = dict(format=PREPARED_FORMAT, version=1, dataset=dataset, num_classes=DATASETS[dataset]["num_classes"],
                    layout="data (N,3,T,25,2) float32; meta: names, labels, valid_frames, bodies",
                    options=options, source=os.path.abspath(raw_dir), files_found=len(paths),
                    skipped=skipped, truncated_clips=truncated, splits=splits,
                    bad_files=[dict(name=n, error=e) for n, e in bad])
    with atomic_write(manifest_path, "w") as f:
        json.dump(manifest, f, indent=1)
    store.remove()
    _print_summary(manifest, out)
    return manifest


def _print_summary(manifest, out):
    for split, parts in manifest["splits"].items():
        print(f"{split}: {parts['train']['count']} train / {parts['val']['count']} val clips")
    s = manifest["skipped"]
    print(f"skipped {s['missing_skeletons']} samples of the official missing-skeleton list"
          + (f" and {s['other_dataset']} files of the other NTU dataset" if s["other_dataset"] else ""))
    if manifest["truncated_clips"]:
        print(f"{manifest['truncated_clips']} clips were longer than {manifest['options']['max_frames']} frames "
              f"and were cut (--max-frames)")
    bad = manifest["bad_files"]
    if bad:
        print(f"{len(bad)} bad file(s) skipped:", file=sys.stderr)
        for b in bad[:20]:
            print(f"  {b['error']}", file=sys.stderr)
        if len(bad) > 20:
            print(f"  ... all {len(bad)} are listed in {os.path.join(out, MANIFEST)} under 'bad_files'",
                  file=sys.stderr)
    print(f"wrote {out}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m cpstn_min.data.ntu.prepare", description=__doc__.split("\n")[0])
    p.add_argument("--dataset", required=True, choices=sorted(DATASETS))
    p.add_argument("--raw-dir", required=True, help="folder with the .skeleton files (searched recursively)")
    p.add_argument("--out", required=True, help="output folder (use it as --data-root)")
    p.add_argument("--workers", type=int, default=None, help="parser processes (default: all cores)")
    p.add_argument("--strict", action="store_true", help="stop at the first bad file")
    p.add_argument("--no-center", dest="centre", action="store_false",
                   help="keep camera coordinates (default: centre on the spine joint of frame 0)")
    p.add_argument("--max-frames", type=int, default=300, help="frames per clip array (default 300)")
    args = p.parse_args(argv)
    return run_cli(lambda: prepare(args.dataset, args.raw_dir, args.out, args.workers, args.strict, args.centre,
                                   args.max_frames), interrupted_hint="run the same command again to resume")


if __name__ == "__main__":
    sys.exit(main())
