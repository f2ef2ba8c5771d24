"""One process per run folder: RUN/.lock, held with flock while the run lives.

Two runs (or a run and a `--resume`) writing one folder would interleave their
logs and checkpoints. The lock file holds the owner's PID, for the message; the
lock itself is the kernel's flock on it, which the kernel drops when the owner
exits, however it exits (SIGKILL included), so a lock file left by a dead process
is taken over. Workers orphaned by a killed torchrun launcher still run, and
rank 0 among them still holds the lock.
"""
import contextlib
import fcntl
import os

from .errors import UsageError

LOCK_NAME = ".lock"


class RunLock:
    def __init__(self, folder: str):
        self.path = os.path.join(folder, LOCK_NAME)
        self.fd = None

    def acquire(self) -> "RunLock":
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                owner = _read_pid(fd)
                os.close(fd)
                raise UsageError(f"{os.path.dirname(self.path) or '.'} is in use by another run "
                                 f"(process {owner or '?'}, {self.path}); wait for it to finish or stop it, "
                                 "or choose another --out-dir") from None
            # a releasing owner unlinks the file after we opened it: then our lock guards nothing
            if _same_file(fd, self.path):
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self.fd = fd
        return self

    def release(self) -> None:
        if self.fd is None:
            return
        with contextlib.suppress(OSError):
            os.remove(self.path)   # while still locked, so nobody else's lock file is removed
        os.close(self.fd)
        self.fd = None

    __del__ = release   # a Run dropped without close() frees its folder too


def _read_pid(fd: int) -> str:
    with contextlib.suppress(OSError, ValueError):
        return str(int(os.pread(fd, 32, 0).decode().strip()))
    return ""


def _same_file(fd: int, path: str) -> bool:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    fst = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (fst.st_dev, fst.st_ino)
