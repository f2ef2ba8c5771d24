"""The .skeleton parser: values, line endings, body bookkeeping, and one clear error per defect."""
import os
import re
import pathlib

import numpy as np
import pytest

from cpstn_min.data.base import DataError
from cpstn_min.data.ntu import skeleton_text as parser
from cpstn_min.data.common import centre_clip
from cpstn_min.data.ntu.clip import clip_from_skeleton
from cpstn_min.data.ntu.skeleton_text import parse_skeleton, parse_skeleton_bytes, sample_name
from ntu_fixtures import body_motion, line_numbers, make_sample, skeleton_text

REAL_FIXTURES = pathlib.Path(os.environ.get("CPSTN_NTU_FIXTURES",
                                            pathlib.Path(__file__).resolve().parents[2] / "shared" / "fixtures"))


def _sample(amplitudes=(0.3, 0.1), frames=12, seed=0):
    rng = np.random.default_rng(seed)
    frame_list, clip = make_sample(rng, frames=frames, amplitudes=amplitudes)
    return frame_list, clip, rng


def _write(tmp_path, text, name="S001C001P001R001A001.skeleton"):
    path = tmp_path / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


@pytest.mark.parametrize("newline", ["\r\n", "\n"])
def test_values_bodies_and_empty_frames(tmp_path, newline):
    frame_list, _, rng = _sample()
    path = _write(tmp_path, skeleton_text(frame_list, rng, newline))
    sk = parse_skeleton(path)
    assert sk.frame_count == len(frame_list)
    blocks = [(f, bid, xyz) for f, bodies in enumerate(frame_list) for bid, xyz in bodies]
    assert len(sk.block_frame) == len(blocks)
    np.testing.assert_array_equal(sk.block_frame, [f for f, _, _ in blocks])
    assert sk.body_ids == [str(b) for b in dict.fromkeys(bid for _, bid, _ in blocks)]
    np.testing.assert_array_equal([sk.body_ids[k] for k in sk.block_body], [str(b) for _, b, _ in blocks])
    np.testing.assert_allclose(sk.xyz, np.stack([xyz for _, _, xyz in blocks]), rtol=1e-6, atol=1e-6)
    assert sk.xyz.dtype == np.float32 and sk.xyz.shape[1:] == (25, 3)


def test_crlf_and_lf_parse_identically():
    frame_list, _, _ = _sample()
    a = parse_skeleton_bytes(skeleton_text(frame_list, np.random.default_rng(1), "\r\n").encode())
    b = parse_skeleton_bytes(skeleton_text(frame_list, np.random.default_rng(1), "\n").encode())
    np.testing.assert_array_equal(a.xyz, b.xyz)
    np.testing.assert_array_equal(a.block_frame, b.block_frame)


def test_unusual_spacing_and_number_syntax_take_the_exact_path(monkeypatch):
    """Double spaces, a missing final line break and exponent notation still give the same values."""
    frame_list, _, rng = _sample(amplitudes=(0.3,), frames=4)
    text = skeleton_text(frame_list, rng, "\r\n")
    ref = parse_skeleton_bytes(text.encode())
    lines = text.split("\r\n")
    k = line_numbers(frame_list)[2][1][0][2]                       # first joint line of frame 3
    fields = lines[k - 1].split(" ")
    fields[0] = f"{float(fields[0]) * 10:.7g}E-1"                 # same value, exponent form
    lines[k - 1] = "  ".join(fields)
    calls = []
    exact = parser._xyz_line_by_line
    monkeypatch.setattr(parser, "_xyz_line_by_line", lambda *a: calls.append(1) or exact(*a))
    other = parse_skeleton_bytes("\r\n".join(lines).rstrip("\r\n").encode())
    assert calls, "double spaces must send the file through the line-by-line reader"
    np.testing.assert_allclose(other.xyz, ref.xyz, rtol=1e-6)


def test_all_frames_empty_parses_but_gives_no_clip():
    sk = parse_skeleton_bytes(skeleton_text([[], [], []]).encode())
    assert sk.frame_count == 3 and sk.xyz.shape == (0, 25, 3)
    with pytest.raises(DataError, match="no body in any of the 3 frames"):
        clip_from_skeleton(sk)


