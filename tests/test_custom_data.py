"""--dataset custom: 2D and 3D arrays in any layout, the errors naming file and problem, in-plane
augmentation of 2D clips, and pretraining + evaluation end to end on a 2D COCO-17 folder."""
import json
import os

import numpy as np
import pytest
import torch

import eval as eval_cli
import train
from cpstn_min import augment
from cpstn_min.config import AugmentConfig, DataConfig
from cpstn_min.data import build_dataset
from cpstn_min.errors import DataError, UsageError
from cpstn_min.graph import LAYOUTS

pytestmark = pytest.mark.usefixtures("one_thread")


def clips(n, C, V, T=30, seed=0):
    """(n,C,T,V,2) float32: a moving skeleton per clip, zero padded after a random length, the
    second body only in odd clips; and the lengths."""
    rng = np.random.default_rng(seed)
    data = np.zeros((n, C, T, V, 2), np.float32)
    lengths = rng.integers(8, T + 1, n)
    for i, L in enumerate(lengths):
        pose = rng.normal(0, 0.3, (C, 1, V, 1)) + np.sin(np.arange(L) / 3.0)[None, :, None, None] * 0.1
        data[i, :, :L, :, :1 + i % 2] = pose
    return data, lengths


def write_folder(root, C=2, layout="coco17", n=(26, 13), classes=13, names=True):
    V = LAYOUTS[layout][0]
    os.makedirs(root, exist_ok=True)
    out = {}
    for part, count, seed in (("train", n[0], 1), ("val", n[1], 2)):
        data, lengths = clips(count, C, V, seed=seed)
        labels = np.arange(count) % classes
        np.save(os.path.join(root, f"{part}_data.npy"), data)
        np.save(os.path.join(root, f"{part}_label.npy"), labels)
        out[part] = (data, labels, lengths)
    if names:
        with open(os.path.join(root, "class_names.txt"), "w") as f:
            f.write("\n".join(f"action {k}" for k in range(classes)) + "\n")
    return out


def cfg_of(root, tmp_path, layout="coco17"):
    return DataConfig(dataset="custom", data_root=str(root), layout=layout, cache_dir=str(tmp_path / "cache"))


@pytest.mark.parametrize("C,layout", [(2, "coco17"), (3, "mediapipe33"), (3, "ntu-rgb+d"), (2, "openpose")])
def test_custom_folder_gives_the_clips_labels_and_valid_frames(tmp_path, C, layout):
    written = write_folder(tmp_path / "d", C=C, layout=layout)
    for part in ("train", "val"):
        ds = build_dataset(cfg_of(tmp_path / "d", tmp_path, layout), train=part == "train")
        data, labels, lengths = written[part]
        assert ds.num_classes == 13 and ds.layout == layout and ds.clip_shape[0] == C
        assert ds.class_names[12] == "action 12"
        np.testing.assert_array_equal(ds.valid_frames, lengths)     # from the zero padding
        for i in (0, 1, len(ds) - 1):
            clip, valid, label, index = ds[i]
            np.testing.assert_array_equal(clip.numpy(), data[i])
            assert (valid, label, index) == (lengths[i], labels[i], i)


def test_labels_as_column_vector_and_no_class_names(tmp_path):
    write_folder(tmp_path / "d", names=False)
    np.save(tmp_path / "d" / "train_label.npy", (np.arange(26) % 13)[:, None])
    ds = build_dataset(cfg_of(tmp_path / "d", tmp_path), train=True)
    assert ds.num_classes == 13 and ds.class_names is None and ds[3][2] == 3


def _raises(cfg, pattern, train=True, kind=DataError):
    with pytest.raises(kind, match=pattern):
        build_dataset(cfg, train=train)


def test_custom_errors_name_the_file_and_the_problem(tmp_path):
    root = tmp_path / "d"
    cfg = cfg_of(root, tmp_path)
    write_folder(root)
    _raises(DataConfig(dataset="custom", data_root=str(root)), r"--dataset custom needs --layout, one of coco17",
            kind=UsageError)
    _raises(cfg_of(root, tmp_path, "kinect"), r"--layout must be one of .*got 'kinect'", kind=UsageError)
    _raises(DataConfig(layout="coco17"), r"--layout coco17: synthetic clips have the ntu-rgb\+d layout",
            kind=UsageError)
    _raises(cfg_of(root, tmp_path, "ntu-rgb+d"),
            r"train_data.npy: V = 17 joints in \(N,C,T,V,M\) \(26, 2, 30, 17, 2\), but layout ntu-rgb\+d "
            r"has 25 \(it fits --layout coco17\)")
    np.save(root / "val_data.npy", np.zeros((13, 2, 30, 17), np.float32))
    _raises(cfg, r"val_data.npy: expected 5 dimensions \(N,C,T,V,M\), got shape \(13, 2, 30, 17\)", train=False)
    np.save(root / "val_data.npy", np.zeros((13, 4, 30, 17, 1), np.float32))
    _raises(cfg, r"val_data.npy: C = 4 channels .* expected 3 \(x,y,z\) or 2 \(x,y\)", train=False)
    np.save(root / "val_data.npy", np.zeros((12, 2, 30, 17, 1), np.float32))
    _raises(cfg, r"val_data.npy holds 12 clips but its label file has 13 labels", train=False)
    np.save(root / "train_label.npy", np.arange(26) % 13 + 1)                   # 1-based labels
    _raises(cfg, r"train_label.npy: labels must be 0..K-1 .*found 1..13, classes \[0\] never occur "
                 r"\(1-based labels\? subtract 1\)")
    np.save(root / "train_label.npy", np.arange(26) % 13)
    np.save(root / "val_label.npy", np.arange(13) + 5)
    _raises(cfg, r"val_label.npy: labels must lie in 0..12 \(the training split's classes\), found 5..17",
            train=False)
    np.save(root / "train_label.npy", np.linspace(0, 12, 26))
    _raises(cfg, r"train_label.npy: labels must be \(N,\) integers 0..K-1, got float64")
    os.remove(root / "val_data.npy")
    _raises(cfg, r"val_data.npy not found: a custom dataset is .* \(evaluation needs the val split\)")
    _raises(cfg_of(tmp_path / "nowhere", tmp_path), r"nowhere: not a folder")


