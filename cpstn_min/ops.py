"""The only door to the kernels.

Each op runs `torch.ops.cpstn.*` when the extension `cpstn_min._C` is built
(and has a kernel for the tensor's device), otherwise the fastest plain-PyTorch
version from `reference.py`. `CPSTN_BACKEND=reference` forces the fallback
(benchmarks and tests use it). `backend(device)` says which path is active.
Two exceptions, both measured: graph_conv on CUDA, and graph_conv in bfloat16 on a CPU
with a bfloat16 matrix unit (AVX-512-BF16, AMX), run the composed order
(`graph_conv_path(x)` says which; `CPSTN_GRAPH_CONV=kernel|composed` overrides the choice).
"""
import os
import warnings
from typing import Optional

import torch

from . import reference

try:
    from . import _C  # noqa: F401  (importing runs the TORCH_LIBRARY registrations)
    _EXT_ERROR = None
except ImportError as e:  # the extension is optional: everything has a fallback
    _EXT_ERROR = e
    warnings.warn(f"cpstn: C++ extension not available ({e}); using plain-PyTorch fallbacks. "
                  "Build it with: pip install --no-build-isolation -e .", stacklevel=2)

OPS = ("graph_conv", "graph_conv_backward", "skeleton_augment")


def extension_loaded() -> bool:
    return _EXT_ERROR is None


# Looked up once: registrations happen when _C is imported, and torch.compile cannot
# trace the dispatcher query inside a compiled model.
_KERNELS = frozenset((op, key) for op in OPS for key in ("CPU", "CUDA") if extension_loaded()
                     and torch._C._dispatch_has_kernel_for_dispatch_key(f"cpstn::{op}", key))


def _has_kernel(op: str, dispatch_key: str) -> bool:
    return (op, dispatch_key) in _KERNELS


def backend(device="cpu", op: str = "graph_conv") -> str:
    """"cuda", "cpu-ext" or "reference": the path `op` takes for tensors on `device`
    (each op asks for its own kernel: a build may register one op without another)."""
    if os.environ.get("CPSTN_BACKEND", "") == "reference":
        return "reference"
    device = torch.device(device)
    if device.type == "cuda" and _has_kernel(op, "CUDA"):
        return "cuda"
    if device.type == "cpu" and _has_kernel(op, "CPU"):
        return "cpu-ext"
    return "reference"


def cpu_bf16_unit() -> str:
    """"AMX", "AVX-512-BF16" or "": what this CPU has for oneDNN's bfloat16 matmuls and convolutions."""
    cpu = getattr(torch, "cpu", None)
    for name, probe in (("AMX", "_is_amx_tile_supported"), ("AVX-512-BF16", "_is_avx512_bf16_supported")):
        if getattr(cpu, probe, lambda: False)():
            return name
    return ""


# bfloat16 on the CPU: the kernel computes in float32 (it has no bfloat16 GEMM of its own; MKL's
# was slower still at its per-sample shapes), while the composed order's batched matrix products
# run in oneDNN's bfloat16 kernels where the CPU has AVX-512-BF16 or AMX: measured faster there,
# per layer and over the whole encoder (README "Precision"), so that is what runs. Looked up
# once, like _KERNELS.
CPU_BF16_COMPOSED = bool(cpu_bf16_unit())


def _bf16_on_cpu(x: torch.Tensor) -> bool:
    """Whether graph_conv(x, ...) runs in bfloat16 on the CPU (x bfloat16, or float32 under bfloat16 autocast)."""
    if x.device.type != "cpu":
        return False
    if x.dtype == torch.bfloat16:
        return True
    return x.dtype == torch.float32 and torch.is_autocast_enabled("cpu") and \
        torch.get_autocast_dtype("cpu") == torch.bfloat16


# CUDA: on an H200 the tile kernels lost to the composed order's cuBLAS products on 4 of the
# default encoder's 5 layers (forward+backward 0.59x, geometric mean), and a whole CP-STN step
# ran 1.5x faster with the composed order (benchmarks/results/gpu_check_h200.md). The kernels
# stay registered, tested and reachable (CPSTN_GRAPH_CONV=kernel) until a faster design lands.
PATHS = ("kernel", "composed")


