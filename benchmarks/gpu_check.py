"""`make gpu-check`: prove the CUDA path on a GPU machine with one command, in under 8 minutes.

    python benchmarks/gpu_check.py --out DIR [--budget 450] [--steps memcheck,bench_train_step] [--skip-build]
    python benchmarks/gpu_check.py --cpu-smoke --out DIR     # the orchestration alone, on a CPU

Steps, in this order (most telling first, so a run cut short keeps what matters); each has
its own time limit inside --budget, a failed step is recorded and the next one runs, and a
step whose prerequisite failed is skipped with the reason:
  env               python, torch, the GPU, nvcc / ninja / compute-sanitizer, the Python packages used
  build             setup.py build_ext --inplace against the installed torch (no pip, no downloads)
  cuda_tests        the tests a CPU machine skips (benchmarks/cuda_only_tests.py), pass/fail counts
  parity            first-step losses on CPU and CUDA from one seed (benchmarks/first_step_parity.py)
  memcheck          compute-sanitizer memcheck over benchmarks/sanitize_ops.py: every op, odd shapes
  racecheck         compute-sanitizer racecheck over its graph_conv part (the shared-memory tiles)
  ceilings          measured copy bandwidth and matmul rates (benchmarks/bench_ceilings.py)
  bench_graph_conv  fused vs the torch compositions, float32 and each half precision the script offers
  bench_augment     skeleton_augment kernel vs the batched torch reference on the GPU
  bench_encoder     encoder forward+backward at batch 128: samples/s, FLOP/s
  bench_train_step  a full CP-STN step at batch 128, float32 and mixed precision; 300-epoch NTU-60 time
  pretrain          synthetic pretraining on CUDA for what is left of ~2 minutes (train.py)
  knn               eval.py --protocol knn on that checkpoint (and on a random-init encoder)
DIR gets gpu_check.json (rewritten atomically before and after every step) and gpu_check.log
(every command and its whole output); scratch files go to --work. --cpu-smoke runs what a CPU
can (the env probe, the extension check, the sanitizer driver on CPU tensors, tiny ceilings and
encoder runs) and records every CUDA step as skipped. Exit 0 when every step passed, 1 when one
did not, 2 (one line) without CUDA.
"""
import argparse
import datetime
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
sys.path.insert(0, ROOT)
sys.path.insert(0, BENCH)
import gpu_check_perf as perf  # noqa: E402
import gpu_check_steps as steps  # noqa: E402
from cpstn_min.atomic import atomic_write  # noqa: E402
from gpu_check_parse import tail  # noqa: E402
from gpu_check_steps import Skip  # noqa: E402

STEPS = [("env", steps.env), ("build", steps.build), ("cuda_tests", steps.cuda_tests), ("parity", steps.parity),
         ("memcheck", steps.memcheck), ("racecheck", steps.racecheck), ("ceilings", perf.ceilings),
         ("bench_graph_conv", perf.bench_graph_conv), ("bench_augment", perf.bench_augment),
         ("bench_encoder", perf.bench_encoder), ("bench_train_step", perf.bench_train_step),
         ("pretrain", perf.pretrain), ("knn", perf.knn)]
ALWAYS = ("env", "build")


