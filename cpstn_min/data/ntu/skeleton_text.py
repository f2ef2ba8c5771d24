"""Parser for one NTU RGB+D `.skeleton` text file (Kinect v2; CRLF or LF line endings).

Layout, line by line: frame count; per frame a body count, then per body an info line of
10 fields (tracking id first), the joint count (25) and 25 joint lines of 12 fields
(x y z depthX depthY colorX colorY qW qX qY qZ trackingState). Only x, y, z are kept.

Speed: the frame/body headers (a few hundred short lines) are walked in Python; the joint
lines (>95% of the file) are never split in Python: line and space positions come from
numpy, the bytes of the x, y, z fields are gathered with one fancy index and converted by
one np.fromstring call (fields 4-12 are checked, not converted: ~2x faster).
Checks: every joint line has exactly 12 fields, x/y/z are finite numbers, and every byte
of the file belongs to a number, a space or a line break (so a damaged field anywhere
is found). Any deviation raises DataError naming the file and the 1-based line number.

parse_skeleton(path) -> SkeletonFile with
    frame_count  int        frames announced on line 1 (0-body frames included)
    block_frame  (K,) int64 frame of each body block, K = body blocks in the file
    block_body   (K,) int64 index into body_ids of each block
    body_ids     list[str]  Kinect tracking ids in order of first appearance
    xyz          (K,25,3) float32 camera-space metres of each block's joints
"""
import os
from dataclasses import dataclass

import numpy as np

from ...errors import DataError
from ..common import NUM_JOINTS as JOINTS
JOINT_FIELDS = 12
BODY_FIELDS = 10
_SPACE, _NEWLINE = ord(" "), ord("\n")
NUMBER_BYTES = b"0123456789+-.eE \r\n"          # every byte of a well-formed file


@dataclass
class SkeletonFile:
    frame_count: int
    block_frame: np.ndarray
    block_body: np.ndarray
    body_ids: list
    xyz: np.ndarray


def parse_skeleton(path) -> SkeletonFile:
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise DataError(f"{path}: cannot read: {e.strerror}") from None
    return parse_skeleton_bytes(raw, str(path))


def parse_skeleton_bytes(raw: bytes, path: str = "<bytes>") -> SkeletonFile:
    lines = raw.split(b"\n")                               # a trailing "\r" is ignored by int() and split()
    if lines[-1] == b"":
        lines.pop()                                        # the line break after the last line
    _check_bytes(raw, path)
    try:
        walk = _fast_walk(lines)
    except (ValueError, IndexError):
        walk = None
    if walk is None:                                       # something is off: find it and say where
        walk = _careful_walk(_Lines(lines, path))
    frame_count, block_frame, block_key, block_line = walk
    ids = {}                                               # tracking id -> index, in order of first appearance
    block_body = [ids.setdefault(key, len(ids)) for key in block_key]
    return SkeletonFile(frame_count=frame_count,
                        block_frame=np.asarray(block_frame, dtype=np.int64),
                        block_body=np.asarray(block_body, dtype=np.int64),
                        body_ids=[_text(key) for key in ids],
                        xyz=_joint_xyz(raw, len(lines), block_line, path))


def _fast_walk(lines):
    """The header walk for well-formed files; None (or an exception) on anything unusual."""
    frame_count = int(lines[0])
    i = 1
    block_frame, block_key, block_line = [], [], []
    for f in range(frame_count):
        bodies = int(lines[i])
        i += 1
        if bodies < 0:
            return None
        for _ in range(bodies):
            info = lines[i]
            key = info[:info.find(b" ")]
            if info.count(b" ") != BODY_FIELDS - 1 or not key.isdigit() or int(lines[i + 1]) != JOINTS:
                return None
            block_frame.append(f)
            block_key.append(key)
            block_line.append(i + 2)
            i += JOINTS + 2
    if frame_count < 0 or i > len(lines) or any(line.strip() for line in lines[i:]):
        return None
    return frame_count, block_frame, block_key, block_line


def _careful_walk(lines):
    """Walks the headers checking everything; raises DataError at the first problem."""
    path = lines.path
    frame_count = lines.integer("the frame count")
    block_frame, block_key, block_line = [], [], []
    for f in range(frame_count):
        count_line = lines.i
        bodies = lines.integer(f"the body count of frame {f + 1}")
        for b in range(bodies):
            info = lines.fields(f"the info line of body {b + 1} of {bodies} in frame {f + 1}", BODY_FIELDS,
                                count_line)
            if not info[0].lstrip(b"-").isdigit():
                raise DataError(f"{path}: line {lines.i}: tracking id {_excerpt(info[0])} is not an integer")
            joints = lines.integer(f"the joint count of body {b + 1} in frame {f + 1}")
            if joints != JOINTS:
                raise DataError(f"{path}: line {lines.i}: joint count {joints}, expected {JOINTS}")
            block_frame.append(f)
            block_key.append(info[0])
            block_line.append(lines.i)
            lines.skip(JOINTS, f"the {JOINTS} joint lines of body {b + 1} in frame {f + 1}")
    lines.expect_end(frame_count)
    return frame_count, block_frame, block_key, block_line


def _check_bytes(raw, path):
    """Every byte must be part of a number, a space or a line break (one C-speed pass)."""
    if not raw.translate(None, NUMBER_BYTES):
        return
    pos = next(k for k, byte in enumerate(raw) if bytes([byte]) not in NUMBER_BYTES)
    start = raw.rfind(b"\n", 0, pos) + 1
    end = raw.find(b"\n", pos)
    line = raw[start:end if end >= 0 else len(raw)]
    bad = next((f for f in line.split() if f.translate(None, NUMBER_BYTES)), line)
    line_no = raw.count(b"\n", 0, pos) + 1
    raise DataError(f"{path}: line {line_no}: field {_excerpt(bad)} is not a number")


