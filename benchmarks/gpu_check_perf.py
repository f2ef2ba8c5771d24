"""gpu_check.py's speed and training steps, the summary of the JSON and each step's one-line headline.

Achieved figures are set against the H200 SXM datasheet and against what the ceilings step
measured on the card itself (datasheet rates are upper bounds a real card may not reach).
"""
import json
import os
import shutil

from gpu_check_parse import eval_line, graph_conv_bench, help_choices, read_json, train_step_bench
from gpu_check_steps import Skip, fresh_path

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
# H200 SXM datasheet: HBM3e bandwidth, dense bf16 tensor-core and plain fp32 rates
DATASHEET = {"name": "NVIDIA H200", "memory_gbs": 4800.0, "bf16_dense_tflops": 990.0, "fp32_tflops": 67.0}
NTU60_XSUB_TRAIN, RECIPE_EPOCHS, BATCH = 40091, 300, 128
SYNTHETIC_TRAIN = 1200   # DataConfig.synthetic_train, the pretraining step's dataset


def _status(r, ok):
    return "ok" if ok else "timeout" if r["timed_out"] else "failed"


def _fractions(gbs=None, tflops=None, kind="fp32", measured=None):
    """Achieved figures as fractions of the datasheet's and of the measured ceilings."""
    out = {}
    if gbs is not None:
        out["of_datasheet_bandwidth"] = gbs / DATASHEET["memory_gbs"]
        if measured and measured.get("copy"):
            out["of_measured_copy_bandwidth"] = gbs / measured["copy"]["gbs"]
    if tflops is not None:
        key, mm = ("bf16_dense_tflops", "bfloat16") if kind == "bf16" else ("fp32_tflops", "float32")
        out[f"of_datasheet_{kind}_rate"] = tflops / DATASHEET[key]
        if measured and measured.get("matmul", {}).get(mm):
            out[f"of_measured_{mm}_matmul"] = tflops / measured["matmul"][mm]["tflops"]
    return out


def ceilings(check):
    tiny = ["--copy-mb", "8", "--n", "128", "--repeats", "3"] if check.smoke else []
    out = fresh_path(check, "ceilings.json")
    r = check.run([check.python, os.path.join(BENCH, "bench_ceilings.py"), "--device",
                   "cpu" if check.smoke else "cuda", "--json", out] + tiny, 90)
    record = read_json(out) if r["rc"] == 0 else None
    if record:
        check.facts["ceilings"] = record
        record["datasheet"] = DATASHEET
    return _status(r, record), record or {}


def _help(check, script):
    r = check.run([check.python, os.path.join(BENCH, script), "--help"], 60)
    return r["output"] if r["rc"] == 0 else ""


def bench_graph_conv(check):
    check.require(build=True, cuda=True)
    script = "bench_graph_conv.py"
    choices = help_choices(_help(check, script), "--dtype")
    dtypes = ["float32"] + [d for d in ("bfloat16", "float16") if choices and d in choices]
    # cuDNN convolutions default to TF32 on this chip; the override keeps the torch compositions in
    # float32 like the kernels, so the script's 1e-4 agreement check and the ratios compare like with like
    result = {"dtype_flag": choices, "runs": {}, "tf32": "off: NVIDIA_TF32_OVERRIDE=0"}
    if choices is None:
        result["half"] = "not run: bench_graph_conv.py --help lists no --dtype"
    for dtype in dtypes:
        if check.remaining() < 30:
            result["runs"][dtype] = {"skipped": "the time budget is spent"}
            continue
        flags = [] if choices is None else ["--dtype", dtype]
        r = check.run([check.python, os.path.join(BENCH, script), "--device", "cuda", "--repeats", "5"] + flags, 150,
                      {"NVIDIA_TF32_OVERRIDE": "0"})
        parsed = graph_conv_bench(r["output"])
        best = max((lay.get("fused_gbs", {}).get("forward_backward", 0) for lay in parsed["layers"]), default=None)
        parsed.update(rc=r["rc"], best_fused_fwdbwd_gbs=best,
                      **_fractions(gbs=best, measured=check.facts.get("ceilings")))
        result["runs"][dtype] = parsed
        check.save()
    ok = all(run.get("rc") == 0 and run.get("geomean") for run in result["runs"].values())
    return ("ok" if ok else "failed"), result


