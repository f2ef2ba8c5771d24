"""Preprocessed NTU layouts (ST-GCN/AimCLR, CTR-GCN, pyskl): same clips as the arrays they were written
from, memory-mapped, picklable for DataLoader workers; one clear error per defect; safe pickles."""
import mmap
import os
import pickle

import numpy as np
import pytest

from cpstn_min.config import DataConfig
from cpstn_min.data import build_dataset
from cpstn_min.data.base import DataError
from cpstn_min.data.safe_pickle import safe_load
from ntu_fixtures import random_clips, write_ctrgcn, write_pyskl, write_stgcn

T = 40


@pytest.fixture(scope="module")
def arrays():
    train, train_len = random_clips(6, T, seed=1)
    val, val_len = random_clips(4, T, seed=2)
    return (train, np.array([0, 5, 59, 3, 3, 1])), (val, np.array([7, 0, 58, 2])), (train_len, val_len)


def _cfg(root, tmp_path, **kw):
    return DataConfig(**{"dataset": "ntu60", "data_root": str(root), "cache_dir": str(tmp_path / "cache"), **kw})


def _is_memory_mapped(a):
    while a is not None:
        if isinstance(a, (np.memmap, mmap.mmap)):
            return True
        a = a.base
    return False


def _check_same(ds, data, labels, lengths, T_pad=None):
    assert len(ds) == len(data) and ds.num_classes == 60 and _is_memory_mapped(ds.data)
    for i in range(len(ds)):
        clip, valid, label, index = ds[i]
        assert (index, label, valid) == (i, labels[i], lengths[i])
        np.testing.assert_array_equal(clip[:, :data.shape[2]].numpy(), data[i])
        assert T_pad is None or (clip.shape[1] == T_pad and (clip[:, data.shape[2]:] == 0).all())
    np.testing.assert_array_equal(ds.valid_frames, lengths)


def _write(layout, root, arrays):
    (train, val, lengths) = arrays
    if layout == "stgcn":
        write_stgcn(root / "xsub", train, val)
        return root
    if layout == "aimclr":
        write_stgcn(root, train, val, suffix="position")
        return root
    if layout == "ctrgcn":
        os.makedirs(root)
        write_ctrgcn(root / "NTU60_CS.npz", train, val, 60)
        return root
    if layout == "ctrgcn-compressed":
        os.makedirs(root)
        write_ctrgcn(root / "NTU60_CS.npz", train, val, 60, compressed=True)
        return root / "NTU60_CS.npz"
    os.makedirs(root)
    write_pyskl(root / "ntu60_3danno.pkl", train, val, lengths)
    return root


@pytest.mark.parametrize("layout", ["stgcn", "aimclr", "ctrgcn", "ctrgcn-compressed", "pyskl"])
def test_layout_gives_the_original_clips(layout, arrays, tmp_path):
    root = _write(layout, tmp_path / "data", arrays)
    for train, (data, labels), lengths in ((True, arrays[0], arrays[2][0]), (False, arrays[1], arrays[2][1])):
        ds = build_dataset(_cfg(root, tmp_path), train)
        _check_same(ds, data, labels, lengths, T_pad=300 if layout == "pyskl" else None)
        again = pickle.loads(pickle.dumps(ds))                       # what a spawned DataLoader worker gets
        assert len(pickle.dumps(ds)) < data.nbytes and _is_memory_mapped(again.data)
        np.testing.assert_array_equal(again[len(ds) - 1][0].numpy(), ds[len(ds) - 1][0].numpy())


def test_explicit_format_and_valid_frames_cache(arrays, tmp_path):
    root = _write("stgcn", tmp_path / "data", arrays)
    ds = build_dataset(_cfg(root, tmp_path, data_format="stgcn"), True)
    assert ds._valid is None                                        # nothing scanned at open
    np.testing.assert_array_equal(ds.valid_frames, arrays[2][0])
    cached = list((tmp_path / "cache" / "valid_frames").glob("*.npy"))
    assert len(cached) == 1
    np.save(cached[0], np.full(6, 7))                               # a later open uses the cache
    assert list(build_dataset(_cfg(root, tmp_path), True).valid_frames) == [7] * 6


