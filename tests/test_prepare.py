"""prepare: raw .skeleton folder -> split arrays; round trip, splits, bad files, resume, atomic outputs."""
import json
import os

import numpy as np
import pytest

from cpstn_min.config import DataConfig
from cpstn_min.data import build_dataset
from cpstn_min.data.ntu import prepare as prep
from cpstn_min.data.base import DataError
from cpstn_min.data.ntu.splits import XSUB_TRAIN_PERFORMERS
from ntu_fixtures import sample_name, write_raw_dataset

MISSING = "S001C002P005R002A008"           # first name of the official missing-skeleton list
NAMES60 = [sample_name(1, c, p, 1, a) for c, p, a in
           [(1, 1, 1), (2, 1, 2), (3, 3, 3), (1, 3, 50), (2, 4, 7), (3, 6, 60), (1, 8, 12)]]


def _raw(tmp_path, names=NAMES60, **kw):
    raw = tmp_path / "raw"
    clips = write_raw_dataset(raw / "nturgb+d_skeletons", names, frames=24, **kw)
    return raw, clips


def _run(*args):
    return prep.main([str(a) for a in args])


def _items(root, dataset, split, train):
    ds = build_dataset(DataConfig(dataset=dataset, data_root=str(root), split=split), train)
    with np.load(os.path.join(root, split, ("train" if train else "val") + "_meta.npz")) as meta:
        names = [str(n) for n in meta["names"]]
    return ds, names


def test_round_trip_splits_and_manifest(tmp_path, capsys):
    three = lambda i: (0.05, 0.01, 0.3) if i == 4 else ((0.3,) if i % 2 == 0 else (0.1, 0.3))
    raw, clips = _raw(tmp_path, NAMES60, amplitudes_of=three)
    write_raw_dataset(raw / "extra", [MISSING, sample_name(18, 1, 1, 1, 61)], seed=5)   # skipped
    out = tmp_path / "out"
    assert _run("--dataset", "ntu60", "--raw-dir", raw, "--out", out, "--workers", 1, "--no-center") == 0
    assert "the 56,880 files of NTU-60 take" in capsys.readouterr().out

    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["skipped"] == {"missing_skeletons": 1, "other_dataset": 1} and manifest["bad_files"] == []
    for split, rule in (("xsub", lambda n: int(n[9:12]) in XSUB_TRAIN_PERFORMERS),
                        ("xview", lambda n: int(n[5:8]) in (2, 3))):
        seen = []
        for train in (True, False):
            ds, names = _items(out, "ntu60", split, train)
            assert names == sorted(names) and all(rule(n) == train for n in names)
            assert manifest["splits"][split]["train" if train else "val"]["count"] == len(ds)
            for i, name in enumerate(names):
                clip, valid, label, index = ds[i]
                expected = clips[name]                                  # (3,L,25,2), most active body first
                assert clip.shape == (3, 300, 25, 2) and index == i
                assert valid == expected.shape[1] and label == int(name[-3:]) - 1
                np.testing.assert_allclose(clip[:, :valid].numpy(), expected, atol=2e-6)
                assert (clip[:, valid:] == 0).all()
            seen += names
        assert sorted(seen) == sorted(NAMES60)
        per_class = np.add(*(manifest["splits"][split][p]["per_class"] for p in ("train", "val")))
        assert per_class.sum() == len(NAMES60) and per_class[59] == 1


def test_centring_is_on_by_default(tmp_path):
    raw, clips = _raw(tmp_path, NAMES60[:3])
    out = tmp_path / "out"
    assert _run("--dataset", "ntu60", "--raw-dir", raw, "--out", out, "--workers", 1) == 0
    ds, names = _items(out, "ntu60", "xsub", True)
    for i, name in enumerate(names):
        expected = clips[name]
        spine = expected[:, 0, 1, 0][:, None, None, None]
        clip = ds[i][0][:, :expected.shape[1]].numpy()
        np.testing.assert_allclose(clip, np.where(expected != 0, expected - spine, 0), atol=2e-6)
        assert np.abs(clip[:, 0, 1, 0]).max() < 1e-6


