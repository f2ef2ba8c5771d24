"""Restartable parsing for `prepare`: parsed files are kept in shards under <out>/.partial/.

Each shard (shard_00000.npz, written to a temporary name and renamed, so a shard on disk
is always complete) holds a run of parsed files:
    names   (S,) str     sample names
    errors  (S,) str     "" or the error that made the file unusable
    lengths (S,) int64   frames L_i of each clip (0 for a bad file)
    bodies  (S,) int64   distinct bodies in the file
    frames  (sum L_i, 2, 25, 3) float32   the clips' frames, concatenated
An interrupted run finds the files already in shards and parses only the rest. Shards
hold raw (uncentred, untruncated) clips, so they do not depend on the output options.
"""
import glob
import json
import os
import shutil

import numpy as np

from ...atomic import atomic_write
from ...errors import DataError
from ..common import MAX_BODIES, NUM_JOINTS
from .clip import clip_from_skeleton
from .skeleton_text import parse_skeleton, sample_name

SHARD_FILES = 256
_VERSION = 1
_EMPTY = np.zeros((0, MAX_BODIES, NUM_JOINTS, 3), np.float32)


def parse_file(path):
    """Worker: path -> (name, clip (L,2,25,3) float32 or None, bodies, error message)."""
    try:
        sk = parse_skeleton(path)
        return sample_name(path), clip_from_skeleton(sk), len(sk.body_ids), ""
    except DataError as e:
        msg = str(e)
        return sample_name(path), None, 0, msg if msg.startswith(str(path)) else f"{path}: {msg}"


class ShardStore:
    def __init__(self, out_dir, identity: dict):
        self.dir = os.path.join(out_dir, ".partial")
        self.identity = dict(identity, version=_VERSION)
        state = os.path.join(self.dir, "state.json")
        if os.path.isdir(self.dir):
            try:
                with open(state) as f:
                    same = json.load(f) == self.identity
            except (OSError, ValueError):
                same = False
            if not same:
                print(f"{self.dir}: partial results of a different run; starting over")
                shutil.rmtree(self.dir)
        if not os.path.isdir(self.dir):
            os.makedirs(self.dir)
            with atomic_write(state, "w") as f:
                json.dump(self.identity, f)

    def shard_paths(self):
        return sorted(glob.glob(os.path.join(self.dir, "shard_*.npz")))

    def done_names(self) -> set:
        done = set()
        for path in self.shard_paths():
            try:
                with np.load(path, allow_pickle=False) as z:
                    done.update(z["names"].tolist())
            except (OSError, ValueError, KeyError):
                os.remove(path)                     # unreadable: its files are parsed again
        return done

    def write(self, results):
        """results: list of parse_file outputs -> one new shard."""
        if not results:
            return
        paths = self.shard_paths()
        index = int(os.path.basename(paths[-1])[6:11]) + 1 if paths else 0
        clips = [c if c is not None else _EMPTY for _, c, _, _ in results]
        arrays = dict(names=np.array([r[0] for r in results]), errors=np.array([r[3] for r in results]),
                      lengths=np.array([len(c) for c in clips], np.int64),
                      bodies=np.array([r[2] for r in results], np.int64),
                      frames=np.concatenate(clips).astype(np.float32))
        with atomic_write(os.path.join(self.dir, f"shard_{index:05d}.npz")) as f:
            np.savez(f, **arrays)

    def summary(self):
        """(names, errors, lengths, bodies) of every file in the shards."""
        parts = []
        for path in self.shard_paths():
            with np.load(path, allow_pickle=False) as z:
                parts.append((z["names"], z["errors"], z["lengths"], z["bodies"]))
        if not parts:
            return np.zeros(0, str), np.zeros(0, str), np.zeros(0, np.int64), np.zeros(0, np.int64)
        return tuple(np.concatenate(x) for x in zip(*parts))

    def clips(self):
        """Yields (name, clip (L,2,25,3)) for every good file, shard by shard."""
        for path in self.shard_paths():
            with np.load(path, allow_pickle=False) as z:
                names, errors, lengths, frames = z["names"], z["errors"], z["lengths"], z["frames"]
            ends = np.cumsum(lengths)
            for name, err, end, n in zip(names, errors, ends, lengths):
                if not err:
                    yield str(name), frames[end - n:end]

    def remove(self):
        shutil.rmtree(self.dir, ignore_errors=True)
