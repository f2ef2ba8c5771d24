"""Calls every cpstn op forward and backward on odd shapes: the program compute-sanitizer watches.

    compute-sanitizer --tool memcheck python benchmarks/sanitize_ops.py --device cuda
    compute-sanitizer --tool racecheck python benchmarks/sanitize_ops.py --device cuda --ops graph_conv --no-compare
    python benchmarks/sanitize_ops.py --device cpu         # the same calls on the CPU kernels

graph_conv through cpstn_min.ops, forward and autograd backward, for V 18/25, T 1/13, Cin and
Cout each 3/64/256, N 1/7 (72 cases; K cycles 1..3, bias on every other case, every third case
non-contiguous: x every other channel of a wider tensor, weight and A transposed views).
graph_conv_backward directly with each single gradient requested. skeleton_augment through
cpstn_min.ops for N 1/7, T 1/13, V 18/25, M 1/2, T_out 1/13/50 (48 cases: valid frames 0..T,
starts outside the clip, reversed playback, non-contiguous x), and once through
augment.make_views. float64 runs every fourth case; bfloat16/float16 run a few cases where
the kernels accept them (probed). Results are compared with reference.py unless --no-compare.
A TorchDispatchMode counts the cpstn::* calls that reached the dispatcher, so the last line
says which ops really ran:  sanitize_ops: {"device": ..., "calls": {...}, "mismatches": ...}
Exit 1 if an op was never reached or a result differs from the reference.
"""
import argparse
import itertools
import json
import os
import sys
from collections import Counter
from unittest import mock

import torch
from torch.utils._python_dispatch import TorchDispatchMode

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from cpstn_min import augment, ops, reference  # noqa: E402
from cpstn_min.config import AugmentConfig  # noqa: E402

TOL = {torch.float32: 1e-4, torch.float64: 1e-10, torch.bfloat16: 3e-2, torch.float16: 1e-2}


class CountCpstnCalls(TorchDispatchMode):
    """Counts every cpstn::* op that reaches the dispatcher (autograd's calls included)."""

    def __init__(self):
        super().__init__()
        self.calls = Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func.name()
        if name.startswith("cpstn::"):
            self.calls[name.split("::")[1].split(".")[0]] += 1
        return func(*args, **(kwargs or {}))


class Checker:
    def __init__(self, compare):
        self.compare, self.cases, self.mismatches, self.worst = compare, 0, [], {}

    def check(self, what, got, want, dtype):
        if not self.compare:
            return
        got, want = got.double().cpu(), want.double().cpu()
        err = ((got - want).abs().max() / want.abs().max().clamp_min(1e-30)).item() if want.numel() else 0.0
        key = str(dtype).replace("torch.", "")
        self.worst[key] = max(self.worst.get(key, 0.0), err)
        if not err <= TOL[dtype]:   # NaN fails too
            self.mismatches.append(f"{what}: relative error {err:.2e} > {TOL[dtype]:.0e}")


def _rand(g, *shape):
    return torch.randn(*shape, generator=g, dtype=torch.float64)


def graph_conv_inputs(g, N, Cin, Cout, T, V, K, bias, strided, dtype, device):
    """x (N,Cin,T,V), weight (K,Cout,Cin), bias (K,Cout) or None, A (K,V,V); strided ones
    are views the kernels must read through strides."""
    x = _rand(g, N, 2 * Cin, T, V) if strided else _rand(g, N, Cin, T, V)
    w, A = _rand(g, K, Cout, Cin) / Cin ** 0.5, _rand(g, K, V, V) / V ** 0.5
    b = _rand(g, K, Cout) if bias else None
    to = lambda t: None if t is None else t.to(device, dtype)  # noqa: E731
    x, w, b, A = to(x), to(w), to(b), to(A)
    if strided:
        x = x[:, ::2]                                   # every other channel
        w = w.transpose(1, 2).contiguous().transpose(1, 2)
        A = A.transpose(1, 2).contiguous().transpose(1, 2)
    return x, w, b, A


