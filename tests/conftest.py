import os
import sys

import pytest
import torch

# tests import train.py / eval.py from the repository root
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture
def reference_backend(monkeypatch):
    """Force every op onto the plain-PyTorch fallback for one test."""
    monkeypatch.setenv("CPSTN_BACKEND", "reference")


@pytest.fixture
def composed_calls(monkeypatch):
    """A list that gets one entry per call of reference.graph_conv_composed (which still runs)."""
    from cpstn_min import reference
    calls, composed = [], reference.graph_conv_composed
    monkeypatch.setattr(reference, "graph_conv_composed", lambda *a: calls.append(1) or composed(*a))
    return calls


@pytest.fixture
def one_thread():
    """Tiny tensors: a second thread only adds synchronization overhead."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
