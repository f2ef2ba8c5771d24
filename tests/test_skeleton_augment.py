"""cpstn::skeleton_augment: the reference against the DESIGN.md formula read
literally, the kernels against the reference (edge cases, dtypes, strided
inputs), opcheck, determinism and input errors. x (N,3,T,V,M) -> (N,3,T_out,V,M).
"""
import itertools
import math

import pytest
import torch

from cpstn_min import ops, reference


def _has_kernel(key):
    return ops.extension_loaded() and torch._C._dispatch_has_kernel_for_dispatch_key(
        "cpstn::skeleton_augment", key)


requires_cpu_kernel = pytest.mark.skipif(not _has_kernel("CPU"), reason="extension not built")
requires_cuda_kernel = pytest.mark.skipif(not (torch.cuda.is_available() and _has_kernel("CUDA")),
                                          reason="needs a GPU and the CUDA build")


def formula_loop(x, valid_frames, start, step, R, T_out, reflect=False):
    """DESIGN.md read literally: one sample and one output frame at a time, positions in Python
    floats; reflect: ping-pong playback, the position folded back at the first and last frame."""
    N, C, T, V, M = x.shape
    out = x.new_zeros(N, C, T_out, V, M)
    for n in range(N):
        L = int(valid_frames[n])
        if L == 0:
            continue
        for j in range(T_out):
            p = float(start[n]) + j * float(step[n])
            if reflect:
                period = 2.0 * (L - 1)
                p = 0.0 if L == 1 else p % period          # Python's % lies in [0, period)
                p = period - p if p > L - 1 else p
            p = min(max(p, 0.0), L - 1)
            i0 = math.floor(p)
            i1 = min(i0 + 1, L - 1)
            clip = x[n, :, i0] + (p - i0) * (x[n, :, i1] - x[n, :, i0])          # (3,V,M)
            out[n, :, j] = torch.einsum("ij,jvm->ivm", R[n].to(x.dtype), clip)
    return out


def sample_inputs(dtype=torch.float32, device="cpu", seed=0):
    """(name, args) pairs covering the cases DESIGN.md and the op's schema call out."""
    g = torch.Generator().manual_seed(seed)

    def make(N, T, V, M, vf, start, step, T_out):
        x = torch.randn(N, 3, T, V, M, generator=g, dtype=torch.float64)
        R = torch.randn(N, 3, 3, generator=g, dtype=torch.float64)
        t = lambda v, dt: torch.as_tensor(v, dtype=dt).to(device)  # noqa: E731
        return (x.to(device, dtype), t(vf, torch.int64), t(start, dtype), t(step, dtype), R.to(device, dtype),
                T_out)

    return [
        ("random", make(4, 20, 25, 2, [20, 7, 13, 3], [0.0, 1.3, 4.7, 0.5], [0.9, 0.45, 0.3, 0.11], 13)),
        ("valid 0 and 1", make(3, 9, 25, 2, [0, 1, 9], [0.0, 0.0, 0.25], [1.0, 1.0, 0.5], 6)),
        ("T_out 1", make(3, 12, 18, 1, [12, 5, 1], [3.5, 2.0, 0.0], [2.0, 1.0, 0.0], 1)),
        ("step 0", make(2, 10, 18, 2, [10, 6], [4.25, 7.0], [0.0, 0.0], 5)),
        ("negative step", make(2, 15, 25, 1, [15, 8], [14.0, 7.0], [-1.5, -0.5], 9)),
        ("beyond valid range", make(3, 16, 25, 2, [10, 4, 16], [-3.0, 2.5, 12.0], [2.5, 1.75, 3.0], 8)),
        ("integer positions", make(2, 11, 25, 2, [11, 11], [0.0, 10.0], [1.0, -1.0], 11)),
        ("no frames at all", make(2, 0, 25, 2, [0, 0], [0.0, 1.0], [1.0, 1.0], 4)),
        ("views longer than the clip", make(3, 12, 25, 1, [12, 5, 9], [0.0, 3.0, 2.25], [3.0, -2.0, 1.7], 20)),
    ]


CASES = sample_inputs()
IDS = [name for name, _ in CASES]


