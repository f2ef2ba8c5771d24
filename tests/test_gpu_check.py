"""benchmarks/gpu_check.py and its helpers, on a machine without a GPU: the exit without CUDA,
the orchestration (JSON after every step, time limits, broken steps), the CPU smoke run, the
sanitizer driver on CPU tensors, the CUDA-test selection, the parity script, the readers of
compute-sanitizer / pytest / benchmark outputs, and the CUDA steps' logic on recorded outputs.
"""
import json
import os
import subprocess
import sys

import pytest
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "benchmarks")
sys.path.insert(0, BENCH)
import gpu_check  # noqa: E402
import gpu_check_parse as parse  # noqa: E402
import gpu_check_perf as perf  # noqa: E402
import gpu_check_steps as steps  # noqa: E402
from cpstn_min import ops  # noqa: E402

needs_cpu_kernels = pytest.mark.skipif(not all(ops._has_kernel(op, "CPU") for op in ops.OPS),
                                       reason="extension not built")


def run_script(args, env=None, timeout=300):
    full_env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")]), **(env or {}))
    return subprocess.run([sys.executable] + args, cwd=ROOT, env=full_env, capture_output=True, text=True,
                          timeout=timeout)


def test_without_cuda_exits_2_with_one_line(tmp_path):
    out = tmp_path / "out"
    r = run_script([os.path.join(BENCH, "gpu_check.py"), "--out", str(out)], env={"CUDA_VISIBLE_DEVICES": ""})
    lines = (r.stdout + r.stderr).strip().splitlines()
    assert r.returncode == 2
    assert len(lines) == 1 and "no CUDA" in lines[0] and "Traceback" not in r.stderr
    assert not out.exists()   # nothing that could pass for a result


@needs_cpu_kernels
def test_cpu_smoke_runs_what_a_cpu_can_and_says_why_the_rest_is_skipped(tmp_path):
    out, work = tmp_path / "out", tmp_path / "work"
    r = run_script([os.path.join(BENCH, "gpu_check.py"), "--cpu-smoke", "--out", str(out), "--work", str(work),
                    "--steps", "memcheck,parity,racecheck,bench_train_step"])
    assert r.returncode == 0, r.stdout + r.stderr
    record = json.loads((out / "gpu_check.json").read_text())
    assert record["mode"] == "cpu-smoke" and record["finished"] and record["gpu_checked"] is False
    s = record["steps"]
    assert s["env"]["status"] == "ok" and s["env"]["result"]["cuda_available"] is False
    assert s["build"]["status"] == "ok" and not s["build"]["result"]["missing_kernels"]
    driver = s["memcheck"]["result"]["driver"]
    assert s["memcheck"]["status"] == "ok" and driver["device"] == "cpu" and not driver["ops_not_reached"]
    assert "no CUDA" in s["memcheck"]["result"]["sanitizer"]
    for name in ("parity", "racecheck", "bench_train_step"):
        assert s[name]["status"] == "skipped" and "CUDA" in s[name]["reason"]
    assert s["cuda_tests"]["reason"] == "not selected (--steps)"
    log = (out / "gpu_check.log").read_text()
    assert "sanitize_ops.py --device cpu" in log and "no GPU was checked" in r.stdout


def _fake_steps(tmp_path, seen):
    def first(check):
        return "ok", {"n": 1}

    def second(check):   # the JSON on disk already holds the first step, and this one as running
        seen.append(json.loads((tmp_path / "out" / "gpu_check.json").read_text())["steps"])
        r = check.run([sys.executable, "-c", "import time; print('started', flush=True); time.sleep(60)"], 2)
        return ("timeout" if r["timed_out"] else "ok"), {"output": r["output"]}

    def broken(check):
        raise RuntimeError("this step is broken")

    def last(check):
        seen.append(json.loads((tmp_path / "out" / "gpu_check.json").read_text())["steps"])
        return "ok", {}
    return [("first", first), ("second", second), ("broken", broken), ("last", last)]