def bench_augment(check):
    check.require(build=True, cuda=True)
    out = fresh_path(check, "augment.json")
    r = check.run([check.python, os.path.join(BENCH, "bench_augment.py"), "--device", "cuda", "--batch-size",
                   str(BATCH), "--json", out], 120)
    record = read_json(out) if r["rc"] == 0 else None
    if record:
        gpu = {row["path"][:3]: row for row in record["rows"] if row["device"] == "cuda"}
        kernel = gpu.get("(c)")
        record["kernel_vs_batched_reference"] = kernel and kernel["vs_b"]
        record["half"] = "not run: bench_augment.py has no --dtype"
        if kernel:
            record.update(_fractions(gbs=kernel["gbs"], measured=check.facts.get("ceilings")))
    return _status(r, record and record.get("kernel_vs_batched_reference")), record or {}


def bench_encoder(check):
    check.require(build=True)
    small = ["--batch-size", "2", "--frames", "16", "--hidden-channels", "4", "--repeats", "2"] if check.smoke \
        else ["--batch-size", str(BATCH)]
    out = fresh_path(check, "encoder.json")
    r = check.run([check.python, os.path.join(BENCH, "bench_encoder.py"), "--device",
                   "cpu" if check.smoke else "cuda", "--json", out] + small, 120)
    record = read_json(out) if r["rc"] == 0 else None
    for name, res in (record or {}).get("results", {}).items():
        res.update(_fractions(tflops=res["tflops"], kind="bf16" if name == "bfloat16" else "fp32",
                              measured=check.facts.get("ceilings")))
    return _status(r, record), record or {}


def bench_train_step(check):
    check.require(build=True, cuda=True, modules=("tqdm",))
    script = "bench_train_step.py"
    text = _help(check, script)
    dtype_choices = help_choices(text, "--dtype")
    amp_choices = help_choices(text, "--amp-dtype")
    mixed = (["--dtype", "bfloat16"] if dtype_choices and "bfloat16" in dtype_choices else
             ["--amp", "--amp-dtype", "bfloat16"] if amp_choices is not None and (not amp_choices or
                                                                                  "bfloat16" in amp_choices) else
             ["--amp"] if help_choices(text, "--amp") is not None else None)
    steps_per_epoch = NTU60_XSUB_TRAIN // BATCH     # drop_last, as training.prepare builds the loader
    result = {"batch_size": BATCH, "runs": {},
              "projection": f"{RECIPE_EPOCHS} epochs x {steps_per_epoch} steps (NTU-60 xsub, {NTU60_XSUB_TRAIN} "
                            f"clips, batch {BATCH}) x the extension's median s/step; data loading and "
                            "checkpoints not included"}
    variants = [("float32", [])] + ([("mixed " + " ".join(mixed), mixed)] if mixed else [])
    if not mixed:
        result["mixed"] = "not run: bench_train_step.py --help lists neither --dtype bfloat16 nor --amp"
    for name, flags in variants:
        if check.remaining() < 30:
            result["runs"][name] = {"skipped": "the time budget is spent"}
            continue
        r = check.run([check.python, os.path.join(BENCH, script), "--device", "cuda", "--batch-size", str(BATCH),
                       "--repeats", "3", "--warmup", "1"] + flags, 150)
        rows = train_step_bench(r["output"])
        run = {"rc": r["rc"], "rows": rows}
        if "extension" in rows:
            s = rows["extension"]["s_per_step"]
            run["projected_300_epochs_hours"] = RECIPE_EPOCHS * steps_per_epoch * s / 3600
            if name == "float32":
                check.facts["train_step_s"] = s
        result["runs"][name] = run
        check.save()
    ok = all(run.get("rc") == 0 and "extension" in run.get("rows", {}) for run in result["runs"].values())
    return ("ok" if ok else "failed"), result