def graph_conv_shapes(quick=False, small=False):
    """(V, T, Cin, Cout, N) cases. `small` keeps N 1 and T 1: every channel count, so every
    tiling path (graph first / channels first, several input chunks and output tiles), at the
    least work, for racecheck, which watches every shared-memory access and runs the full
    set for well over its 150 s on an H200."""
    shapes = list(itertools.product((18, 25), (1, 13), (3, 64, 256), (3, 64, 256), (1, 7)))
    if small:
        shapes = [s for s in shapes if s[1] == 1 and s[4] == 1]
    return shapes[::7] if quick else shapes


def run_graph_conv(chk, g, device, dtypes, quick, small=False):
    for i, (V, T, Cin, Cout, N) in enumerate(graph_conv_shapes(quick, small)):
        K, bias, strided = 1 + i % 3, i % 2 == 0, i % 3 == 0
        dtype = dtypes[1] if i % 4 == 3 and len(dtypes) > 1 else torch.float32
        x, w, b, A = graph_conv_inputs(g, N, Cin, Cout, T, V, K, bias, strided, dtype, device)
        leaves = [t.detach().requires_grad_() for t in (x, w, b, A) if t is not None]
        y = ops.graph_conv(*([leaves[0], leaves[1], leaves[2] if bias else None, leaves[-1]]))
        grad_out = _rand(g, *y.shape).to(device, dtype)
        grads = torch.autograd.grad(y, leaves, grad_out)
        what = f"graph_conv N{N} Cin{Cin} Cout{Cout} T{T} V{V} K{K} bias{int(bias)} strided{int(strided)} {dtype}"
        chk.cases += 1
        if chk.compare:
            # the reference runs on the CPU in float64: fewer launches for the sanitizer to watch
            ref_leaves = [t.detach().cpu().double().requires_grad_() for t in leaves]
            y_ref = reference.graph_conv(ref_leaves[0], ref_leaves[1], ref_leaves[2] if bias else None,
                                         ref_leaves[-1])
            ref_grads = torch.autograd.grad(y_ref, ref_leaves, grad_out.cpu().double())
            chk.check(what + " forward", y, y_ref, dtype)
            for name, got, want in zip(("x", "weight", "bias", "A") if bias else ("x", "weight", "A"),
                                       grads, ref_grads):
                chk.check(f"{what} grad_{name}", got, want, dtype)
        if i % 5 == 0:   # the backward op asked for one gradient at a time
            for k in range(4):
                mask = [j == k for j in range(4)]
                if k == 2 and not bias:
                    continue
                out = torch.ops.cpstn.graph_conv_backward.default(grad_out, x, w, b, A, mask)
                want = grads[k] if bias or k < 2 else grads[k - 1]
                chk.check(f"{what} graph_conv_backward mask {mask}", out[k], want, dtype)
    for dtype in dtypes[2:]:   # half precision, where the kernels take it
        N, T = (1, 1) if small else (7, 13)
        x, w, b, A = graph_conv_inputs(g, N, 64, 64, T, 25, 3, True, True, dtype, device)
        leaves = [t.detach().requires_grad_() for t in (x, w, b, A)]
        y = ops.graph_conv(*leaves)
        torch.autograd.grad(y, leaves, torch.ones_like(y))
        want = reference.graph_conv(*(t.cpu().double() for t in (x, w, b, A)))
        chk.check(f"graph_conv {dtype} forward", y, want, dtype)
        chk.cases += 1