class _Lines:
    """Header lines read in order; `i` is the 0-based index of the next line."""

    def __init__(self, lines, path):
        self.lines, self.path, self.i = lines, path, 0

    def __getitem__(self, k):
        return self.lines[k].rstrip(b"\r")

    def __len__(self):
        return len(self.lines)

    def _next(self, what):
        if self.i >= len(self):
            raise DataError(f"{self.path}: truncated: expected {what} at line {self.i + 1}, "
                            f"but the file ends after line {len(self)}")
        self.i += 1
        return self[self.i - 1]

    def integer(self, what):
        line = self._next(what)
        try:
            value = int(line)
        except ValueError:
            hint = (" (the body count of the previous frame does not match the lines that follow)"
                    if "body count" in what and len(line.split()) in (BODY_FIELDS, JOINT_FIELDS) else "")
            raise DataError(f"{self.path}: line {self.i}: expected {what} (one integer), "
                            f"found {_excerpt(line, 60)}{hint}") from None
        if value < 0:
            raise DataError(f"{self.path}: line {self.i}: {what} is negative ({value})")
        return value

    def fields(self, what, n, count_line):
        fields = self._next(what).split()
        if len(fields) != n:
            hint = (f": the body count on line {count_line + 1} does not match the lines that follow"
                    if len(fields) in (1, JOINT_FIELDS) else "")
            raise DataError(f"{self.path}: line {self.i}: expected {what} ({n} fields), "
                            f"found {len(fields)} field(s){hint}")
        return fields

    def skip(self, n, what):
        if self.i + n > len(self):
            raise DataError(f"{self.path}: truncated: expected {what} at lines {self.i + 1}-{self.i + n}, "
                            f"but the file ends after line {len(self)}")
        self.i += n

    def expect_end(self, frame_count):
        rest = [k for k in range(self.i, len(self)) if self[k].strip()]
        if rest:
            raise DataError(f"{self.path}: line {rest[0] + 1}: {len(rest)} unexpected line(s) after the "
                            f"{frame_count} frames announced on line 1 (a body count does not match the "
                            f"lines that follow, or the frame count is wrong)")


def _joint_xyz(raw, n_lines, block_line, path):
    """(K,25,3) float32 x, y, z of the joint lines starting at each index of block_line."""
    if not block_line:
        return np.zeros((0, JOINTS, 3), np.float32)
    buf = np.frombuffer(raw, np.uint8)
    ends = np.append(np.flatnonzero(buf == _NEWLINE), len(raw))[:n_lines]      # line k: raw[starts[k]:ends[k]]
    starts = np.concatenate([[0], ends[:-1] + 1])
    rows = (np.asarray(block_line)[:, None] + np.arange(JOINTS)).ravel()     # joint line indices
    line_start, line_end = starts[rows], ends[rows]
    spaces = np.flatnonzero(buf == _SPACE)
    first = np.searchsorted(spaces, line_start)
    values = None
    if ((np.searchsorted(spaces, line_end) - first) == JOINT_FIELDS - 1).all():   # 11 single spaces a line
        stop = spaces[first + 2] + 1                       # x, y, z and the space after z
        lengths = stop - line_start
        shift = np.repeat(line_start - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
        text = buf[shift + np.arange(int(lengths.sum()))].tobytes()
        try:
            values = np.fromstring(text, dtype=np.float64, sep=" ")
        except ValueError:                                 # a malformed number: found line by line below
            pass
        if values is not None and values.size != 3 * len(rows):
            values = None
    if values is None:                  # unusual spacing or number syntax: the exact line-by-line reader
        values = _xyz_line_by_line(raw, starts, ends, rows, path)
    xyz = values.reshape(len(block_line), JOINTS, 3)
    finite = np.isfinite(xyz).all(axis=2)
    if not finite.all():
        k = int(np.flatnonzero(~finite.ravel())[0])
        raise DataError(f"{path}: line {rows[k] + 1}: joint coordinate is NaN or infinite")
    return xyz.astype(np.float32)


def _xyz_line_by_line(raw, starts, ends, rows, path):
    out = np.empty((len(rows), 3))
    for r, k in enumerate(rows.tolist()):
        fields = raw[starts[k]:ends[k]].split()
        if len(fields) != JOINT_FIELDS:
            raise DataError(f"{path}: line {k + 1}: expected a joint line ({JOINT_FIELDS} fields), "
                            f"found {len(fields)} field(s): {_excerpt(raw[starts[k]:ends[k]], 60)}")
        for c in range(3):
            try:
                out[r, c] = float(fields[c])
            except ValueError:
                raise DataError(f"{path}: line {k + 1}: field {c + 1} {_excerpt(fields[c])} is not a number") \
                    from None
    return out.ravel()


def _text(b):
    return b.decode("ascii", "replace") if isinstance(b, bytes) else str(b)


def _excerpt(b, limit: int = 40) -> str:
    """A quoted excerpt for messages: bytes that are not printable ASCII show escaped (\\xNN), so a
    binary file never writes raw bytes to the terminal, and a long field is cut."""
    text = repr(b[:limit])
    text = text[1:] if isinstance(b, bytes) else text   # b'...' -> '...'
    return text + ("..." if len(b) > limit else "")


def sample_name(path) -> str:
    """'.../S001C002P003R002A013.skeleton' -> 'S001C002P003R002A013'."""
    name = os.path.basename(str(path))
    return name[:-len(".skeleton")] if name.endswith(".skeleton") else name