def graph_conv_path(x: torch.Tensor) -> str:
    """"kernel" or "composed": what graph_conv(x, ...) runs (backend() says which backend).
    CPSTN_GRAPH_CONV=kernel|composed overrides the measured choice where the kernel exists."""
    if backend(x.device) == "reference":
        return "composed"
    forced = os.environ.get("CPSTN_GRAPH_CONV", "")
    if forced:
        if forced not in PATHS:
            raise ValueError(f"CPSTN_GRAPH_CONV must be one of {', '.join(PATHS)} or unset, not {forced!r}")
        return forced
    if x.device.type == "cuda" or (CPU_BF16_COMPOSED and _bf16_on_cpu(x)):
        return "composed"
    return "kernel"


def graph_conv(x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor],
               A: torch.Tensor) -> torch.Tensor:
    """x (N,Cin,T,V), weight (K,Cout,Cin), bias (K,Cout) or None, A (K,V,V) -> (N,Cout,T,V)."""
    if graph_conv_path(x) == "composed":
        if x.dtype in (torch.bfloat16, torch.float16):  # float32 parameters beside 16-bit x, as the kernels take them
            weight, bias, A = (t if t is None or t.dtype != torch.float32 else t.to(x.dtype) for t in (weight, bias, A))
        return reference.graph_conv_composed(x, weight, bias, A)
    return torch.ops.cpstn.graph_conv.default(x, weight, bias, A)


def skeleton_augment(x: torch.Tensor, valid_frames: torch.Tensor, start: torch.Tensor,
                     step: torch.Tensor, R: torch.Tensor, T_out: int, reflect: bool = False) -> torch.Tensor:
    """x (N,3,T,V,M), valid_frames (N,) int64, start/step (N,), R (N,3,3) -> (N,3,T_out,V,M);
    reflect: ping-pong playback instead of clamping to the valid frames."""
    if backend(x.device, "skeleton_augment") == "reference":
        return reference.skeleton_augment(x, valid_frames, start, step, R, T_out, reflect)
    return torch.ops.cpstn.skeleton_augment.default(x, valid_frames, start, step, R, T_out, reflect)


def _check_one_device(op: str, x: torch.Tensor, **others) -> None:
    """The fake kernels run whenever any input is on the meta device: without this check an
    op with x on the CPU and one input on meta would return an uninitialised CPU tensor."""
    for name, t in others.items():
        if t is not None:
            torch._check(t.device == x.device, lambda: f"{op}: {name} is on {t.device} but x is on "
                                                       f"{x.device}; all tensors must be on one device")


# Autocast dtypes the graph_conv kernels have (bfloat16 on CPU; bfloat16 and float16 on CUDA).
# Under any other autocast dtype the op runs in float32.
AUTOCAST_DTYPES = {"cpu": (torch.bfloat16,), "cuda": (torch.bfloat16, torch.float16)}


def _graph_conv_autocast_inputs(device_type, x, weight, bias, A):
    """Under autocast: x in the autocast dtype; float32 parameters stay float32 (the kernels
    read them in float32 and return their gradients in float32, so they are never rounded
    to 16 bits); other parameter dtypes follow x. An autocast dtype without a kernel: float32.
    As autocast's own rule, float64 tensors are left alone."""
    dtype = torch.get_autocast_dtype(device_type)
    if dtype not in AUTOCAST_DTYPES.get(device_type, ()):
        dtype, keep = torch.float32, (torch.float32,)
    else:
        keep = (torch.float32, dtype)

    def cast(t, ok):
        eligible = t is not None and t.is_floating_point() and t.dtype != torch.float64
        return t.to(dtype) if eligible and t.dtype not in ok else t
    return cast(x, (dtype,)), cast(weight, keep), cast(bias, keep), cast(A, keep)


