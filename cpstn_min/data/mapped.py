"""Memory-mapped clip arrays: opened lazily, reopened in every DataLoader worker.

MappedArray describes where an (N,3,T,V,M) array lies on disk: a .npy file, or a
member stored uncompressed inside an .npz (at a byte offset), optionally in CTR-GCN's
(N,T,M*V*3) order, which opens as a transposed view (no copy). MappedSkeletonDataset
pickles as that description, not as the data, so each worker maps the file itself; when
the source has no valid-frame counts (ST-GCN, CTR-GCN layouts) an item's count comes from
its clip, and the whole (N,) array is computed on first use of `.valid_frames`, in
chunks, and cached on disk. `atomic_open_memmap` writes such an array: a new .npy filled
in place, in the final file only once complete.
"""
import contextlib
import hashlib
import os
import struct
import zipfile
from dataclasses import dataclass

import numpy as np
import torch
from numpy.lib.format import open_memmap
from tqdm import tqdm

from ..atomic import atomic_write
from ..errors import DataError
from .base import SkeletonArrayDataset
from .common import MAX_BODIES as M, NUM_JOINTS as V, valid_frames_of


@dataclass(frozen=True)
class MappedArray:
    path: str
    dtype: str
    shape: tuple
    offset: int
    fortran: bool = False
    ctrgcn: bool = False          # stored as (N,T,M*V*3) with (T, body, joint, xyz) order

    def open(self) -> np.ndarray:
        a = np.memmap(self.path, dtype=np.dtype(self.dtype), mode="r", shape=self.shape, offset=self.offset,
                      order="F" if self.fortran else "C")
        if self.ctrgcn:
            n, t, _ = self.shape
            return a.reshape(n, t, M, V, 3).transpose(0, 4, 1, 3, 2)
        return a


def npy_array(path, what) -> MappedArray:
    """Describes the .npy file at `path`; checks it opens as a memory map of numbers."""
    try:
        a = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise DataError(f"{path}: cannot open {what} as a memory-mapped .npy array: {e}") from None
    _check_numeric(a.dtype, path, what)
    return MappedArray(str(path), a.dtype.str, tuple(a.shape), int(a.offset),
                       fortran=bool(a.flags.f_contiguous and not a.flags.c_contiguous))


def npz_member_array(path, key, extract_dir) -> MappedArray:
    """Describes member `key` of an .npz; a compressed member is first extracted (once) to
    `extract_dir`, since compressed bytes cannot be memory-mapped."""
    try:
        with zipfile.ZipFile(path) as z:
            info = z.getinfo(key + ".npy")
            if info.compress_type != zipfile.ZIP_STORED:
                return npy_array(_extract(z, info, path, extract_dir), f"{key} of {path}")
    except KeyError:
        raise DataError(f"{path}: has no array {key!r}") from None
    except zipfile.BadZipFile as e:
        raise DataError(f"{path}: not a readable .npz file: {e}") from None
    with open(path, "rb") as f:
        f.seek(info.header_offset)
        local = f.read(30)
        if local[:4] != b"PK\x03\x04":
            raise DataError(f"{path}: damaged .npz (bad local header of {key})")
        name_len, extra_len = struct.unpack("<HH", local[26:30])
        f.seek(info.header_offset + 30 + name_len + extra_len)
        try:
            version = np.lib.format.read_magic(f)
            header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                      else np.lib.format.read_array_header_2_0)
            shape, fortran, dtype = header(f)
        except ValueError as e:
            raise DataError(f"{path}: {key} is not a .npy array: {e}") from None
        offset = f.tell()
    _check_numeric(dtype, path, key)
    return MappedArray(str(path), dtype.str, tuple(shape), offset, fortran=fortran)