def test_json_is_rewritten_before_and_after_every_step(tmp_path, monkeypatch):
    seen = []
    monkeypatch.setattr(gpu_check, "STEPS", _fake_steps(tmp_path, seen))
    code = gpu_check.main(["--cpu-smoke", "--out", str(tmp_path / "out"), "--work", str(tmp_path / "work")])
    assert code == 1   # a timed-out and a broken step: not passed
    assert seen[0]["first"]["status"] == "ok" and seen[0]["first"]["result"] == {"n": 1}
    assert seen[0]["second"]["status"] == "running" and seen[0]["last"]["status"] == "pending"
    assert seen[1]["second"]["status"] == "timeout" and seen[1]["broken"]["status"] == "error"
    final = json.loads((tmp_path / "out" / "gpu_check.json").read_text())
    assert final["finished"] and final["not_passed"] == ["second", "broken"]
    second = final["steps"]["second"]
    assert second["commands"][0]["timed_out"] and "started" in second["result"]["output"]
    assert "this step is broken" in final["steps"]["broken"]["reason"]
    assert "RuntimeError" in (tmp_path / "out" / "gpu_check.log").read_text()


@needs_cpu_kernels
def test_sanitizer_driver_reaches_every_op_forward_and_backward_on_cpu(capsys):
    import sanitize_ops
    assert sanitize_ops.main(["--device", "cpu", "--quick"]) == 0
    summary = steps.tagged_json(capsys.readouterr().out, "sanitize_ops")
    calls = summary["calls"]
    assert set(calls) == {"graph_conv", "graph_conv_backward", "skeleton_augment"}
    assert calls["graph_conv_backward"] > calls["graph_conv"] > 0     # autograd + the masked calls
    assert summary["mismatches"] == 0 and summary["compared"] and summary["backend"]["graph_conv"] == "cpu-ext"


def test_small_sanitizer_cases_keep_every_channel_pair_at_the_least_work():
    import sanitize_ops
    full, small = sanitize_ops.graph_conv_shapes(), sanitize_ops.graph_conv_shapes(small=True)
    assert all(T == 1 and N == 1 for V, T, Cin, Cout, N in small) and 4 * len(small) == len(full)
    pairs = lambda shapes: {(V, Cin, Cout) for V, T, Cin, Cout, N in shapes}  # noqa: E731
    assert pairs(small) == pairs(full)   # both contraction orders, every chunk and tile count


@needs_cpu_kernels
def test_small_sanitizer_run_compares_every_op_on_cpu(capsys):
    import sanitize_ops
    assert sanitize_ops.main(["--device", "cpu", "--ops", "graph_conv", "--small"]) == 0
    summary = steps.tagged_json(capsys.readouterr().out, "sanitize_ops")
    assert summary["cases"] == len(sanitize_ops.graph_conv_shapes(small=True)) + len(summary["dtypes"]) - 2
    assert summary["mismatches"] == 0 and summary["calls"]["graph_conv_backward"] > 0


def test_sanitizer_driver_builds_strided_inputs_and_flags_wrong_results():
    import sanitize_ops
    g = torch.Generator().manual_seed(0)
    x, w, b, A = sanitize_ops.graph_conv_inputs(g, 7, 3, 64, 13, 25, 3, True, True, torch.float32, "cpu")
    assert not x.is_contiguous() and not w.is_contiguous() and not A.is_contiguous() and b.shape == (3, 64)
    chk = sanitize_ops.Checker(compare=True)
    chk.check("close", torch.ones(4), torch.ones(4) + 1e-7, torch.float32)
    chk.check("wrong", torch.ones(4), torch.full((4,), 2.0), torch.float32)
    chk.check("nan", torch.full((4,), float("nan")), torch.ones(4), torch.float32)
    assert len(chk.mismatches) == 2 and chk.mismatches[0].startswith("wrong")


def test_cuda_only_selection_keeps_the_tests_a_cpu_skips(tmp_path):
    (tmp_path / "test_sample.py").write_text(
        "import pytest\n"
        "gpu = pytest.mark.skipif(True, reason='needs a GPU and the CUDA kernels')\n"
        "@gpu\ndef test_gpu(): pass\n"
        "def test_cpu(): pass\n"
        "@pytest.mark.skipif(True, reason='needs a machine without CUDA')\ndef test_without_cuda(): pass\n"
        "@pytest.mark.parametrize('device', ['cpu', pytest.param('cuda', marks=gpu)])\n"
        "def test_both(device): pass\n")
    env = {"PYTHONPATH": BENCH}
    r = subprocess.run([sys.executable, "-m", "pytest", str(tmp_path), "-p", "cuda_only_tests", "-q", "-rs",
                        "-p", "no:cacheprovider"], cwd=tmp_path, env=dict(os.environ, **env), capture_output=True,
                       text=True, timeout=120)
    assert parse.pytest_summary(r.stdout) == {"passed": 0, "failed": 0, "errors": 0, "skipped": 2,
                                              "deselected": 3, "xfailed": 0, "xpassed": 0}, r.stdout