def test_2d_views_rotate_in_the_image_plane_only():
    """A 2D clip's views are the 3-channel kernel's output on the zero-z clip with R in the plane:
    the contrastive matrices have no z terms, and a full-length key view is R[:2,:2] @ clip."""
    V, N = 17, 6
    data, lengths = clips(N, 2, V, seed=3)
    x, L = torch.from_numpy(data), torch.from_numpy(lengths)
    cfg = AugmentConfig(T_out=30, key_crop=(1.0, 1.0), key_rotate_deg=20.0)
    views = augment.make_views(x, L, torch.Generator().manual_seed(5), cfg)
    assert views["key"].shape == (N, 2, 30, V, 2) and views["pretext"].shape[1] == 2
    start, step, R = augment.sample_params(lengths.astype(np.float64), torch.Generator().manual_seed(5), cfg,
                                           planar=True)
    _, _, R3 = augment.sample_params(lengths.astype(np.float64), torch.Generator().manual_seed(5), cfg)
    assert np.all(R[..., 2, :2] == 0) and np.all(R[..., :2, 2] == 0) and np.all(R[..., 2, 2] == 1)
    assert not np.allclose(R[..., :2, :2], R3[..., :2, :2])   # 3D clips also rotate about x and y
    resized = augment.resize(x, L, 30)                       # the whole clip, resampled
    want = torch.einsum("nij,njtvm->nitvm", torch.from_numpy(R[0, :, :2, :2]).float(), resized)
    torch.testing.assert_close(views["key"], want, atol=1e-5, rtol=1e-5)
    np.testing.assert_array_equal(start, augment.sample_params(lengths.astype(np.float64),
                                                               torch.Generator().manual_seed(5), cfg)[0])


@pytest.mark.parametrize("layout", ["coco17", "mediapipe33"])
def test_freeze_pretext_task_works_on_2d_layouts(layout):
    V = LAYOUTS[layout][0]
    data, lengths = clips(12, 2, V, seed=4)
    views = augment.make_views(torch.from_numpy(data), torch.from_numpy(lengths), torch.Generator().manual_seed(1),
                               AugmentConfig(T_out=16, pretext_spatial="freeze"))
    assert views["pretext"].shape == (12, 2, 16, V, 2) and torch.isfinite(views["pretext"]).all()
    assert views["spatial_label"].max() <= 5


def test_pretrain_and_evaluate_a_2d_coco17_folder(tmp_path, capsys):
    write_folder(tmp_path / "d")
    run = tmp_path / "run"
    rc = train.cli(["--dataset", "custom", "--data-root", str(tmp_path / "d"), "--layout", "coco17",
                    "--stream", "bone", "--epochs", "1", "--batch-size", "8", "--frames", "8",
                    "--hidden-channels", "4", "--feature-dim", "8", "--queue-size", "16",
                    "--out-dir", str(run), "--cache-dir", str(tmp_path / "cache")])
    assert rc == 0, capsys.readouterr().err
    saved = json.load(open(run / "config.json"))
    assert saved["model"]["in_channels"] == 2 and saved["model"]["layout"] == "coco17"
    assert saved["data"]["stream"] == "bone"
    capsys.readouterr()
    rc = eval_cli.main(["--checkpoint", str(run / "checkpoint.pt"), "--protocol", "knn", "--k", "3", "--quiet"])
    out = capsys.readouterr().out
    assert rc == 0 and out.strip().splitlines()[-1].startswith("knn top1=")
    record = json.load(open(run / "eval_knn.json"))
    assert record["num_classes"] == 13 and record["class_names"][0] == "action 0"
    assert record["data"]["stream"] == "bone" and "action " in out


def test_bad_layout_flag_exits_2_with_one_line(tmp_path, capsys):
    write_folder(tmp_path / "d")
    common = ["--data-root", str(tmp_path / "d"), "--out-dir", str(tmp_path / "r"), "--cache-dir", str(tmp_path)]
    assert train.cli(["--dataset", "custom", "--layout", "kinect", *common]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "error: --layout must be one of coco17, mediapipe33, ntu-rgb+d, openpose, got 'kinect'"]
    assert train.cli(["--layout", "coco17", "--out-dir", str(tmp_path / "s"), "--cache-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: --layout coco17: synthetic clips have the ntu-rgb+d layout")