@pytest.mark.parametrize("layout", ["stgcn", "ctrgcn-compressed", "pyskl"])
def test_converted_caches_honour_cpstn_cache(layout, arrays, tmp_path, monkeypatch):
    """Without cache_dir, valid-frame scans, extracted .npz members and converted pickles go
    to $CPSTN_CACHE, as the synthetic cache does, not to ~/.cache."""
    root = _write(layout, tmp_path / "data", arrays)
    monkeypatch.setenv("CPSTN_CACHE", str(tmp_path / "env"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    ds = build_dataset(DataConfig(dataset="ntu60", data_root=str(root)), True)
    np.testing.assert_array_equal(ds.valid_frames, arrays[2][0])
    folder = {"stgcn": "valid_frames", "ctrgcn-compressed": "npz", "pyskl": "pyskl"}[layout]
    assert list((tmp_path / "env" / folder).iterdir())
    assert not (tmp_path / "home").exists()


def test_pyskl_keeps_two_most_active_of_three_bodies(tmp_path):
    rng = np.random.default_rng(0)
    kp = np.zeros((3, 30, 25, 3), np.float32)
    for m, amp in enumerate((0.01, 0.5, 0.2)):
        kp[m] = rng.normal(0, amp, (30, 25, 3)) + 1
    ann = {"frame_dir": "a", "label": 4, "keypoint": kp, "total_frames": 30, "img_shape": (1080, 1920)}
    with open(tmp_path / "x.pkl", "wb") as f:
        pickle.dump({"split": {"xsub_train": ["a"], "xsub_val": ["a"]}, "annotations": [ann]}, f)
    clip, valid, label, _ = build_dataset(_cfg(tmp_path / "x.pkl", tmp_path), True)[0]
    assert (valid, label) == (30, 4)
    np.testing.assert_array_equal(clip[:, :30].numpy(), kp[[1, 2]].transpose(3, 1, 2, 0))


# ---- errors ----------------------------------------------------------------------------------------------

def _raises(cfg, pattern, train=True):
    with pytest.raises(DataError, match=pattern):
        build_dataset(cfg, train)


def test_missing_root_names_layouts_and_prepare_command(tmp_path):
    _raises(_cfg(tmp_path / "nope", tmp_path), r"does not exist(.|\n)*python -m cpstn_min.data.ntu.prepare --dataset ntu60")
    _raises(DataConfig(dataset="ntu60"), r"needs --data-root(.|\n)*train_data_joint.npy(.|\n)*NTU60_CS.npz")
    (tmp_path / "empty").mkdir()
    _raises(_cfg(tmp_path / "empty", tmp_path), r"no ntu60 data found(.|\n)*ntu60_3danno.pkl")
    _raises(_cfg(tmp_path / "empty", tmp_path, split="xset"), r"ntu60 has the splits \('xsub', 'xview'\)")


def test_stgcn_errors(arrays, tmp_path):
    (train, labels), val, _ = arrays
    root = tmp_path / "d"
    write_stgcn(root, (train, labels[:5]), val)
    _raises(_cfg(root, tmp_path), r"train_data_joint.npy holds 6 clips but .*train_label.pkl has 5 labels")
    write_stgcn(root, (train, labels + 60), val)
    _raises(_cfg(root, tmp_path), r"train_label.pkl: labels must lie in \[0, 59\], "
                                   r"found 60..119 \(NTU-120 labels\? use --dataset ntu120\)")
    write_stgcn(root, (train[:, :, :, :18], labels), val)
    _raises(_cfg(root, tmp_path), r"data must have shape \(N,3,T,25,M\), got \(6, 3, 40, 18, 2\)")
    write_stgcn(root, (train.astype(np.int32), labels), val)
    _raises(_cfg(root, tmp_path), r"data has dtype int32, expected float32")
    np.save(root / "train_data_joint.npy", np.array([None] * 6), allow_pickle=True)
    _raises(_cfg(root, tmp_path), r"cannot open the clip array as a memory-mapped .npy array")
    bad = train.copy()
    bad[2, 0, 3, 4, 0] = np.nan
    write_stgcn(root, (bad, labels), val)
    ds = build_dataset(_cfg(root, tmp_path), True)
    with pytest.raises(DataError, match=r"train_data_joint.npy: clip 2 contains NaN or inf"):
        ds[2]
    with open(root / "train_label.pkl", "wb") as f:
        pickle.dump({"labels": labels}, f)
    _raises(_cfg(root, tmp_path), r"train_label.pkl: expected a pickled \(sample_names, labels\) pair, got dict")
    os.remove(root / "val_label.pkl")
    _raises(_cfg(root, tmp_path), r"val_label.pkl not found next to", train=False)


def test_ctrgcn_errors(arrays, tmp_path):
    (train, labels), (val, vlabels), _ = arrays
    path = tmp_path / "NTU60_CS.npz"
    n = len(train)
    np.savez(path, x_train=np.zeros((n, T, 75), np.float32), y_train=np.eye(60)[labels])
    _raises(_cfg(path, tmp_path), r"x_train has shape \(6, 40, 75\), expected \(N,T,150\)")
    y = np.eye(60)[labels]
    y[3, 7] = 1
    np.savez(path, x_train=np.zeros((n, T, 150), np.float32), y_train=y)
    _raises(_cfg(path, tmp_path), r"y_train row 3 is not one-hot \(2 entries > 0\)")
    np.savez(path, x_train=np.zeros((n, T, 150), np.float32), y_train=np.eye(120)[labels])
    _raises(_cfg(path, tmp_path), r"y_train has 120 classes, the dataset has 60")
    np.savez(path, x_train=np.zeros((n, T, 150), np.float32), y_train=np.eye(60)[labels[:4]])
    _raises(_cfg(path, tmp_path), r"6 clips but 4 labels in y_train")
    _raises(_cfg(path, tmp_path), r"has no array 'x_test'", train=False)
    write_ctrgcn(tmp_path / "NTU60_CV.npz", (train, labels), (val, vlabels), 60)
    _raises(_cfg(tmp_path / "NTU60_CV.npz", tmp_path), r"is the ntu60 xview file, but .*needs NTU60_CS.npz")
    (tmp_path / "broken.npz").write_bytes(b"not a zip")
    _raises(_cfg(tmp_path / "broken.npz", tmp_path), r"broken.npz: not a readable .npz file")


def test_pyskl_errors(arrays, tmp_path):
    def write(ann, split=None):
        with open(tmp_path / "a.pkl", "wb") as f:
            pickle.dump({"split": split or {"xsub_train": ["s"], "xsub_val": ["s"]},
                         "annotations": [{"frame_dir": "s", "label": 1, "total_frames": 10, **ann}]}, f)
        return _cfg(tmp_path / "a.pkl", tmp_path)

    kp = np.ones((1, 10, 25, 3), np.float32)
    _raises(write({"keypoint": kp[..., :2], "keypoint_score": kp[..., 0]}), r"s: keypoint has shape \(1, 10, 25, 2\)"
            r", expected \(M,T,25,3\) \(2D keypoints")
    _raises(write({"keypoint": kp, "label": 60}), r"s: label 60 outside \[0, 59\]")
    bad = kp.copy()
    bad[0, 3, 3, 1] = np.inf
    _raises(write({"keypoint": bad}), r"s: keypoint contains NaN or inf")
    _raises(write({"keypoint": kp}, {"xview_train": ["s"]}), r"no split 'xsub_train'; it has \['xview_train'\]")
    _raises(write({"keypoint": kp}, {"xsub_train": ["s", "t"], "xsub_val": []}),
            r"split xsub_train names 1 samples without annotation, e.g. 't'")
    _raises(write({"keypoint": [[1.0]]}), r"s: keypoint must be a float array")
    with open(tmp_path / "a.pkl", "wb") as f:
        pickle.dump([1, 2], f)
    _raises(_cfg(tmp_path / "a.pkl", tmp_path), r"expected a pyskl annotation dict")


def test_prepared_layout_errors(tmp_path):
    import json
    from ntu_fixtures import sample_name, write_raw_dataset
    from cpstn_min.data.ntu.prepare import prepare
    write_raw_dataset(tmp_path / "raw", [sample_name(1, 1, 1, 1, 1), sample_name(1, 2, 3, 1, 2)], frames=12)
    prepare("ntu60", str(tmp_path / "raw"), str(tmp_path / "out"), workers=1)
    _raises(_cfg(tmp_path / "out", tmp_path, dataset="ntu120"), r"holds ntu60 data, but --dataset is ntu120")
    manifest = json.loads((tmp_path / "out/manifest.json").read_text())
    manifest["splits"]["xsub"]["train"]["count"] = 5
    (tmp_path / "out/manifest.json").write_text(json.dumps(manifest))
    _raises(_cfg(tmp_path / "out", tmp_path), r"holds 1 clips and .* 1 labels, but the manifest says 5")
    os.remove(tmp_path / "out/xsub/val_data.npy")
    _raises(_cfg(tmp_path / "out", tmp_path), r"val_data.npy is missing although .*manifest.json lists it",
            train=False)


# ---- restricted unpickler ---------------------------------------------------------------------------------

class _Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


@pytest.mark.parametrize("protocol", [0, 2, 5])
def test_safe_pickle_refuses_code_and_object_arrays(tmp_path, protocol):
    marker = str(tmp_path / "pwned")
    for i, obj in enumerate([(["a"], [_Exploit(marker)]), np.array([1, "x"], dtype=object)]):
        path = tmp_path / f"label{i}.pkl"
        path.write_bytes(pickle.dumps(obj, protocol=protocol))
        with pytest.raises(DataError, match="not a readable data pickle: (refusing to load|object arrays)"):
            safe_load(path)
    assert not os.path.exists(marker)


@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
def test_safe_pickle_loads_builtins_and_numpy(tmp_path, protocol):
    obj = {"split": {"xsub_train": ["a"]}, "s": {1, 2}, "t": (1080, 1920), "labels": [np.int64(3), 2.5],
           "x": np.arange(12, dtype=np.float16).reshape(3, 4), "names": np.array(["S001", "S002"])}
    (tmp_path / "p.pkl").write_bytes(pickle.dumps(obj, protocol=protocol))
    back = safe_load(tmp_path / "p.pkl")
    assert back["split"] == obj["split"] and back["s"] == {1, 2} and back["t"] == (1080, 1920)
    assert back["labels"] == [3, 2.5] and back["x"].dtype == np.float16
    np.testing.assert_array_equal(back["x"], obj["x"])
    np.testing.assert_array_equal(back["names"], obj["names"])


def test_safe_pickle_missing_or_truncated_file(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        safe_load(tmp_path / "none.pkl")
    (tmp_path / "cut.pkl").write_bytes(pickle.dumps((["a", "b"], [1, 2]))[:-5])
    with pytest.raises(DataError, match="cut.pkl: not a readable data pickle"):
        safe_load(tmp_path / "cut.pkl")


def test_detection_and_format_errors(arrays, tmp_path):
    (tmp_path / "x.txt").write_text("")
    _raises(_cfg(tmp_path / "x.txt", tmp_path), r"must be a folder, an .npz \(CTR-GCN\) or a .pkl \(pyskl\) file")
    (tmp_path / "e").mkdir()
    _raises(_cfg(tmp_path / "e", tmp_path, data_format="stgcn"), r"ST-GCN layout: none of train_data_joint.npy, "
                                                                  r"train_data.npy, train_position.npy found")
    _raises(_cfg(tmp_path / "e", tmp_path, data_format="ctrgcn"), r"CTR-GCN layout: .*NTU60_CS.npz not found")
    _raises(_cfg(tmp_path / "e", tmp_path, data_format="pyskl"), r"no pyskl annotation .pkl found")
    _raises(_cfg(tmp_path / "e", tmp_path, data_format="hdf5"), r"unknown data format 'hdf5'")
    _raises(_cfg(tmp_path / "x.txt", tmp_path, data_format="prepared"), r"the prepared layout is a folder")
    for name in ("a.pkl", "b.pkl"):
        (tmp_path / "e" / name).write_bytes(b"")
    _raises(_cfg(tmp_path / "e", tmp_path), r"several annotation pickles \(a.pkl, b.pkl\)")


def test_array_file_errors(arrays, tmp_path):
    import zipfile
    (train, labels), val, _ = arrays
    root = tmp_path / "d"
    write_stgcn(root, (np.full(train.shape[:2], "x"), labels), val)
    _raises(_cfg(root, tmp_path), r"the clip array has dtype <U1, expected floating-point numbers")
    write_stgcn(root, (train, labels), val)
    with open(root / "train_label.pkl", "wb") as f:
        pickle.dump((["a"] * 6, ["x"] * 6), f)
    _raises(_cfg(root, tmp_path), r"expected 6 integer labels matching 6 sample names, got <U1")

    path = tmp_path / "NTU60_CS.npz"
    np.savez(path, x_train=np.zeros((6, T, 150), np.float32), y_train=np.zeros((6, 2, 30)))
    _raises(_cfg(path, tmp_path), r"y_train has shape \(6, 2, 30\), expected one-hot \(N,60\) or \(N,\) labels")
    raw = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as z:
        raw[z.getinfo("x_train.npy").header_offset] = 0                  # damage the local header
    path.write_bytes(bytes(raw))
    _raises(_cfg(path, tmp_path), r"damaged .npz \(bad local header of x_train\)")
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("x_train.npy", b"no npy header here")
    _raises(_cfg(path, tmp_path), r"x_train is not a .npy array")


def test_pyskl_annotation_without_keypoint(tmp_path):
    with open(tmp_path / "a.pkl", "wb") as f:
        pickle.dump({"split": {"xsub_train": []}, "annotations": [{"frame_dir": "s", "label": 1}]}, f)
    _raises(_cfg(tmp_path / "a.pkl", tmp_path), r"annotation 0 lacks 'frame_dir', 'label' or 'keypoint'")


def test_prepared_manifest_errors(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "manifest.json").write_text("{not json")
    _raises(_cfg(out, tmp_path), r"manifest.json: cannot read the manifest")
    (out / "manifest.json").write_text('{"format": "other"}')
    _raises(_cfg(out, tmp_path), r"not a manifest written by cpstn_min.data.ntu.prepare")
    (out / "manifest.json").write_text('{"format": "cpstn-ntu-prepared", "dataset": "ntu60", "splits": {"xview": {}}}')
    _raises(_cfg(out, tmp_path), r"has splits \['xview'\], not 'xsub'")