def test_first_step_parity_script_on_two_cpu_runs(tmp_path, capsys):
    import first_step_parity
    out = tmp_path / "parity.json"
    code = first_step_parity.main(["--devices", "cpu,cpu", "--batch-size", "4", "--frames", "8",
                                   "--hidden-channels", "4", "--synthetic-train", "32", "--cache-dir",
                                   str(tmp_path / "cache"), "--work-dir", str(tmp_path / "runs"), "--json", str(out)])
    record = json.loads(out.read_text())
    assert code == 0 and record["ok"] and record["worst_scaled_diff"] == 0.0
    assert set(record["first_step_scaled_diff"]) >= {"loss", "nce", "pace"}       # the default's loss terms
    assert not any(k.startswith("acc") for k in record["first_step_scaled_diff"])


@needs_cpu_kernels
def test_bench_augment_device_and_json(tmp_path):
    out = tmp_path / "augment.json"
    r = run_script([os.path.join(BENCH, "bench_augment.py"), "--device", "cpu", "--batch-size", "4",
                    "--clip-frames", "40", "--frames", "10", "--repeats", "2", "--json", str(out)])
    assert r.returncode == 0, r.stderr
    rows = json.loads(out.read_text())["rows"]
    assert [row["path"][:3] for row in rows] == ["(a)", "(b)", "(c)"] and {row["device"] for row in rows} == {"cpu"}
    assert rows[2]["vs_b"] > 0 and rows[0]["gbs"] is None
    if not torch.cuda.is_available():
        r = run_script([os.path.join(BENCH, "bench_augment.py"), "--device", "cuda"])
        assert r.returncode != 0 and "CUDA is not available" in r.stderr and "Traceback" not in r.stderr


# ---- readers of what the commands print -------------------------------------------------------

def test_sanitizer_summary():
    clean = "========= COMPUTE-SANITIZER\nsanitize_ops: {}\n========= ERROR SUMMARY: 0 errors\n"
    assert parse.sanitizer_summary(clean) == {"errors": 0, "hazards": None, "warnings": None}
    bad = "========= Invalid __global__ read of size 4 bytes\n=========     at tile_kernel\n" \
          "========= ERROR SUMMARY: 3 errors (display limited to 30)\n"
    assert parse.sanitizer_summary(bad)["errors"] == 3
    race = "========= RACECHECK SUMMARY: 2 hazards displayed (1 error, 1 warning)\n"
    assert parse.sanitizer_summary(race) == {"errors": 1, "hazards": 2, "warnings": 1}
    assert parse.sanitizer_summary("Traceback (most recent call last):\n")["errors"] is None


def test_pytest_summary_and_junit(tmp_path):
    assert parse.pytest_summary("x\n==== 2 failed, 27 passed, 1 skipped, 259 deselected in 3.21s ====\n") == {
        "passed": 27, "failed": 2, "errors": 0, "skipped": 1, "deselected": 259, "xfailed": 0, "xpassed": 0}
    assert parse.pytest_summary("1 error in 0.52s")["errors"] == 1
    assert parse.pytest_summary("ImportError while loading conftest") is None
    xml = tmp_path / "j.xml"
    xml.write_text('<testsuites><testsuite name="pytest">'
                   '<testcase classname="tests.test_a" name="ok"/>'
                   '<testcase classname="tests.test_a" name="bad[cuda]"><failure message="x"/></testcase>'
                   '<testcase classname="tests.test_a" name="err"><error message="y"/></testcase>'
                   '<testcase classname="tests.test_a" name="skip"><skipped message="z"/></testcase>'
                   '</testsuite></testsuites>')
    assert parse.junit_counts(str(xml)) == {"tests": 4, "passed": 1, "failed": 1, "errors": 1, "skipped": 1,
                                            "failing": ["tests.test_a::bad[cuda]", "tests.test_a::err"]}
    assert parse.junit_counts(str(tmp_path / "missing.xml")) is None


