"""The files the peers' preprocessing tools write, written here exactly the way those tools write them:
ST-GCN's / AimCLR's tools/ntu_gendata.py (a (N,3,300,25,2) float32 open_memmap + a pickle of two lists),
AimCLR's 50-frame _position.npy / _motion.npy with an (N,1) int64 _label.npy, and the 2s-AGCN-style
bone / motion arrays. Also the official action names the NTU datasets carry."""
import os
import pickle

import numpy as np
import pytest
from numpy.lib.format import open_memmap

from cpstn_min.config import DataConfig
from cpstn_min.data import build_dataset
from cpstn_min.data.ntu.classes import NTU120_CLASS_NAMES, NTU60_CLASS_NAMES
from cpstn_min.errors import DataError
from ntu_fixtures import random_clips

T_GENDATA = 300


def gendata_like(folder, part, clips, actions, performers):
    """What tools/ntu_gendata.py leaves in <out>/<benchmark>/: <part>_label.pkl = (names with the
    .skeleton suffix, labels as a list of ints), <part>_data.npy = open_memmap (N,3,300,25,2)
    float32, each clip written into its first frames."""
    os.makedirs(folder, exist_ok=True)
    names = [f"S001C002P{p:03d}R001A{a + 1:03d}.skeleton" for p, a in zip(performers, actions)]
    with open(os.path.join(folder, f"{part}_label.pkl"), "wb") as f:
        pickle.dump((names, list(int(a) for a in actions)), f)
    fp = open_memmap(os.path.join(folder, f"{part}_data.npy"), dtype="float32", mode="w+",
                     shape=(len(actions), 3, T_GENDATA, 25, 2))
    for i, clip in enumerate(clips):
        fp[i, :, 0:clip.shape[1], :, :] = clip
    del fp                                            # flushed and closed, as when the tool exits


@pytest.fixture(scope="module")
def gendata_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("ntu60")
    raw = {}
    for benchmark in ("xsub", "xview"):
        for part, n, seed in (("train", 5, 1), ("val", 3, 2)):
            data, lengths = random_clips(n, T=40, seed=seed + (benchmark == "xview"))
            clips = [data[i, :, :lengths[i]] for i in range(n)]
            actions = np.array([0, 59, 7, 3, 12][:n])
            gendata_like(root / benchmark, part, clips, actions, performers=range(1, n + 1))
            raw[benchmark, part] = (clips, actions, lengths)
    return root, raw


def _cfg(root, tmp_path, **kw):
    return DataConfig(**{"dataset": "ntu60", "data_root": str(root), "cache_dir": str(tmp_path / "cache"), **kw})


@pytest.mark.parametrize("benchmark", ["xsub", "xview"])
def test_ntu_gendata_output_loads_with_the_raw_joints(gendata_root, tmp_path, benchmark):
    root, raw = gendata_root
    for part in ("train", "val"):
        ds = build_dataset(_cfg(root, tmp_path, split=benchmark), train=part == "train")
        clips, actions, lengths = raw[benchmark, part]
        assert ds.stream == "joint" and ds.clip_shape == (3, T_GENDATA, 25, 2) and ds.num_classes == 60
        np.testing.assert_array_equal(ds.valid_frames, lengths)
        for i, clip in enumerate(clips):
            x, valid, label, _ = ds[i]
            np.testing.assert_array_equal(x[:, :valid].numpy(), clip)      # the raw joints, exactly
            assert label == actions[i] and (x[:, valid:] == 0).all()


def test_every_joint_file_name_gives_the_same_clips(gendata_root, tmp_path):
    root, _ = gendata_root
    want = build_dataset(_cfg(root, tmp_path), train=True)
    for name in ("data_joint", "position"):
        other = tmp_path / name / "xsub"
        os.makedirs(other)
        os.link(root / "xsub" / "train_data.npy", other / f"train_{name}.npy")
        os.link(root / "xsub" / "train_label.pkl", other / "train_label.pkl")
        ds = build_dataset(_cfg(tmp_path / name, tmp_path, data_format="stgcn"), train=True)
        np.testing.assert_array_equal(np.asarray(ds.data), np.asarray(want.data))
        np.testing.assert_array_equal(ds.labels, want.labels)