def test_ntu120_xsub_and_xset(tmp_path):
    names = [sample_name(s, 1, p, 1, a) for s, p, a in [(1, 1, 1), (2, 3, 70), (18, 45, 120), (19, 44, 61)]]
    raw, _ = _raw(tmp_path, names)
    out = tmp_path / "out"
    assert _run("--dataset", "ntu120", "--raw-dir", raw, "--out", out, "--workers", 1) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert set(manifest["splits"]) == {"xsub", "xset"} and manifest["num_classes"] == 120
    _, xset_train = _items(out, "ntu120", "xset", True)
    _, xsub_train = _items(out, "ntu120", "xsub", True)
    assert xset_train == [names[1], names[2]]                    # even setups
    assert xsub_train == [names[0], names[2]]                    # performers 1 and 45
    ds, _ = _items(out, "ntu120", "xsub", True)
    assert ds.num_classes == 120 and list(ds.labels) == [0, 119]


def _corrupt(raw_dir):
    good = sorted(raw_dir.glob("*.skeleton"))[0].read_bytes()
    (raw_dir / "S001C001P002R001A009.skeleton").write_bytes(good[:len(good) // 2])          # truncated
    (raw_dir / "S001C001P002R001A010.skeleton").write_bytes(b"3\r\n0\r\n0\r\n0\r\n")          # no body
    (raw_dir / "notes.skeleton").write_bytes(good)                                            # bad name


def test_bad_files_are_listed_and_skipped(tmp_path, capsys):
    raw, _ = _raw(tmp_path, NAMES60[:4])
    _corrupt(raw / "nturgb+d_skeletons")
    out = tmp_path / "out"
    assert _run("--dataset", "ntu60", "--raw-dir", raw, "--out", out, "--workers", 1) == 0
    err = capsys.readouterr().err
    assert "3 bad file(s) skipped" in err
    assert "S001C001P002R001A009.skeleton: truncated" in err
    assert "S001C001P002R001A010.skeleton: no body in any of the 3 frames" in err
    assert "notes.skeleton: file name is not of the form" in err
    manifest = json.loads((out / "manifest.json").read_text())
    assert len(manifest["bad_files"]) == 3
    assert sum(manifest["splits"]["xsub"][p]["count"] for p in ("train", "val")) == 4


def test_strict_stops_at_the_first_bad_file(tmp_path, capsys):
    raw, _ = _raw(tmp_path, NAMES60[:2])
    _corrupt(raw / "nturgb+d_skeletons")
    os.remove(raw / "nturgb+d_skeletons" / "notes.skeleton")
    out = tmp_path / "out"
    assert _run("--dataset", "ntu60", "--raw-dir", raw, "--out", out, "--workers", 1, "--strict") == 2
    err = capsys.readouterr().err
    assert "S001C001P002R001A009.skeleton: truncated" in err and "--strict" in err
    assert not (out / "manifest.json").exists()


def test_interrupted_run_resumes_without_reparsing(tmp_path, monkeypatch):
    raw, _ = _raw(tmp_path, NAMES60)
    out = tmp_path / "out"
    monkeypatch.setattr(prep, "SHARD_FILES", 2)
    real, calls = prep.parse_file, []

    def interrupted(path):
        if len(calls) == 5:
            raise KeyboardInterrupt
        calls.append(path)
        return real(path)

    monkeypatch.setattr(prep, "parse_file", interrupted)
    assert _run("--dataset", "ntu60", "--raw-dir", raw, "--out", out, "--workers", 1) == 130
    assert not (out / "manifest.json").exists()                   # never looks complete
    with pytest.raises(DataError, match="unfinished .*run the same prepare command again"):
        build_dataset(DataConfig(dataset="ntu60", data_root=str(out)), True)

    resumed = []
    monkeypatch.setattr(prep, "parse_file", lambda p: resumed.append(p) or real(p))
    assert _run("--dataset", "ntu60", "--raw-dir", raw, "--out", out, "--workers", 1) == 0
    assert len(resumed) == len(NAMES60) - 5 and not set(resumed) & set(calls)
    assert not (out / ".partial").exists() and not list(out.rglob("*.tmp.*"))

    fresh = tmp_path / "fresh"
    monkeypatch.setattr(prep, "parse_file", real)
    assert _run("--dataset", "ntu60", "--raw-dir", raw, "--out", fresh, "--workers", 1) == 0
    for split in ("xsub", "xview"):
        for part in ("train", "val"):
            np.testing.assert_array_equal(np.load(out / split / f"{part}_data.npy"),
                                          np.load(fresh / split / f"{part}_data.npy"))

    again = []
    monkeypatch.setattr(prep, "parse_file", lambda p: again.append(p) or real(p))
    assert _run("--dataset", "ntu60", "--raw-dir", raw, "--out", out, "--workers", 1) == 0
    assert again == []                                            # finished output: nothing to do


def test_interrupted_writing_leaves_no_arrays_or_temporaries(tmp_path, monkeypatch):
    raw, _ = _raw(tmp_path, NAMES60[:3])
    out = tmp_path / "out"

    def interrupted(clip):
        raise KeyboardInterrupt
    monkeypatch.setattr(prep, "centre_clip", interrupted)
    assert _run("--dataset", "ntu60", "--raw-dir", raw, "--out", out, "--workers", 1) == 130
    written = [p.relative_to(out) for p in out.rglob("*") if p.is_file() and ".partial" not in p.parts]
    assert written == []                       # no manifest, no arrays, no temporaries; the parsed shards stay


def test_parallel_workers_give_the_same_arrays(tmp_path):
    raw, _ = _raw(tmp_path, NAMES60[:4])
    for w in (1, 2):
        assert _run("--dataset", "ntu60", "--raw-dir", raw, "--out", tmp_path / f"w{w}", "--workers", w) == 0
    np.testing.assert_array_equal(np.load(tmp_path / "w1/xsub/train_data.npy"),
                                  np.load(tmp_path / "w2/xsub/train_data.npy"))


def test_max_frames_cuts_long_clips(tmp_path):
    raw, clips = _raw(tmp_path, NAMES60[:2])
    out = tmp_path / "out"
    assert _run("--dataset", "ntu60", "--raw-dir", raw, "--out", out, "--workers", 1, "--max-frames", 20,
                "--no-center") == 0
    assert json.loads((out / "manifest.json").read_text())["truncated_clips"] == 2
    ds, names = _items(out, "ntu60", "xsub", True)
    clip, valid, _, _ = ds[0]
    assert clip.shape[1] == 20 and valid == 20
    np.testing.assert_allclose(clip.numpy(), clips[names[0]][:, :20], atol=2e-6)


def test_missing_or_empty_raw_folder(tmp_path, capsys):
    assert _run("--dataset", "ntu60", "--raw-dir", tmp_path / "nope", "--out", tmp_path / "out") == 2
    assert "raw folder" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert _run("--dataset", "ntu60", "--raw-dir", tmp_path / "empty", "--out", tmp_path / "out") == 2
    assert "no ntu60 .skeleton files under" in capsys.readouterr().err
    assert _run("--dataset", "ntu60", "--raw-dir", tmp_path, "--out", tmp_path / "out", "--max-frames", 0) == 2
    assert "--max-frames must be at least 1" in capsys.readouterr().err


def test_duplicates_bad_names_under_strict_and_all_bad(tmp_path, capsys):
    raw, _ = _raw(tmp_path, NAMES60[:2])
    write_raw_dataset(raw / "copy", NAMES60[:1])
    out = tmp_path / "out"
    assert _run("--dataset", "ntu60", "--raw-dir", raw, "--out", out, "--workers", 1) == 0
    assert "duplicate of" in capsys.readouterr().err
    os.remove(raw / "copy" / f"{NAMES60[0]}.skeleton")
    (raw / "copy" / "readme.skeleton").write_text("")
    assert _run("--dataset", "ntu60", "--raw-dir", raw, "--out", tmp_path / "o2", "--strict") == 2
    assert "file name is not of the form" in capsys.readouterr().err
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / NAMES60[0]).with_suffix(".skeleton").write_text("1\r\n1\r\n")
    assert _run("--dataset", "ntu60", "--raw-dir", bad, "--out", tmp_path / "o3", "--workers", 1) == 2
    assert "none of the 1 files under" in capsys.readouterr().err