GRAPH_CONV_OUTPUT = """NVIDIA H200, torch 2.11.0+cu130

graph conv layers, N=128, K=3, V=25 (cuda); times in ms (median of 5), ratio = other / fused, memory in MB
              |                forward                 |           forward + backward           |
  Cin->Cout T |     ref    comp   fused  x ref x comp |     ref    comp   fused  x ref x comp |   out extra fwd
    3->16 T50 |     0.4     0.3     0.1   4.00   3.00 |     1.2     0.9     0.3   4.00   3.00 |   9.8   58.6   5.6   0.1
                 fused achieved bandwidth: forward 812 GB/s, forward+backward 455 GB/s of 4800 GB/s peak
  64->256 T13 |     2.0     3.0     1.0   2.00   3.00 |     6.0     8.0     4.0   1.50   2.00 |  40.6  243.8  31.0   0.7
     geo-mean |                           2.83   3.00 |                           2.45   2.45 |

encoder forward+backward, (64,3,50,25,2), cuda, median of 3 (ms)
  extension 41 | CPSTN_BACKEND=reference (composed) 60 -> x1.46 | conv2d+einsum spec 70 -> x1.71
"""


def test_graph_conv_bench_reader():
    r = parse.graph_conv_bench(GRAPH_CONV_OUTPUT)
    assert [(lay["cin"], lay["cout"], lay["T"]) for lay in r["layers"]] == [(3, 16, 50), (64, 256, 13)]
    assert r["layers"][0]["fused_gbs"] == {"forward": 812.0, "forward_backward": 455.0, "device_peak": 4800.0}
    assert "fused_gbs" not in r["layers"][1]
    assert r["layers"][1]["fwdbwd_speedup"]["vs_best_torch"] == 1.5     # the reference order was faster there
    assert r["geomean"]["fwdbwd_vs_composed"] == 2.45 and r["encoder_ms"]["extension"] == 41.0
    assert r["geomean_fwdbwd_vs_best_torch"] == pytest.approx((3.0 * 1.5) ** 0.5)   # min(ref, comp) / fused per layer
    assert parse.graph_conv_bench("the extension has no kernel for cuda")["geomean"] is None


def test_other_readers():
    table = ("backend      median s/step   samples/s   all steps (s)\n"
             "extension           0.200       640.0   0.21 0.20\n"
             "reference           0.500       256.0   0.50\n  step 1/4 extension: 0.21 s\n")
    assert parse.train_step_bench(table) == {"extension": {"s_per_step": 0.2, "samples_per_s": 640.0},
                                             "reference": {"s_per_step": 0.5, "samples_per_s": 256.0}}
    assert parse.eval_line("table\nknn top1=31.50 top5=70.25\n", "knn") == {"top1": 31.5, "top5": 70.25}
    assert parse.eval_line("error: no checkpoint", "knn") is None
    usage = "usage: b.py [--device DEVICE] [--dtype {float32,bfloat16,float16}] [--amp]\n  --amp  mixed precision"
    assert parse.help_choices(usage, "--dtype") == ["float32", "bfloat16", "float16"]
    assert parse.help_choices(usage, "--amp") == [] and parse.help_choices(usage, "--amp-dtype") is None
    assert parse.help_choices("usage: b.py [--device DEVICE]", "--dtype") is None
    assert parse.tail("a\nepoch 1:  10%\repoch 1: 100%\nlast\n", 2) == "epoch 1: 100%\nlast"


# ---- the CUDA steps' logic, on recorded outputs ----------------------------------------------

class Recorded(gpu_check.Check):
    """A Check whose commands are answered from a table instead of run (no GPU needed)."""

    def __init__(self, tmp_path, answers, **facts):
        super().__init__(gpu_check.parse_args(["--out", str(tmp_path / "out"), "--work", str(tmp_path / "work")]))
        self.answers, self.commands, self.said = answers, [], []
        self.facts.update(modules={m: "1" for m in steps.MODULES}, tools={"compute-sanitizer": "/cs"}, **facts)
        self.record["steps"]["build"]["status"] = "ok"

    def run(self, cmd, limit, env=None, name=None):
        self.commands.append(cmd)
        key = next(k for k in self.answers if k in " ".join(cmd))
        rc, output = self.answers[key]
        return {"cmd": cmd, "rc": rc, "seconds": 1.0, "timed_out": False, "output": output}

    def say(self, line):
        self.said.append(line)


DRIVER_LINE = 'sanitize_ops: {"cases": 121, "calls": {"graph_conv": 72}, "ops_not_reached": [], "mismatches": 0}\n'


