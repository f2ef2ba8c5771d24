"""Keep freed memory for reuse: glibc's malloc returns every block above 32 MB to the kernel
when it is freed (mmap / munmap), so the next tensor of that size starts on fresh pages and
pays a page fault per 4 KB on first touch. A training step allocates the same large tensors
every step (the last ST-GCN block's (128,256,13,25) float32 maps are 42 MB, and a mean over a
bfloat16 map is summed in a float32 copy of it), so on the CPU the step spends part of its
time in the kernel. keep_freed_memory() tells malloc (mallopt) to serve every block from the
heap and never give freed memory back, so those pages are reused: the process keeps its peak
memory instead of returning it between steps. train_step calls keep_for_training() before
its first step on a CPU; benchmarks/bench_train_step.py --malloc default measures a step
without it (README "Precision"). No-op where the C library has no mallopt (macOS, Windows).
"""
import ctypes
import ctypes.util
import sys

M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4          # glibc malloc.h
GLIBC_DEFAULTS = {M_TRIM_THRESHOLD: 128 * 1024, M_MMAP_MAX: 65536}
_state = {"kept": False, "decided": False}


def _mallopt():
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return getattr(libc, "mallopt", None)
    except OSError:
        return None


def keep_freed_memory(keep: bool = True) -> bool:
    """keep: no mmap'd blocks and no trimming (freed memory stays for reuse); False: glibc's
    defaults. Returns whether the C library took the setting."""
    mallopt = _mallopt()
    if mallopt is None:
        return False
    settings = {M_MMAP_MAX: 0, M_TRIM_THRESHOLD: 2 ** 31 - 1} if keep else GLIBC_DEFAULTS
    ok = all(mallopt(ctypes.c_int(k), ctypes.c_int(v)) == 1 for k, v in settings.items())
    _state.update(kept=keep and ok, decided=True)
    return ok


def keep_for_training() -> None:
    """keep_freed_memory(), once per process, unless the process already chose (a benchmark)."""
    if not _state["decided"]:
        keep_freed_memory()


def leave_default() -> None:
    """This process keeps glibc's behaviour: keep_for_training() does nothing."""
    _state["decided"] = True


def memory_kept() -> bool:
    return _state["kept"]