_AUTOCAST_LIB = None  # the Library holding the autocast kernels must outlive the module's import


def _register_graph_conv_autocast():
    # What torch.library.register_autocast does, with a cast rule of our own (it would cast every
    # input to one dtype): a dispatcher kernel for eager calls and a py_impl for tracing.
    global _AUTOCAST_LIB
    _AUTOCAST_LIB = torch.library.Library("cpstn", "FRAGMENT")
    op = torch.ops.cpstn.graph_conv.default
    for device_type in ("cpu", "cuda"):
        key_name = "Autocast" + torch._C._dispatch_key_for_device(device_type)
        key = getattr(torch._C.DispatchKey, key_name)

        def autocast_kernel(x, weight, bias, A, device_type=device_type, key=key):
            with torch._C._ExcludeDispatchKeyGuard(torch._C.DispatchKeySet(key)):
                return op(*_graph_conv_autocast_inputs(device_type, x, weight, bias, A))

        op.py_kernels.pop(key, None)
        op.py_impl(key)(autocast_kernel)
        _AUTOCAST_LIB.impl("graph_conv", lambda _keys, *args, k=autocast_kernel: k(*args), key_name,
                           with_keyset=True)


if extension_loaded():
    @torch.library.register_fake("cpstn::graph_conv")
    def _graph_conv_fake(x, weight, bias, A):
        # the kernels' checks, so a traced call with mismatched shapes fails at compile time
        _check_one_device("graph_conv", x, weight=weight, bias=bias, A=A)
        torch._check(x.dim() == 4 and weight.dim() == 3 and A.dim() == 3,
                     lambda: "graph_conv: x must be 4-D (N,Cin,T,V), weight 3-D (K,Cout,Cin), A 3-D (K,V,V)")
        torch._check(weight.shape[2] == x.shape[1], lambda: "graph_conv: weight Cin must match x channels")
        for a_dim, size in ((0, weight.shape[0]), (1, x.shape[3]), (2, x.shape[3])):
            torch._check(A.shape[a_dim] == size, lambda: "graph_conv: A must be (K,V,V) with K of weight and V of x")
        return x.new_empty(x.shape[0], weight.shape[1], x.shape[2], x.shape[3])

    @torch.library.register_fake("cpstn::graph_conv_backward")
    def _graph_conv_backward_fake(grad_out, x, weight, bias, A, output_mask):
        _check_one_device("graph_conv_backward", x, grad_out=grad_out, weight=weight, bias=bias, A=A)
        def like(t, needed):
            return t.new_empty(t.shape) if needed and t is not None else grad_out.new_empty(0)
        return like(x, output_mask[0]), like(weight, output_mask[1]), like(bias, output_mask[2]), \
            like(A, output_mask[3])

    @torch.library.register_fake("cpstn::skeleton_augment")
    def _skeleton_augment_fake(x, valid_frames, start, step, R, T_out, reflect=False):
        _check_one_device("skeleton_augment", x, valid_frames=valid_frames, start=start, step=step, R=R)
        N, C, _, V, M = x.shape
        return x.new_empty(N, C, T_out, V, M)

    def _graph_conv_setup_context(ctx, inputs, output):
        # the backward op takes every input (their shapes are checked); x is read only for
        # grad_weight/grad_A, but a stand-in would have to be materialized at full size
        x, weight, bias, A = inputs
        ctx.save_for_backward(x, weight, bias, A)

    def _graph_conv_backward(ctx, grad_out):
        x, weight, bias, A = ctx.saved_tensors
        mask = [bool(m) for m in ctx.needs_input_grad]  # the kernel computes only these
        grads = torch.ops.cpstn.graph_conv_backward.default(grad_out, x, weight, bias, A, mask)
        return tuple(g if m else None for g, m in zip(grads, mask))

    torch.library.register_autograd("cpstn::graph_conv", _graph_conv_backward,
                                    setup_context=_graph_conv_setup_context)
    _register_graph_conv_autocast()