def test_memcheck_step_reads_the_error_count(tmp_path):
    clean = Recorded(tmp_path, {"compute-sanitizer": (0, DRIVER_LINE + "========= ERROR SUMMARY: 0 errors\n"),
                                "/cs": (0, DRIVER_LINE + "========= ERROR SUMMARY: 0 errors\n")})
    status, result = steps.memcheck(clean)
    assert status == "ok" and result["errors"] == 0 and result["driver"]["cases"] == 121
    assert clean.commands[0][:3] == ["/cs", "--tool", "memcheck"] and "--device" in clean.commands[0]
    dirty = Recorded(tmp_path, {"/cs": (0, DRIVER_LINE + "========= ERROR SUMMARY: 2 errors\n")})
    assert steps.memcheck(dirty)[0] == "failed"
    race_line = "RACECHECK SUMMARY: 0 hazards displayed (0 errors, 0 warnings)"
    race = Recorded(tmp_path, {"/cs": (0, DRIVER_LINE + race_line)})
    status, result = steps.racecheck(race)
    assert status == "ok" and race.commands[0][2] == "racecheck" and "--no-compare" in race.commands[0]
    assert "--small" in race.commands[0]


def test_failed_build_shows_the_end_of_its_log(tmp_path):
    log = "\n".join(f"line {i}" for i in range(100)) + "\nerror: nvcc failed\n"
    check = Recorded(tmp_path, {"setup.py": (1, log)}, capability="9.0")
    status, result = steps.build(check)
    assert status == "failed" and result["log_tail"].endswith("error: nvcc failed")
    assert "error: nvcc failed" in check.said[-1]
    assert result["env"]["TORCH_CUDA_ARCH_LIST"] == "9.0" and result["env"]["FORCE_CUDA"] == "1"
    assert check.commands[0][1:] == ["setup.py", "build_ext", "--inplace", "--force"]


def test_bench_steps_pass_dtype_only_when_offered_and_project_300_epochs(tmp_path):
    with_dtype = Recorded(tmp_path, {"--help": (0, "usage: [--dtype {float32,bfloat16}]"),
                                     "bench_graph_conv.py": (0, GRAPH_CONV_OUTPUT)})
    status, result = perf.bench_graph_conv(with_dtype)
    assert status == "ok" and set(result["runs"]) == {"float32", "bfloat16"}
    assert with_dtype.commands[-1][-2:] == ["--dtype", "bfloat16"]
    without = Recorded(tmp_path, {"--help": (0, "usage: [--device DEVICE]"),
                                  "bench_graph_conv.py": (0, GRAPH_CONV_OUTPUT)})
    status, result = perf.bench_graph_conv(without)
    assert set(result["runs"]) == {"float32"} and "--dtype" not in without.commands[-1]
    table = "extension           0.200       640.0   0.2\nreference           0.500       256.0   0.5\n"
    train = Recorded(tmp_path, {"--help": (0, "usage: [--device DEVICE] [--amp]"), "bench_train_step.py": (0, table)})
    status, result = perf.bench_train_step(train)
    assert status == "ok" and set(result["runs"]) == {"float32", "mixed --amp"}
    assert result["runs"]["float32"]["projected_300_epochs_hours"] == pytest.approx(300 * 313 * 0.2 / 3600)
    assert train.facts["train_step_s"] == 0.2
    graph_conv = {"runs": {"float32": parse.graph_conv_bench(GRAPH_CONV_OUTPUT)}}
    summary = perf.summary({"bench_graph_conv": {"result": graph_conv}, "bench_train_step": {"result": result}})
    assert summary["targets"]["graph_conv_fwdbwd_2x_best_torch_float32"] is True
    targets = summary["targets"]
    assert targets["ntu60_300_epochs_under_2h"] is False and targets["no_sanitizer_errors"] is None


def test_cuda_home_follows_an_nvcc_wrapper(tmp_path):
    (tmp_path / "bin").mkdir()
    wrapper = tmp_path / "bin" / "nvcc"
    wrapper.write_text('#!/bin/sh\nexec /opt/cuda-13.0/bin/nvcc "$@"\n')
    wrapper.chmod(0o755)
    assert steps.cuda_home({"PATH": str(tmp_path / "bin")}) == "/opt/cuda-13.0"
    assert steps.cuda_home({"PATH": str(tmp_path / "bin"), "CUDA_HOME": "/x"}) == "/x"
