"""Writers that emit NTU RGB+D data in the exact layouts users have, for tests.

- raw `.skeleton` text (FORMAT: ../shared/ntu/FORMAT.txt): realistic Kinect v2 values,
  0-body frames, 1-3 bodies, CRLF or LF line endings;
- ST-GCN/AimCLR `{train,val}_data_joint.npy` (N,3,T,25,M) + `{train,val}_label.pkl` = (names, labels);
- CTR-GCN `NTU60_CS.npz`: x_train/x_test (N,T,M*25*3), y_train/y_test one-hot (N,classes);
- pyskl annotation pickle: {'split': {...}, 'annotations': [{'frame_dir', 'label', 'keypoint' (M,T,V,C), ...}]}.

Clips are (3,T,V,M) float32 with V=25 joints, M=2 bodies, zero padded.
"""
import os
import pickle

import numpy as np

V = 25
# standing pose, metres, offset of each joint from its parent (1-based joint numbers, Kinect v2 order);
# bone lengths follow the median lengths measured on a real NTU sample
_PARENT_OFFSET = {
    1: (None, (0.0, 0.0, 0.0)), 2: (1, (0.0, 0.271, 0.0)), 21: (2, (0.0, 0.202, 0.0)),
    3: (21, (0.0, 0.067, 0.0)), 4: (3, (0.0, 0.133, 0.0)),
    5: (21, (-0.153, -0.025, 0.0)), 6: (5, (-0.04, -0.24, 0.0)), 7: (6, (0.0, -0.232, 0.02)),
    8: (7, (0.0, -0.067, 0.0)), 23: (8, (0.02, -0.037, 0.0)), 22: (23, (0.0, -0.045, 0.0)),
    9: (21, (0.127, -0.025, 0.0)), 10: (9, (0.04, -0.202, 0.0)), 11: (10, (0.0, -0.184, 0.02)),
    12: (11, (0.0, -0.062, 0.0)), 25: (12, (-0.02, -0.035, 0.0)), 24: (25, (0.0, -0.053, 0.0)),
    13: (1, (-0.054, -0.01, 0.0)), 14: (13, (-0.01, -0.335, 0.0)), 15: (14, (0.0, -0.327, 0.01)),
    16: (15, (0.0, -0.03, -0.116)), 17: (1, (0.079, -0.01, 0.0)), 18: (17, (0.01, -0.313, 0.0)),
    19: (18, (0.0, -0.343, 0.01)), 20: (19, (0.0, -0.03, -0.078)),
}
_ARM_CHAIN = (9, 10, 11, 12, 24, 25)   # joints that swing with the right arm, by distance from the shoulder


def _template():
    pose = np.zeros((V, 3))
    for j in sorted(_PARENT_OFFSET, key=_depth):
        parent, offset = _PARENT_OFFSET[j]
        pose[j - 1] = (pose[parent - 1] if parent else 0.0) + np.asarray(offset)
    return pose


def _depth(j):
    parent = _PARENT_OFFSET[j][0]
    return 0 if parent is None else 1 + _depth(parent)


TEMPLATE = _template()


def body_motion(rng, frames, amplitude, origin=(0.2, 0.17, 3.8)):
    """(frames,25,3) float64 camera-space metres: a body waving its right arm with `amplitude`
    (m, the body's activity), drifting slowly, with ~3 mm Kinect-like jitter."""
    t = np.arange(frames)[:, None]
    phase = rng.uniform(0, 2 * np.pi)
    xyz = np.broadcast_to(TEMPLATE, (frames, V, 3)).copy()
    xyz += np.asarray(origin) + rng.normal(0, 0.003, (frames, V, 3))
    xyz[:, :, 0] += 0.002 * t                                           # slow drift
    for k, j in enumerate(_ARM_CHAIN):
        w = (k + 1) / len(_ARM_CHAIN)
        xyz[:, j - 1, 1] += amplitude * w * np.sin(0.2 * t[:, 0] + phase)
        xyz[:, j - 1, 2] -= 0.5 * amplitude * w * np.cos(0.2 * t[:, 0] + phase)
    return xyz


def _joint_line(rng, p):
    """One 12-field joint line: x y z depthX depthY colorX colorY qW qX qY qZ trackingState."""
    x, y, z = p
    q = rng.normal(size=4)
    q /= np.linalg.norm(q)
    fields = [x, y, z, 256 + 365.5 * x / z, 212 - 365.5 * y / z, 960 + 1060 * x / z, 540 - 1060 * y / z, *q]
    return " ".join(f"{v:.7g}" for v in fields) + f" {2 if rng.random() > 0.05 else 1}"


def skeleton_text(frames, rng=None, newline="\r\n"):
    """frames: list over frames of lists of (body_id int, xyz (25,3)). Returns the file text."""
    rng = rng or np.random.default_rng(0)
    out = [str(len(frames))]
    for bodies in frames:
        out.append(str(len(bodies)))
        for body_id, xyz in bodies:
            lean = rng.normal(0, 0.05, 2)
            out.append(f"{body_id} 0 1 1 1 1 0 {lean[0]:.7g} {lean[1]:.7g} 2")
            out.append(str(V))
            out.extend(_joint_line(rng, p) for p in xyz)
    return newline.join(out) + newline


def line_numbers(frames):
    """1-based line numbers of the headers in skeleton_text(frames): a list over frames of
    (body count line, [(info line, joint count line, first joint line) per body])."""
    out, line = [], 2
    for bodies in frames:
        blocks = [(line + 1 + 27 * b, line + 2 + 27 * b, line + 3 + 27 * b) for b in range(len(bodies))]
        out.append((line, blocks))
        line += 1 + 27 * len(bodies)
    return out