class Check:
    """The run's state: its record (the JSON), log, deadline, and the commands it starts."""

    def __init__(self, args):
        self.args, self.smoke, self.python = args, args.cpu_smoke, args.python
        self.out, self.work = os.path.abspath(args.out), os.path.abspath(args.work)
        os.makedirs(self.out, exist_ok=True)
        os.makedirs(self.work, exist_ok=True)
        self.json_path = os.path.join(self.out, "gpu_check.json")
        self.log_path = os.path.join(self.out, "gpu_check.log")
        self.log = open(self.log_path, "w", buffering=1)
        self.deadline = time.monotonic() + args.budget
        self.facts, self.step, self.child = {}, None, None
        self.record = {"what": "cpstn GPU check", "mode": "cpu-smoke" if self.smoke else "cuda",
                       "started": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
                       "budget_s": args.budget, "out_dir": self.out, "work_dir": self.work, "finished": False,
                       "steps": {name: {"status": "pending"} for name, _ in STEPS}, "summary": {}}

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def save(self) -> None:
        self.record["summary"] = perf.summary(self.record["steps"])
        with atomic_write(self.json_path, "w") as f:
            json.dump(self.record, f, indent=2)

    def say(self, line: str) -> None:
        print(line, flush=True)
        self.log.write(line + "\n")

    def require(self, build=False, cuda=False, modules=()):
        """Skip the step unless the build step passed / CUDA is here / the modules import."""
        if cuda and self.smoke:
            raise Skip("needs CUDA (cpu smoke run)")
        if build and self.record["steps"]["build"].get("status") != "ok":
            raise Skip("the build step did not pass")
        missing = [m for m in modules if not self.facts.get("modules", {}).get(m)]
        if missing:
            raise Skip(f"Python package(s) {', '.join(missing)} missing here (nothing can be installed)")

    def run(self, cmd, limit: float, env=None, name=None) -> dict:
        """Run cmd in the tree's root with the output streamed to the log; kill it (its whole process
        group) after `limit` s or at the deadline. -> {cmd, rc, seconds, timed_out, output}."""
        limit = max(1.0, min(limit, self.remaining()))
        full_env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONPATH=os.pathsep.join(
            [ROOT, BENCH] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
        full_env.pop("CPSTN_BACKEND", None)          # the kernels, not the fallbacks, are under test
        full_env.update(env or {})
        self.log.write(f"\n$ {' '.join(cmd)}   [limit {limit:.0f} s]\n")
        t0, chunks = time.monotonic(), []
        # its own process group, so a time limit ends the command and everything it started
        group = {"process_group": 0} if sys.version_info >= (3, 11) else {"preexec_fn": os.setpgrp}
        proc = subprocess.Popen(cmd, cwd=ROOT, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, **group)
        self.child = proc

        def pump():
            for line in iter(proc.stdout.readline, b""):
                text = line.decode(errors="replace")
                chunks.append(text)
                self.log.write(text)
        reader = threading.Thread(target=pump, daemon=True)
        reader.start()
        timed_out = False
        try:
            proc.wait(limit)
        except subprocess.TimeoutExpired:
            timed_out = True
            self.stop_child()
        reader.join(10)
        self.child = None
        seconds = time.monotonic() - t0
        killed = ", killed at its time limit" if timed_out else ""
        self.log.write(f"[exit {proc.returncode} after {seconds:.1f} s{killed}]\n")
        out = "".join(chunks)
        entry = {"cmd": cmd, "rc": proc.returncode, "seconds": round(seconds, 1), "timed_out": timed_out,
                 "tail": tail(out, 15)}
        if self.step is not None:
            self.step.setdefault("commands", []).append(entry)
        return dict(entry, output=out)

    def stop_child(self) -> None:
        proc = self.child
        if proc is None or proc.poll() is not None:
            return
        for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
            try:
                os.killpg(proc.pid, sig)
                proc.wait(wait)
                return
            except (ProcessLookupError, subprocess.TimeoutExpired):
                continue


def run_step(check: Check, name: str, fn) -> None:
    rec = check.record["steps"][name] = {"status": "running"}
    check.step = rec
    check.save()
    t0 = time.monotonic()
    try:
        if name not in ALWAYS and check.args.steps and name not in check.args.steps:
            rec["deselected"] = True
            raise Skip("not selected (--steps)")
        if check.remaining() < 10:
            raise Skip("the time budget is spent")
        status, result = fn(check)
        rec.update(status=status, result=result)
    except Skip as e:
        rec.update(status="skipped", reason=str(e))
    except Exception as e:  # a broken step is recorded; the next one still runs
        check.log.write(traceback.format_exc())
        rec.update(status="error", reason=f"{type(e).__name__}: {e}")
    rec["seconds"] = round(time.monotonic() - t0, 1)
    check.step = None
    check.save()
    note = rec.get("reason") or perf.headline(name, rec.get("result"))
    check.say(f"[{rec['status']:>7}] {name:<17} {rec['seconds']:6.1f} s  {note or ''}".rstrip())


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--out", default=os.environ.get("GPU_CHECK_OUT", os.path.join(ROOT, "runs", "gpu_check")),
                   help="folder for gpu_check.json and gpu_check.log (default $GPU_CHECK_OUT, else runs/gpu_check)")
    p.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "cpstn_gpu_check"),
                   help="scratch folder: run folders, data cache, junit XML (default: under the temp folder)")
    p.add_argument("--budget", type=float, default=450, help="seconds for the whole check (default 450)")
    p.add_argument("--steps", type=lambda s: [x for x in s.split(",") if x], default=None,
                   help=f"run only these steps (env and build always run): {','.join(n for n, _ in STEPS[2:])}")
    p.add_argument("--skip-build", action="store_true", help="use the extension already built in cpstn_min/")
    p.add_argument("--train-seconds", type=float, default=120, help="pretraining budget (default 120)")
    p.add_argument("--cpu-smoke", action="store_true", help="exercise the script on a machine without CUDA")
    p.add_argument("--python", default=sys.executable, help="interpreter for every step (default: this one)")
    args = p.parse_args(argv)
    unknown = set(args.steps or ()) - {n for n, _ in STEPS}
    if unknown:
        p.error(f"unknown steps: {', '.join(sorted(unknown))}")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if not args.cpu_smoke:
        try:
            import torch
            cuda, why = torch.cuda.is_available(), f"torch {torch.__version__} sees no CUDA device"
        except Exception as e:  # noqa: BLE001  (no torch at all is the same answer)
            cuda, why = False, f"torch does not import ({type(e).__name__}: {e})"
        if not cuda:
            print(f"gpu_check: no CUDA here ({why}); nothing was checked. On a GPU machine run "
                  "`make gpu-check`; `--cpu-smoke` exercises the script alone.", file=sys.stderr)
            return 2
    check = Check(args)

    def interrupted(signum, frame):
        check.stop_child()
        if check.step is not None:
            check.step.update(status="interrupted", reason=f"signal {signum}")
        check.save()
        sys.exit(128 + signum)
    for sig in (signal.SIGTERM, signal.SIGINT):   # the command runs in its own group: stop it too
        signal.signal(sig, interrupted)
    check.say(f"GPU check ({check.record['mode']}): budget {args.budget:.0f} s; results in {check.json_path}")
    for name, fn in STEPS:
        run_step(check, name, fn)
    # a smoke run passes when nothing broke; a GPU run only when every selected step ran and passed
    bad = [n for n, rec in check.record["steps"].items() if rec["status"] != "ok" and not rec.get("deselected")
           and not (args.cpu_smoke and rec["status"] == "skipped")]
    check.record.update(finished=True, gpu_checked=not args.cpu_smoke, passed=not bad, not_passed=bad)
    check.save()
    if args.cpu_smoke:
        verdict = "cpu smoke: " + ("the orchestration ran; no GPU was checked" if not bad else
                                   "broken steps: " + ", ".join(bad))
    else:
        verdict = "all steps passed" if not bad else "not passed: " + ", ".join(bad)
    check.say(f"{verdict}; {check.json_path} and {check.log_path}")
    return 0 if not bad else 1


if __name__ == "__main__":
    sys.exit(main())