def _extract(z, info, path, extract_dir):
    st = os.stat(path)
    tag = hashlib.sha1(f"{os.path.abspath(path)}|{st.st_size}|{st.st_mtime_ns}|{info.filename}".encode())
    out = os.path.join(extract_dir, f"{tag.hexdigest()[:16]}-{info.filename}")
    if not os.path.exists(out):
        os.makedirs(extract_dir, exist_ok=True)
        with z.open(info) as src, atomic_write(out) as dst, \
                tqdm(total=info.file_size, unit="B", unit_scale=True, desc=f"extracting {info.filename}") as bar:
            while chunk := src.read(1 << 24):
                dst.write(chunk)
                bar.update(len(chunk))
    return out


@contextlib.contextmanager
def atomic_open_memmap(path, dtype, shape):
    """`with atomic_open_memmap(path, dtype, shape) as a:` a new .npy array, zero-filled and
    memory-mapped for writing in place; committed like atomic.atomic_write (temp name, fsync,
    rename), so `path` holds either nothing or the finished array."""
    with atomic_write(str(path)) as f:
        array = open_memmap(f.name, mode="w+", dtype=dtype, shape=shape)
        yield array
        array.flush()          # the mapped pages reach the file before atomic_write fsyncs it


def _check_numeric(dtype, path, what):
    if dtype.kind not in "fiu":
        raise DataError(f"{path}: {what} has dtype {dtype}, expected floating-point numbers (float32)")


class MappedSkeletonDataset(SkeletonArrayDataset):
    """SkeletonArrayDataset over a MappedArray; valid_frames=None means: derive from the clips."""

    def __init__(self, source: MappedArray, labels, num_classes, name, valid_frames=None, cache_file=None,
                 num_joints=V, channels=(3,)):
        self.source, self.cache_file = source, cache_file
        data = source.open()
        if data.ndim != 5 or data.shape[1] not in channels or data.shape[3] != num_joints:
            c = "/".join(map(str, channels))
            raise DataError(f"{name}: data must have shape (N,{c},T,{num_joints},M), got {tuple(data.shape)}")
        if data.dtype.kind != "f":
            raise DataError(f"{name}: data has dtype {data.dtype}, expected float32")
        # the base class checks counts and ranges; unknown valid frames are checked against zeros
        super().__init__(data, np.zeros(len(data)) if valid_frames is None else valid_frames,
                         labels, num_classes, name)
        self._valid = None if valid_frames is None else self._valid

    @property
    def valid_frames(self) -> np.ndarray:
        if self._valid is None:
            self._valid = self._scan_valid_frames()
        return self._valid

    @valid_frames.setter
    def valid_frames(self, value):
        self._valid = value

    def __getitem__(self, i):
        clip = np.array(self.data[i], dtype=np.float32)                 # a writable copy, not a view of the map
        if not np.isfinite(clip).all():
            raise DataError(f"{self.name}: clip {i} contains NaN or inf")
        valid = self._valid[i] if self._valid is not None else valid_frames_of(clip[None])[0]
        return torch.from_numpy(clip), int(valid), int(self.labels[i]), i

    def __getstate__(self):
        state = self.__dict__.copy()
        state["data"] = None                     # workers map the file themselves
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self.data = self.source.open()

    def _scan_valid_frames(self, chunk=256):
        if self.cache_file and os.path.exists(self.cache_file):
            cached = np.load(self.cache_file)
            if cached.shape == (len(self),):
                return cached
        out = np.empty(len(self), np.int64)
        for s in tqdm(range(0, len(self), chunk), desc=f"valid frames of {os.path.basename(self.source.path)}",
                      disable=len(self) <= 4 * chunk):
            out[s:s + chunk] = valid_frames_of(np.asarray(self.data[s:s + chunk]))
        if self.cache_file:
            os.makedirs(os.path.dirname(self.cache_file), exist_ok=True)
            with atomic_write(self.cache_file) as f:
                np.save(f, out)
        return out


def cache_file(cache_dir, source: MappedArray, what: str) -> str:
    """A cache path that changes whenever the source file does."""
    st = os.stat(source.path)
    tag = hashlib.sha1(f"{os.path.abspath(source.path)}|{st.st_size}|{st.st_mtime_ns}|{source.offset}"
                       f"|{source.shape}".encode()).hexdigest()[:16]
    return os.path.join(cache_dir, f"{tag}-{what}.npy")
