"""pytest plugin: keep only the tests that need a GPU, i.e. those a CPU machine skips.

    PYTHONPATH=.:benchmarks python -m pytest tests -p cuda_only_tests

A test needs a GPU when it carries a skipif mark whose reason says it needs one
("needs a GPU and the CUDA kernels", "needs a GPU and the CUDA build", ...). The mark's
condition is already evaluated (False on a GPU machine), so the reason is what identifies
them on any machine; on a CPU they are all reported skipped. Tests that need the absence of
CUDA ("needs a machine without CUDA") are not GPU tests and are deselected.
"""
import re

NEEDS_GPU = re.compile(r"\b(GPU|CUDA)\b", re.I)
NEEDS_NO_GPU = re.compile(r"\bwithout\b", re.I)


def needs_gpu(item) -> bool:
    for mark in item.iter_markers("skipif"):
        reason = str(mark.kwargs.get("reason", ""))
        if NEEDS_GPU.search(reason) and not NEEDS_NO_GPU.search(reason):
            return True
    return False


def pytest_collection_modifyitems(config, items):
    keep = [item for item in items if needs_gpu(item)]
    dropped = [item for item in items if not needs_gpu(item)]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
    items[:] = keep