def run_skeleton_augment(chk, g, device, dtypes, quick):
    shapes = list(itertools.product((1, 7), (1, 13), (18, 25), (1, 2), (1, 13, 50)))
    for i, (N, T, V, M, T_out) in enumerate(shapes[::5] if quick else shapes):
        dtype = dtypes[1] if i % 4 == 3 and len(dtypes) > 1 else torch.float32
        strided = i % 3 == 0
        x = _rand(g, N, 3, 2 * T, V, M)[:, :, ::2] if strided else _rand(g, N, 3, T, V, M)
        vf = torch.randint(0, T + 1, (N,), generator=g)
        vf[0] = 0 if i % 2 else T                      # an empty clip and a full one
        start = (torch.rand(N, generator=g, dtype=torch.float64) * (T + 2) - 1)
        step = torch.rand(N, generator=g, dtype=torch.float64) * 4 - 2      # negative: reversed
        R = _rand(g, N, 3, 3)
        args = [t.to(device) if t.dtype == torch.int64 else t.to(device, dtype) for t in (x, vf, start, step, R)]
        out = ops.skeleton_augment(*args, T_out)
        chk.cases += 1
        if chk.compare:
            ref = reference.skeleton_augment(*[a.cpu().double() if a.is_floating_point() else a.cpu() for a in args],
                                             T_out)
            chk.check(f"skeleton_augment N{N} T{T} V{V} M{M} T_out{T_out} strided{int(strided)} {dtype}", out, ref,
                      dtype)
    clips = _rand(g, 7, 3, 13, 25, 2).float().to(device)
    views = augment.make_views(clips, torch.tensor([13, 1, 0, 5, 13, 7, 2]), torch.Generator().manual_seed(0),
                               AugmentConfig(T_out=9))
    chk.cases += 1
    assert all(torch.isfinite(v.float()).all() for v in views.values()), "make_views gave non-finite values"


def accepted_dtypes(device):
    """float32 and float64 always; bfloat16 / float16 when the graph_conv kernel takes them here."""
    found = [torch.float32, torch.float64]
    for dtype in (torch.bfloat16, torch.float16):
        x, w, A = (torch.ones(s, device=device, dtype=dtype) for s in ((1, 2, 1, 3), (1, 2, 2), (1, 3, 3)))
        try:
            torch.ops.cpstn.graph_conv.default(x, w, None, A)
            found.append(dtype)
        except RuntimeError:
            pass
    return found


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--ops", default="graph_conv,skeleton_augment", help="comma-separated: graph_conv, skeleton_augment")
    p.add_argument("--no-compare", action="store_true", help="skip the reference comparison (faster under racecheck)")
    p.add_argument("--quick", action="store_true", help="every 7th graph_conv and 5th augmentation case")
    p.add_argument("--small", action="store_true", help="graph_conv cases with N 1 and T 1 only (for racecheck)")
    args = p.parse_args(argv)
    device = torch.device(args.device)
    wanted = args.ops.split(",")
    if not ops.extension_loaded():
        print(f"sanitize_ops: the extension is not built, so no kernel would run ({ops._EXT_ERROR})", file=sys.stderr)
        return 1
    dtypes = accepted_dtypes(device)
    chk, g = Checker(not args.no_compare), torch.Generator().manual_seed(0)
    # the kernels are under test, also where ops.graph_conv would pick the composed order
    with mock.patch.dict(os.environ, {"CPSTN_GRAPH_CONV": "kernel"}), CountCpstnCalls() as counter:
        if "graph_conv" in wanted:
            run_graph_conv(chk, g, device, dtypes, args.quick, args.small)
        if "skeleton_augment" in wanted:
            run_skeleton_augment(chk, g, device, dtypes, args.quick)
    if device.type == "cuda":
        torch.cuda.synchronize()
    expected = ({"graph_conv", "graph_conv_backward"} if "graph_conv" in wanted else set()) | \
               ({"skeleton_augment"} if "skeleton_augment" in wanted else set())
    missing = sorted(op for op in expected if not counter.calls.get(op))
    summary = {"device": str(device), "backend": {op: ops.backend(device, op) for op in ops.OPS},
               "dtypes": [str(d).replace("torch.", "") for d in dtypes], "cases": chk.cases,
               "calls": dict(counter.calls), "ops_not_reached": missing, "compared": chk.compare,
               "max_relative_error": chk.worst, "mismatches": len(chk.mismatches)}
    for line in chk.mismatches[:20]:
        print("mismatch:", line)
    print("sanitize_ops: " + json.dumps(summary), flush=True)
    return 1 if missing or chk.mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