def pretrain(check):
    check.require(build=True, cuda=True, modules=("tqdm",))
    budget = min(check.args.train_seconds, check.remaining() - 45)    # leave time for kNN
    if budget < 20:
        raise Skip(f"only {check.remaining():.0f} s left of the budget")
    step_s = check.facts.get("train_step_s")
    per_epoch = (SYNTHETIC_TRAIN // BATCH) * (step_s or 0.5) + 1.0   # + loader, checkpoint
    epochs = max(1, min(RECIPE_EPOCHS, int((budget - 20) / per_epoch)))  # 20 s: start-up, data
    run_dir = os.path.join(check.work, "pretrain")
    shutil.rmtree(run_dir, ignore_errors=True)     # an earlier run's log or checkpoint must not count
    r = check.run([check.python, "train.py", "--device", "cuda", "--out-dir", run_dir, "--overwrite",
                   "--epochs", str(epochs), "--batch-size", str(BATCH), "--frames", "50", "--hidden-channels", "16",
                   "--feature-dim", "256", "--cache-dir", os.path.join(check.work, "cache"), "--log-every", "5"],
                  budget + 25)
    log = []
    if os.path.exists(os.path.join(run_dir, "log.jsonl")):
        with open(os.path.join(run_dir, "log.jsonl")) as f:
            log = [json.loads(line) for line in f if line.strip()]
    done = [rec for rec in log if rec.get("type") == "epoch"]
    steps = [rec for rec in log if rec.get("type") != "epoch"]
    ckpt = os.path.join(run_dir, "checkpoint.pt")
    check.facts["checkpoint"] = ckpt if os.path.exists(ckpt) else None
    result = {"budget_s": round(budget), "epochs_planned": epochs, "epochs_done": len(done), "seconds": r["seconds"],
              "epoch_estimate_from": f"train-step benchmark {step_s:.3f} s/step" if step_s else "a guess of 0.5 s/step",
              "first_logged": steps[0] if steps else None, "last_epoch": done[-1] if done else None,
              "median_samples_per_s": sorted(s["samples_per_s"] for s in steps)[len(steps) // 2] if steps else None}
    return _status(r, r["rc"] == 0 and done), result


def knn(check):
    check.require(cuda=True, modules=("tqdm", "matplotlib"))
    ckpt = check.facts.get("checkpoint")
    if not ckpt:
        raise Skip("no pretraining checkpoint")
    result = {"chance_top1": 100 / 26}
    for name, extra in (("pretrained", []), ("random_init", ["--random-init"])):
        if name == "random_init" and check.remaining() < 40:
            result[name] = {"skipped": "the time budget is spent"}
            continue
        r = check.run([check.python, "eval.py", "--checkpoint", ckpt, "--protocol", "knn", "--device", "cuda",
                       "--quiet"] + extra, 90)
        result[name] = eval_line(r["output"], "knn") or {"rc": r["rc"]}
    return ("ok" if "top1" in result["pretrained"] else "failed"), result


def summary(steps: dict) -> dict:
    """The figures the issue asks for, gathered from the step results (None where a step gave none)."""
    res = {name: (steps.get(name) or {}).get("result") or {} for name in
           ("env", "cuda_tests", "parity", "memcheck", "racecheck", "bench_graph_conv", "bench_encoder",
            "bench_train_step", "knn")}
    tests = res["cuda_tests"].get("counts")
    san = {t: res[t].get("errors") for t in ("memcheck", "racecheck")}
    gc = {d: run.get("geomean_fwdbwd_vs_best_torch") for d, run in res["bench_graph_conv"].get("runs", {}).items()}
    hours = {n: run.get("projected_300_epochs_hours") for n, run in res["bench_train_step"].get("runs", {}).items()}
    rates = {n: {b: row["samples_per_s"] for b, row in run.get("rows", {}).items()}
             for n, run in res["bench_train_step"].get("runs", {}).items()}
    flat = lambda d: [v for v in d.values() if v is not None]  # noqa: E731
    return {
        "gpu": res["env"].get("gpu"), "cuda_tests": tests, "sanitizer_errors": san,
        "first_step_parity_ok": res["parity"].get("ok"),
        "graph_conv_fwdbwd_vs_best_torch_geomean": gc,
        "encoder_samples_per_s": {d: r.get("samples_per_s")
                                  for d, r in res["bench_encoder"].get("results", {}).items()},
        "train_step_samples_per_s": rates, "projected_300_epochs_ntu60_xsub_hours": hours,
        "knn_top1": (res["knn"].get("pretrained") or {}).get("top1"),
        "targets": {
            "no_failing_cuda_tests": None if not tests else (tests["failed"] + tests["errors"] == 0
                                                             and tests["passed"] > 0),
            "no_sanitizer_errors": None if None in san.values() else sum(san.values()) == 0,
            "graph_conv_fwdbwd_2x_best_torch_float32": None if gc.get("float32") is None else gc["float32"] >= 2.0,
            "ntu60_300_epochs_under_2h": None if not flat(hours) else min(flat(hours)) < 2.0}}


def headline(name: str, result) -> str:
    """One short line of a finished step's main figures, for the console."""
    r = result or {}
    if name == "env":
        return f"{r.get('gpu') or 'no GPU'}, torch {r.get('torch')}, python {r.get('python')}"
    if name == "build":
        kernels = ((r.get("verify") or {}).get("kernels") or {})
        return f"kernels {kernels}" + (f", missing {r['missing_kernels']}" if r.get("missing_kernels") else "")
    if name == "cuda_tests" and r.get("counts"):
        c = r["counts"]
        return f"{c['passed']} passed, {c['failed']} failed, {c['errors']} errors, {c['skipped']} skipped"
    if name in ("memcheck", "racecheck"):
        d = r.get("driver") or {}
        said = f"errors {r.get('errors')}" if "tool" in r else "no sanitizer (no CUDA)"
        return f"{said}; driver: {d.get('cases')} cases, calls {d.get('calls')}, {d.get('mismatches')} mismatches"
    if name == "ceilings" and r.get("copy"):
        return (f"copy {r['copy']['gbs']:.0f} GB/s, matmul " +
                ", ".join(f"{k} {v['tflops']:.1f} TFLOP/s" for k, v in r["matmul"].items()))
    if name == "bench_encoder":
        return ", ".join(f"{d} {v['samples_per_s']:.1f} samples/s {v['tflops']:.2f} TFLOP/s"
                         for d, v in r.get("results", {}).items())
    if name == "bench_augment" and r.get("kernel_vs_batched_reference"):
        return f"kernel x{r['kernel_vs_batched_reference']:.1f} vs the batched reference on the GPU"
    if name == "parity" and r:
        worst = r.get("worst_scaled_diff")
        return f"worst scaled difference {worst:.1e}" if worst is not None else ""
    if name == "bench_graph_conv":
        return ", ".join(f"{d} fwd+bwd x{run.get('geomean_fwdbwd_vs_best_torch') or 0:.2f} vs the best torch order"
                         for d, run in r.get("runs", {}).items())
    if name == "bench_train_step":
        return ", ".join(f"{n}: {run.get('rows', {}).get('extension', {}).get('samples_per_s')} samples/s, "
                         f"300 epochs {run.get('projected_300_epochs_hours') or 0:.2f} h"
                         for n, run in r.get("runs", {}).items())
    if name == "knn":
        top1 = {k: (r.get(k) or {}).get("top1") for k in ("pretrained", "random_init")}
        return f"top1 {top1['pretrained']} (random init {top1['random_init']})"
    if name == "pretrain":
        return f"{r.get('epochs_done')}/{r.get('epochs_planned')} epochs"
    return ""
