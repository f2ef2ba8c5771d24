"""Atomic file writes: a crash or kill never leaves half a file under the final name.

    with atomic_write(path) as f:      # binary; atomic_write(path, "w") for text
        torch.save(obj, f)

The data go to `<path>.tmp.<pid>` in the same folder, are flushed and fsynced,
then renamed over `path` (os.replace is atomic on POSIX). On an exception the
temporary file is removed. `remove_stale_temps` deletes the temporaries of
writers that were killed (their pid no longer runs).
"""
import contextlib
import glob
import os

TMP_TAG = ".tmp."


def temp_name(path: str) -> str:
    return f"{path}{TMP_TAG}{os.getpid()}"


@contextlib.contextmanager
def atomic_write(path: str, mode: str = "wb"):
    if "w" not in mode:
        raise ValueError(f"atomic_write needs a write mode, got {mode!r}")
    tmp = temp_name(path)
    try:
        with open(tmp, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:   # exists, owned by someone else
        return True
    return True


def remove_stale_temps(path: str) -> list:
    """Delete `<path>.tmp.<pid>` files whose writer is gone; returns the removed paths."""
    removed = []
    for tmp in glob.glob(glob.escape(path) + TMP_TAG + "*"):
        pid = tmp.rsplit(TMP_TAG, 1)[1]
        if pid.isdigit() and int(pid) != os.getpid() and not _pid_alive(int(pid)):
            with contextlib.suppress(OSError):
                os.remove(tmp)
                removed.append(tmp)
    return removed
