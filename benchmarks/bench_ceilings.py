"""The device's measured ceilings: copy bandwidth and dense matrix-product rates.

    python benchmarks/bench_ceilings.py --device cuda [--copy-mb 1024] [--n 8192] [--json FILE]

copy    dst.copy_(src) of a float32 tensor: bytes read plus bytes written over the time
matmul  A @ B of random (n,n) matrices in bfloat16 and in float32 with TF32 off: 2 n^3 FLOP
        (random data: zeros run faster on some chips)
Medians over --repeats calls, timed with CUDA events on a GPU (a host clock on the CPU).
Other benchmarks' achieved figures are compared with these and with the datasheet's.
"""
import argparse
import json
import statistics
import sys
import time

import torch


def median_ms(fn, device, repeats=20, warmup=3):
    """Median time of fn() in ms: CUDA events around each call on a GPU, else a host clock."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end))
        else:
            t = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


def checked_device(name: str, script: str):
    """torch.device(name) and the card's name; one line and exit when CUDA is asked for but absent."""
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        sys.exit(f"{script}: --device cuda, but CUDA is not available here")
    return device, torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"


def copy_gbs(device, megabytes, repeats):
    n = int(megabytes * 2 ** 20) // 4
    src = torch.randn(n, device=device)
    dst = torch.empty_like(src)
    ms = median_ms(lambda: dst.copy_(src), device, repeats)
    return {"bytes_moved": 2 * n * 4, "ms": ms, "gbs": 2 * n * 4 / (ms * 1e-3) / 1e9}


def matmul_tflops(device, n, dtype, repeats):
    g = torch.Generator(device=device).manual_seed(0)
    a = torch.randn(n, n, device=device, dtype=dtype, generator=g)
    b = torch.randn(n, n, device=device, dtype=dtype, generator=g)
    ms = median_ms(lambda: a @ b, device, repeats)
    return {"n": n, "ms": ms, "tflops": 2 * n ** 3 / (ms * 1e-3) / 1e12}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--copy-mb", type=float, default=1024, help="size of the copied tensor")
    p.add_argument("--n", type=int, default=8192, help="matrix size")
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--json", help="also write the figures here")
    args = p.parse_args(argv)
    device, card = checked_device(args.device, "bench_ceilings")
    torch.backends.cuda.matmul.allow_tf32 = False
    record = {"device": card, "torch": torch.__version__, "copy": copy_gbs(device, args.copy_mb, args.repeats),
              "matmul": {str(dt).replace("torch.", ""): matmul_tflops(device, args.n, dt, args.repeats)
                         for dt in (torch.bfloat16, torch.float32)}}
    print(f"{record['device']}: copy {record['copy']['gbs']:.0f} GB/s ({args.copy_mb:.0f} MB); matmul n={args.n} "
          + ", ".join(f"{k} {v['tflops']:.1f} TFLOP/s" for k, v in record["matmul"].items()))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(record, f, indent=2)


if __name__ == "__main__":
    main()