def sample_name(setup=1, camera=1, performer=1, replication=1, action=1):
    return f"S{setup:03d}C{camera:03d}P{performer:03d}R{replication:03d}A{action:03d}"


def make_sample(rng, frames=40, amplitudes=(0.3,), lead_empty=2, gap_empty=1, tail_empty=1):
    """A sample with one body per amplitude (all present in every non-empty frame, the third
    body, if any, only in the second half). Empty (0-body) frames: `lead_empty` at the start,
    `gap_empty` in the middle, `tail_empty` at the end.

    Returns (frames list for skeleton_text, expected clip (3,frames,25,2) float64): the clip
    keeps the non-empty frames and the two most active bodies, most active first, uncentred.
    """
    tracks = [(72057594037931101 + 17 * b, body_motion(rng, frames, a, origin=(0.2 + 0.8 * b, 0.17, 3.8)))
              for b, a in enumerate(amplitudes)]
    out, kept = [], []
    for f in range(frames):
        bodies = [(bid, xyz[f]) for b, (bid, xyz) in enumerate(tracks) if b < 2 or f >= frames // 2]
        out.append(bodies)
        kept.append(f)
        if f == frames // 3:
            out.extend([[]] * gap_empty)
    out = [[]] * lead_empty + out + [[]] * tail_empty
    order = np.argsort([-a for a in amplitudes], kind="stable")[:2]
    clip = np.zeros((3, frames, V, 2))
    for m, b in enumerate(order):
        present = np.arange(frames) if b < 2 else np.arange(frames // 2, frames)
        clip[..., m][:, present] = tracks[b][1][present].transpose(2, 0, 1)
    return out, clip


def write_raw_dataset(raw_dir, names, seed=0, frames=40, newline="\r\n", amplitudes_of=None):
    """Writes `<name>.skeleton` for each name; returns {name: expected clip (3,frames,25,2)}."""
    rng = np.random.default_rng(seed)
    os.makedirs(raw_dir, exist_ok=True)
    clips = {}
    for i, name in enumerate(names):
        amps = amplitudes_of(i) if amplitudes_of else ((0.3,) if i % 2 == 0 else (0.1, 0.3))
        frame_list, clips[name] = make_sample(rng, frames=frames + i % 5, amplitudes=amps)
        with open(os.path.join(raw_dir, name + ".skeleton"), "w", newline="") as f:
            f.write(skeleton_text(frame_list, rng, newline))
    return clips


def random_clips(n, T=60, seed=0, min_frames=10):
    """(n,3,T,25,2) float32 clips zero padded after a random length, plus their lengths."""
    rng = np.random.default_rng(seed)
    data = np.zeros((n, 3, T, V, 2), np.float32)
    lengths = rng.integers(min_frames, T + 1, n)
    for i in range(n):
        two = i % 2 == 1
        for m in range(1 + two):
            xyz = body_motion(rng, lengths[i], 0.2, origin=(0.8 * m, 0.0, 0.0))        # centred-looking
            data[i, :, :lengths[i], :, m] = xyz.transpose(2, 0, 1)
    return data, lengths


def write_stgcn(root, train, val, suffix="data_joint"):
    """train/val = (data (N,3,T,25,M), labels (N,)); writes {part}_{suffix}.npy and {part}_label.pkl."""
    os.makedirs(root, exist_ok=True)
    for part, (data, labels) in (("train", train), ("val", val)):
        np.save(os.path.join(root, f"{part}_{suffix}.npy"), data)
        names = [f"{part}_{i}.skeleton" for i in range(len(labels))]
        with open(os.path.join(root, f"{part}_label.pkl"), "wb") as f:
            pickle.dump((names, [int(x) for x in labels]), f)


def write_ctrgcn(path, train, val, num_classes, compressed=False):
    """x_* (N,T,M*25*3) in CTR-GCN's (T, body, joint, xyz) order, y_* one-hot (N,num_classes)."""
    arrays = {}
    for part, (data, labels) in (("train", train), ("test", val)):
        n, _, t, v, m = data.shape
        arrays[f"x_{part}"] = data.transpose(0, 2, 4, 3, 1).reshape(n, t, m * v * 3)
        arrays[f"y_{part}"] = np.eye(num_classes, dtype=np.float32)[labels]
    (np.savez_compressed if compressed else np.savez)(path, **arrays)


def write_pyskl(path, train, val, lengths, split="xsub"):
    """One annotation per clip: keypoint (M,T_i,25,3) with only the clip's valid frames."""
    annotations, split_lists = [], {}
    for part, (data, labels), lens in (("train", train, lengths[0]), ("val", val, lengths[1])):
        names = []
        for i, (clip, label, t) in enumerate(zip(data, labels, lens)):
            name = f"{part}{i:04d}"
            names.append(name)
            bodies = 1 + int(np.abs(clip[..., 1:]).sum() > 0)          # pyskl stores only the bodies seen
            keypoint = np.ascontiguousarray(clip[:, :t, :, :bodies].transpose(3, 1, 2, 0), dtype=np.float32)
            annotations.append({"frame_dir": name, "label": int(label), "keypoint": keypoint,
                                "total_frames": int(t)})
        split_lists[f"{split}_{part}"] = names
    with open(path, "wb") as f:
        pickle.dump({"split": split_lists, "annotations": annotations}, f)