@pytest.mark.parametrize("reflect", [False, True], ids=["clamp", "reflect"])
@pytest.mark.parametrize("name,args", CASES, ids=IDS)
def test_reference_is_the_design_formula(name, args, reflect):
    x, vf, start, step, R, T_out = args
    x, start, step, R = x.double(), start.double(), step.double(), R.double()
    expected = formula_loop(x, vf, start, step, R, T_out, reflect)
    torch.testing.assert_close(reference.skeleton_augment(x, vf, start, step, R, T_out, reflect), expected)


def test_reflect_plays_a_short_clip_back_and_forth():
    x = torch.arange(5, dtype=torch.float64).view(1, 1, 5, 1, 1).expand(1, 3, 5, 1, 1).contiguous()
    args = (x, torch.tensor([5]), torch.zeros(1), torch.full((1,), 2.0), torch.eye(3, dtype=torch.float64)[None], 7)
    frames = lambda out: out[0, 0, :, 0, 0].tolist()  # noqa: E731
    assert frames(reference.skeleton_augment(*args, reflect=True)) == [0, 2, 4, 2, 0, 2, 4]
    assert frames(reference.skeleton_augment(*args)) == [0, 2, 4, 4, 4, 4, 4]


def test_reference_zero_clip_even_if_frame_zero_is_not_finite():
    x = torch.full((1, 3, 4, 2, 1), float("inf"))
    out = reference.skeleton_augment(x, torch.tensor([0]), torch.zeros(1), torch.ones(1), torch.eye(3)[None], 3)
    assert torch.equal(out, torch.zeros(1, 3, 3, 2, 1))


@pytest.mark.parametrize("reflect", [False, True], ids=["clamp", "reflect"])
def test_reference_clamps_a_non_finite_position_like_the_kernel(reflect):
    """A NaN start or step reads frame 0, an infinite one frame 0 or the last valid frame."""
    x = torch.arange(2 * 3 * 5 * 2 * 1, dtype=torch.float32).view(2, 3, 5, 2, 1)
    start, step = torch.tensor([math.nan, 1.0]), torch.tensor([1.0, math.nan])
    out = reference.skeleton_augment(x, torch.tensor([5, 4]), start, step, torch.eye(3).expand(2, 3, 3), 3, reflect)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out[0], x[0, :, :1].expand(3, 3, 2, 1))
    if _has_kernel("CPU"):
        for s, st in ((start, step), (torch.tensor([math.inf, -math.inf]), torch.zeros(2))):
            args = (x, torch.tensor([5, 4]), s, st, torch.eye(3).expand(2, 3, 3).contiguous(), 3, reflect)
            torch.testing.assert_close(reference.skeleton_augment(*args), torch.ops.cpstn.skeleton_augment(*args))


def _strided_variants(x):
    """The same values as x in layouts a kernel must read through strides."""
    N, C, T, V, M = x.shape
    bodies_first = x.permute(0, 1, 2, 4, 3).contiguous().permute(0, 1, 2, 4, 3)   # (V,M) not flat
    channels_last = x.permute(0, 2, 3, 4, 1).contiguous().permute(0, 4, 1, 2, 3)  # joints 3 apart
    padded = torch.zeros(N, C, 2 * T + 1, V, M, dtype=x.dtype, device=x.device)
    padded[:, :, : 2 * T : 2] = x
    every_other = padded[:, :, : 2 * T : 2]                                         # frames 2 apart
    return {"bodies_first": bodies_first, "channels_last": channels_last, "every_other_frame": every_other}


def _check_kernel(device, dtype):
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == torch.float32 else dict(rtol=1e-12, atol=1e-12)
    for (name, (x, vf, start, step, R, T_out)), reflect in itertools.product(sample_inputs(dtype, device),
                                                                             (False, True)):
        expected = reference.skeleton_augment(x, vf, start, step, R, T_out, reflect)
        got = torch.ops.cpstn.skeleton_augment(x, vf, start, step, R, T_out, reflect)
        assert got.shape == expected.shape and got.dtype == dtype and got.is_contiguous(), name
        torch.testing.assert_close(got, expected, **tol, msg=lambda m: f"{name}, reflect {reflect}: {m}")
        for layout, xs in _strided_variants(x).items():
            torch.testing.assert_close(torch.ops.cpstn.skeleton_augment(xs, vf, start, step, R, T_out, reflect),
                                       expected, **tol, msg=lambda m: f"{name}, {layout}, reflect {reflect}: {m}")