def test_aimclr_50_frame_folder_with_npy_labels(tmp_path):
    """feeder/preprocess_ntu.py writes <part>_position.npy, <part>_motion.npy (N,3,50,25,2) float32 and
    <part>_label.npy (N,1) int64, no label pickle."""
    root = tmp_path / "ntu60_frame50" / "xsub"
    os.makedirs(root)
    data, _ = random_clips(4, T=50, seed=3)
    for part in ("train", "val"):
        for name, array in (("position", data), ("motion", data * 0.5)):
            fp = open_memmap(root / f"{part}_{name}.npy", dtype="float32", mode="w+", shape=data.shape)
            fp[:] = array
            del fp
        fp = open_memmap(root / f"{part}_label.npy", dtype="int64", mode="w+", shape=(4, 1))
        fp[:] = np.array([[1], [2], [3], [4]])
        del fp
    ds = build_dataset(_cfg(root.parent, tmp_path), train=False)
    assert ds.stream == "joint" and list(ds.labels) == [1, 2, 3, 4]
    np.testing.assert_array_equal(np.asarray(ds.data), data)
    # --stream motion still prefers the joints (the stream is then computed after augmentation) ...
    assert build_dataset(_cfg(root.parent, tmp_path, stream="motion"), train=True).stream == "joint"
    # ... and reads the precomputed motion array when it is the only one
    for part in ("train", "val"):
        os.remove(root / f"{part}_position.npy")
    ds = build_dataset(_cfg(root.parent, tmp_path, stream="motion"), train=True)
    assert ds.stream == "motion"
    np.testing.assert_array_equal(np.asarray(ds.data), data * 0.5)


@pytest.mark.parametrize("stream,name", [("bone", "data_bone"), ("motion", "data_joint_motion")])
def test_precomputed_stream_files(tmp_path, stream, name):
    root = tmp_path / "ntu" / "xsub"
    os.makedirs(root)
    data, _ = random_clips(4, T=30, seed=4)
    for part in ("train", "val"):
        np.save(root / f"{part}_{name}.npy", data)
        with open(root / f"{part}_label.pkl", "wb") as f:
            pickle.dump(([f"S001C001P001R001A00{i + 1}.skeleton" for i in range(4)], [0, 1, 2, 3]), f)
    ds = build_dataset(_cfg(root.parent, tmp_path, stream=stream), train=True)
    assert ds.stream == stream
    np.testing.assert_array_equal(np.asarray(ds.data), data)
    with pytest.raises(DataError, match=f"holds the precomputed {stream} stream: pass --stream {stream}"):
        build_dataset(_cfg(root.parent, tmp_path, data_format="stgcn"), train=True)


def test_missing_joint_files_list_every_name(tmp_path):
    os.makedirs(tmp_path / "e")
    with pytest.raises(DataError, match=r"none of train_data_joint.npy, train_data.npy, train_position.npy found"):
        build_dataset(_cfg(tmp_path / "e", tmp_path, data_format="stgcn"), train=True)


def test_official_ntu_action_names(gendata_root, tmp_path):
    assert len(NTU120_CLASS_NAMES) == 120 == len(set(NTU120_CLASS_NAMES))
    assert NTU60_CLASS_NAMES == NTU120_CLASS_NAMES[:60]
    assert (NTU120_CLASS_NAMES[0], NTU120_CLASS_NAMES[22], NTU120_CLASS_NAMES[59]) == \
        ("drink water", "hand waving", "walking apart from each other")
    assert (NTU120_CLASS_NAMES[60], NTU120_CLASS_NAMES[119]) == \
        ("put on headphone", "finger-guessing game (playing rock-paper-scissors)")
    root, _ = gendata_root
    ds = build_dataset(_cfg(root, tmp_path), train=True)
    assert ds.class_names == NTU60_CLASS_NAMES
    assert build_dataset(_cfg(root, tmp_path, dataset="ntu120"), train=True).class_names == NTU120_CLASS_NAMES