def test_clip_keeps_two_most_active_bodies_and_drops_empty_frames():
    # the third body moves most and appears only in the second half: it comes first
    frame_list, expected, _ = _sample(amplitudes=(0.1, 0.01, 0.4), frames=20)
    clip = clip_from_skeleton(parse_skeleton_bytes(skeleton_text(frame_list).encode()))
    assert clip.shape == (20, 2, 25, 3)                         # 4 empty frames dropped
    np.testing.assert_allclose(clip.transpose(3, 0, 2, 1), expected, atol=1e-5)
    assert (clip[:10, 0] == 0).all() and (clip[10:, 0] != 0).all()


def test_centre_moves_spine_of_frame_zero_to_origin():
    frame_list, expected, _ = _sample(frames=10)
    clip = clip_from_skeleton(parse_skeleton_bytes(skeleton_text(frame_list).encode())).transpose(3, 0, 2, 1)
    centred = centre_clip(clip)
    np.testing.assert_allclose(centred[:, 0, 1, 0], 0, atol=1e-6)
    shift = expected[:, 0, 1, 0][:, None, None, None]
    np.testing.assert_allclose(centred, np.where(expected != 0, expected - shift, 0), atol=1e-5)


def test_sample_name():
    assert sample_name("/x/y/S017C003P020R002A060.skeleton") == "S017C003P020R002A060"


# ---- one clear error per defect, naming the file and the line --------------------------------------------

def _two_frames():
    rng = np.random.default_rng(3)
    frames = [[(7, body_motion(rng, 1, 0.1)[0])], [(7, body_motion(rng, 1, 0.1)[0]), (9, body_motion(rng, 1, 0.1)[0])]]
    return frames, skeleton_text(frames, rng, "\r\n").split("\r\n")[:-1], line_numbers(frames)


def _expect_error(tmp_path, lines, pattern):
    path = _write(tmp_path, "\r\n".join(lines) + "\r\n")
    with pytest.raises(DataError) as e:
        parse_skeleton(path)
    assert str(path) in str(e.value)
    assert re.search(pattern, str(e.value)), str(e.value)


def test_error_truncated_in_joint_lines(tmp_path):
    _, lines, pos = _two_frames()
    first_joint = pos[1][1][1][2]
    _expect_error(tmp_path, lines[:first_joint + 3], rf"truncated: expected the 25 joint lines of body 2 in frame 2 "
                                                    rf"at lines {first_joint}-{first_joint + 24}")


def test_error_truncated_before_a_frame(tmp_path):
    _, lines, pos = _two_frames()
    _expect_error(tmp_path, lines[:pos[1][0] - 1],
                  rf"truncated: expected the body count of frame 2 at line {pos[1][0]}")


def test_error_empty_file(tmp_path):
    path = _write(tmp_path, b"")
    with pytest.raises(DataError, match="truncated: expected the frame count at line 1"):
        parse_skeleton(path)


def test_error_non_numeric_coordinate(tmp_path):
    _, lines, pos = _two_frames()
    k = pos[0][1][0][2] + 4
    lines[k - 1] = "abc" + lines[k - 1][lines[k - 1].index(" "):]
    _expect_error(tmp_path, lines, rf"line {k}: field 'abc' is not a number")


def test_error_non_numeric_unused_field(tmp_path):
    _, lines, pos = _two_frames()
    k = pos[1][1][0][2] + 10
    f = lines[k - 1].split(" ")
    f[6] = "519.1x"
    lines[k - 1] = " ".join(f)
    _expect_error(tmp_path, lines, rf"line {k}: field '519.1x' is not a number")


def test_error_malformed_number(tmp_path):
    _, lines, pos = _two_frames()
    k = pos[1][1][1][2] + 2
    lines[k - 1] = "1.2.3" + lines[k - 1][lines[k - 1].index(" "):]
    _expect_error(tmp_path, lines, rf"line {k}: field 1 '1.2.3' is not a number")


def test_error_infinite_coordinate(tmp_path):
    _, lines, pos = _two_frames()
    k = pos[0][1][0][2]
    lines[k - 1] = "1e999" + lines[k - 1][lines[k - 1].index(" "):]
    _expect_error(tmp_path, lines, rf"line {k}: joint coordinate is NaN or infinite")