@requires_cpu_kernel
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_kernel_equals_reference_cpu(dtype):
    _check_kernel("cpu", dtype)


@requires_cuda_kernel
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_kernel_equals_reference_cuda(dtype):
    _check_kernel("cuda", dtype)


@requires_cpu_kernel
def test_kernel_on_a_large_batch_is_deterministic():
    # big enough to be split across threads
    g = torch.Generator().manual_seed(1)
    N, T = 32, 120
    x = torch.randn(N, 3, T, 25, 2, generator=g)
    vf = torch.randint(0, T + 1, (N,), generator=g)
    start, step = torch.rand(N, generator=g) * T, torch.randn(N, generator=g) * 3
    R = torch.randn(N, 3, 3, generator=g)
    first = torch.ops.cpstn.skeleton_augment(x, vf, start, step, R, 50)
    assert torch.equal(first, torch.ops.cpstn.skeleton_augment(x, vf, start, step, R, 50))
    torch.testing.assert_close(first, reference.skeleton_augment(x, vf, start, step, R, 50), rtol=1e-5, atol=1e-5)


@requires_cpu_kernel
def test_kernel_accepts_float64_parameters_for_float32_clips():
    x, vf, start, step, R, T_out = CASES[0][1]
    got = torch.ops.cpstn.skeleton_augment(x, vf, start.double(), step.double(), R.double(), T_out)
    torch.testing.assert_close(got, reference.skeleton_augment(x, vf, start, step, R, T_out))


@requires_cpu_kernel
@pytest.mark.parametrize("name,args", [CASES[0], CASES[2]], ids=[IDS[0], IDS[2]])
def test_opcheck(name, args):
    torch.library.opcheck(torch.ops.cpstn.skeleton_augment.default, args)
    torch.library.opcheck(torch.ops.cpstn.skeleton_augment.default, args + (True,))


def _bad_inputs():
    x, vf, start, step, R, T_out = CASES[0][1]
    return [
        ("x", (x[0], vf, start, step, R, T_out)),                               # rank 4
        ("x", (x[:, :2], vf, start, step, R, T_out)),                           # 2 channels
        ("x", (x.int(), vf, start, step, R, T_out)),                            # not float
        ("valid_frames", (x, vf.int(), start, step, R, T_out)),                 # int32
        ("valid_frames", (x, vf[:3], start, step, R, T_out)),                   # wrong length
        ("valid_frames", (x, vf + x.shape[2], start, step, R, T_out)),          # beyond T
        ("valid_frames", (x, vf - 100, start, step, R, T_out)),                 # negative
        ("start", (x, vf, start[:2], step, R, T_out)),
        ("start", (x, vf, start.long(), step, R, T_out)),
        ("step", (x, vf, start, step.view(2, 2), R, T_out)),
        ("R", (x, vf, start, step, R[:, :2], T_out)),
        ("R", (x, vf, start, step, R[:2], T_out)),
        ("R", (x, vf, start, step, R.long(), T_out)),
        ("T_out", (x, vf, start, step, R, 0)),
    ]


@requires_cpu_kernel
@pytest.mark.parametrize("arg,args", _bad_inputs(), ids=[f"{a}-{i}" for i, (a, _) in enumerate(_bad_inputs())])
def test_bad_input_names_the_argument(arg, args):
    with pytest.raises(RuntimeError, match=rf"skeleton_augment: {arg} (must|is)"):
        torch.ops.cpstn.skeleton_augment(*args)


@requires_cuda_kernel
@pytest.mark.parametrize("arg", ["valid_frames", "start", "step", "R"])
def test_mixed_devices_name_the_argument(arg):
    x, vf, start, step, R, T_out = CASES[0][1]
    args = dict(x=x.cuda(), valid_frames=vf.cuda(), start=start.cuda(), step=step.cuda(), R=R.cuda())
    args[arg] = args[arg].cpu()
    with pytest.raises(RuntimeError, match=rf"skeleton_augment: {arg} is on"):
        torch.ops.cpstn.skeleton_augment(*args.values(), T_out)


def test_reference_rejects_T_out_below_one():
    x, vf, start, step, R, _ = CASES[0][1]
    with pytest.raises(ValueError, match="T_out"):
        reference.skeleton_augment(x, vf, start, step, R, 0)