def test_error_non_numeric_frame_count(tmp_path):
    _, lines, _ = _two_frames()
    lines[0] = "two"
    _expect_error(tmp_path, lines, r"line 1: field 'two' is not a number")
    lines[0] = "2.5"
    _expect_error(tmp_path, lines, r"line 1: expected the frame count \(one integer\), found '2.5'")


def test_error_joint_count_not_25(tmp_path):
    _, lines, pos = _two_frames()
    k = pos[1][1][0][1]
    lines[k - 1] = "24"
    _expect_error(tmp_path, lines, rf"line {k}: joint count 24, expected 25")


def test_error_body_count_too_high(tmp_path):
    """Frame 1 claims 2 bodies but has 1: the next frame's count line is read as a body info line."""
    _, lines, pos = _two_frames()
    lines[pos[0][0] - 1] = "2"
    _expect_error(tmp_path, lines, rf"line {pos[1][0]}: expected the info line of body 2 of 2 in frame 1 "
                                   rf"\(10 fields\), found 1 field\(s\): the body count on line {pos[0][0]} "
                                   rf"does not match the lines that follow")


def test_error_body_count_too_low(tmp_path):
    """Frame 2 claims 1 body but has 2: lines are left over after the last frame."""
    _, lines, pos = _two_frames()
    lines[pos[1][0] - 1] = "1"
    _expect_error(tmp_path, lines, rf"line {pos[1][1][1][0]}: 27 unexpected line\(s\) after the 2 frames")


def test_error_body_count_too_low_mid_file(tmp_path):
    frames, _, _ = _two_frames()
    frames = [frames[1], frames[0]]
    lines, pos = skeleton_text(frames).split("\r\n")[:-1], line_numbers(frames)
    lines[pos[0][0] - 1] = "1"
    _expect_error(tmp_path, lines, rf"line {pos[0][1][1][0]}: expected the body count of frame 2 \(one integer\), "
                                   rf"found .*does not match the lines that follow")


def test_error_negative_body_count(tmp_path):
    _, lines, pos = _two_frames()
    lines[pos[0][0] - 1] = "-1"
    _expect_error(tmp_path, lines, rf"line {pos[0][0]}: the body count of frame 1 is negative")


def test_error_joint_line_with_missing_field(tmp_path):
    _, lines, pos = _two_frames()
    k = pos[0][1][0][2] + 24
    lines[k - 1] = lines[k - 1].rsplit(" ", 1)[0]
    _expect_error(tmp_path, lines, rf"line {k}: expected a joint line \(12 fields\), found 11 field\(s\)")


def test_error_tracking_id_not_integer(tmp_path):
    _, lines, pos = _two_frames()
    k = pos[1][1][1][0]
    lines[k - 1] = "12.5" + lines[k - 1][lines[k - 1].index(" "):]
    _expect_error(tmp_path, lines, rf"line {k}: tracking id '12.5' is not an integer")


def test_error_unreadable_file(tmp_path):
    with pytest.raises(DataError, match="cannot read"):
        parse_skeleton(tmp_path / "S001C001P001R001A001.skeleton")


@pytest.mark.skipif(not REAL_FIXTURES.is_dir() or not any(REAL_FIXTURES.rglob("*.skeleton")),
                    reason="no real NTU samples in ../shared/fixtures")
def test_real_samples_parse():
    for path in sorted(REAL_FIXTURES.rglob("*.skeleton"))[:20]:
        raw = path.read_bytes()
        sk = parse_skeleton(path)
        n_lines = len(raw.replace(b"\r\n", b"\n").rstrip(b"\n").split(b"\n"))
        assert n_lines == 1 + sk.frame_count + 27 * len(sk.block_frame)
        assert np.isfinite(sk.xyz).all() and (np.abs(sk.xyz) < 10).all()
        first = raw.split(b"\n")[3].split()[:3]                        # line 4: first joint of frame 1
        if int(raw.split(b"\n")[1]) > 0:
            np.testing.assert_allclose(sk.xyz[0, 0], [float(v) for v in first], rtol=1e-6)
