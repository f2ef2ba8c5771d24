"""gpu_check.py's correctness steps: env, build, cuda_tests, parity, memcheck, racecheck.

Each step takes the Check (its run(), require(), facts, work folder) and returns
(status, result); it raises Skip when it cannot run here. Every figure in a result is
read from the output of a command the step ran.
"""
import importlib.metadata
import importlib.util
import json
import os
import re
import shutil

from gpu_check_parse import junit_counts, pytest_summary, read_json, sanitizer_summary, tail

BENCH = os.path.dirname(os.path.abspath(__file__))
MODULES = ("torch", "numpy", "tqdm", "matplotlib", "pytest", "setuptools", "ninja", "pybind11")
OPS = ("graph_conv", "graph_conv_backward", "skeleton_augment")

PROBE = """
import json, platform, torch
info = {"python": platform.python_version(), "torch": torch.__version__, "torch_cuda": torch.version.cuda,
        "cuda_available": torch.cuda.is_available(), "cpu_count": __import__("os").cpu_count()}
if info["cuda_available"]:
    p = torch.cuda.get_device_properties(0)
    info.update(device_count=torch.cuda.device_count(), gpu=p.name, capability=f"{p.major}.{p.minor}",
                memory_gib=round(p.total_memory / 2**30, 1), multiprocessors=p.multi_processor_count)
print("probe: " + json.dumps(info))
"""

VERIFY = """
import json, torch
import cpstn_min.ops as o
ops = %r
print("verify: " + json.dumps({"extension": o.extension_loaded(), "error": str(o._EXT_ERROR or ""),
      "kernels": {op: [k for k in ("CPU", "CUDA") if o._has_kernel(op, k)] for op in ops},
      "backend": {d: o.backend(d) for d in (["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"])}}))
""" % (OPS,)


class Skip(Exception):
    """A step that cannot run here; the message says why."""


def tagged_json(output: str, tag: str):
    """The JSON after the last line starting with `tag: ` (None if there is none)."""
    lines = [ln for ln in output.splitlines() if ln.startswith(tag + ": ")]
    return json.loads(lines[-1][len(tag) + 2:]) if lines else None


def fresh_path(check, name: str) -> str:
    """A file in the work folder for a command to write, with any earlier run's copy removed
    (a crashed command must not leave the last run's figures to be read as its own)."""
    path = os.path.join(check.work, name)
    if os.path.exists(path):
        os.remove(path)
    return path


def cuda_home(environ=None):
    """The CUDA toolkit folder torch should build with: $CUDA_HOME, else the nvcc on the PATH
    (through a wrapper script that execs the real one, as some images install), else /usr/local/cuda."""
    environ = os.environ if environ is None else environ
    if environ.get("CUDA_HOME"):
        return environ["CUDA_HOME"]
    nvcc = shutil.which("nvcc", path=environ.get("PATH"))
    if nvcc:
        with open(nvcc, "rb") as f:
            head = f.read(4096)
        if head.startswith(b"#!"):
            m = re.search(rb"(/[^\s\"']*/bin/nvcc)\b", head)
            nvcc = m.group(1).decode() if m else nvcc
        return os.path.dirname(os.path.dirname(os.path.realpath(nvcc)))
    return "/usr/local/cuda" if os.path.exists("/usr/local/cuda/bin/nvcc") else None


def find_tool(name: str):
    home = cuda_home()
    for path in (shutil.which(name), home and os.path.join(home, "bin", name),
                 home and os.path.join(home, name, name)):
        if path and os.access(path, os.X_OK):
            return path
    return None


def env(check):
    probe = check.run([check.python, "-c", PROBE], 90)
    info = tagged_json(probe["output"], "probe") or {}
    mods = {}
    for m in MODULES:
        try:
            mods[m] = importlib.metadata.version(m) if importlib.util.find_spec(m) else None
        except importlib.metadata.PackageNotFoundError:
            mods[m] = "present"
    tools = {t: find_tool(t) for t in ("nvcc", "ninja", "compute-sanitizer", "nvidia-smi")}
    info.update(modules=mods, tools=tools, cuda_home=cuda_home())
    for tool, args in (("nvcc", ["--version"]), ("compute-sanitizer", ["--version"]),
                       ("nvidia-smi", ["--query-gpu=name,memory.total,driver_version,clocks.max.sm,clocks.max.mem",
                                       "--format=csv,noheader"])):
        if tools[tool]:
            r = check.run([tools[tool]] + args, 30)
            info[tool.replace("-", "_") + "_says"] = tail(r["output"], 2)
    check.facts.update(info)
    return ("ok" if probe["rc"] == 0 and info.get("torch") else "failed"), info


def build_env(check) -> dict:
    env = {"FORCE_CUDA": "1", "TORCH_CUDA_ARCH_LIST": check.facts.get("capability", "9.0"),
           "MAX_JOBS": str(os.cpu_count() or 4)}
    home = cuda_home()
    if home:
        env["CUDA_HOME"] = home
        # a toolkit without the math-library headers: use the ones torch's CUDA wheels ship
        site = os.path.dirname(os.path.dirname(importlib.util.find_spec("torch").origin))
        wheel = os.path.join(site, "nvidia", "cu13")
        if not os.path.exists(os.path.join(home, "include", "cublas_v2.h")) and os.path.isdir(wheel):
            env.update(CPSTN_CUDA_INCLUDE=os.path.join(wheel, "include"), CPSTN_CUDA_LIB=os.path.join(wheel, "lib"))
    return env


def build(check):
    result = {}
    if check.smoke or check.args.skip_build:
        result["built"] = "no: " + ("cpu smoke run" if check.smoke else "--skip-build") + \
            ", the extension already in cpstn_min/ is checked"
    else:
        env = build_env(check)
        result.update(env=env, ninja=bool(check.facts.get("tools", {}).get("ninja")))
        if not result["ninja"]:
            check.say("warning: no ninja here: torch compiles the sources one after another (slow)")
        # in place: no pip, no package index, nothing installed into the machine's Python
        r = check.run([check.python, "setup.py", "build_ext", "--inplace", "--force"], 300, env)
        result.update(built=r["rc"] == 0, build_seconds=r["seconds"])
        if r["rc"] != 0:
            result["log_tail"] = tail(r["output"], 40)
            check.say("build failed; the end of its log:\n" + result["log_tail"])
            return ("timeout" if r["timed_out"] else "failed"), result
    v = check.run([check.python, "-c", VERIFY], 90)
    result["verify"] = tagged_json(v["output"], "verify")
    need = "CPU" if check.smoke else "CUDA"
    kernels = (result["verify"] or {}).get("kernels", {})
    result["missing_kernels"] = [op for op in OPS if need not in kernels.get(op, [])]
    return ("ok" if v["rc"] == 0 and result["verify"] and not result["missing_kernels"] else "failed"), result


def cuda_tests(check):
    check.require(build=True, modules=("pytest",))
    xml = fresh_path(check, "cuda_tests.xml")
    r = check.run([check.python, "-m", "pytest", "tests", "-p", "cuda_only_tests", "-q", "-rfE",
                   "-p", "no:cacheprovider", f"--junitxml={xml}"], 150)
    counts = junit_counts(xml) or pytest_summary(r["output"])
    result = {"selected": "tests with a skipif mark whose reason says they need a GPU/CUDA",
              "counts": counts, "rc": r["rc"]}
    if check.smoke:
        raise Skip(f"no CUDA: the {counts and counts.get('skipped')} GPU tests were selected and skipped")
    ok = r["rc"] == 0 and counts and counts["failed"] == 0 and counts["errors"] == 0 and counts["passed"] > 0
    return ("ok" if ok else "timeout" if r["timed_out"] else "failed"), result


def parity(check):
    check.require(build=True, cuda=True, modules=("tqdm",))
    out = fresh_path(check, "parity.json")
    r = check.run([check.python, os.path.join(BENCH, "first_step_parity.py"), "--devices", "cpu,cuda",
                   "--cache-dir", os.path.join(check.work, "cache"), "--work-dir", os.path.join(check.work, "parity"),
                   "--json", out], 150)
    record = read_json(out) if r["rc"] in (0, 1) else None   # 1: ran, losses differ
    if record:
        record = {k: record[k] for k in ("devices", "tolerance", "tf32", "batch_size", "seed",
                                         "first_step_scaled_diff", "worst_scaled_diff", "ok")} | {
            "first_step": {dev: run["steps"][0] for dev, run in record["runs"].items()},
            "second_step_loss": {dev: run["steps"][1]["loss"] for dev, run in record["runs"].items()}}
    ok = r["rc"] == 0 and record and record["ok"]
    return ("ok" if ok else "timeout" if r["timed_out"] else "failed"), record or {}


def _driver(check, extra):
    return [check.python, os.path.join(BENCH, "sanitize_ops.py")] + extra


def _sanitize(check, tool, extra, limit):
    check.require(build=True)
    if check.smoke:  # the driver alone, on the CPU kernels: proves it runs and reaches every op
        if tool != "memcheck":
            raise Skip("needs CUDA; the memcheck step ran the driver on the CPU")
        r = check.run(_driver(check, ["--device", "cpu", "--quick"] + extra), limit)
        driver = tagged_json(r["output"], "sanitize_ops")
        result = {"sanitizer": "not run: no CUDA; the driver ran on CPU tensors", "driver": driver}
        return ("ok" if r["rc"] == 0 and driver else "failed"), result
    sanitizer = check.facts.get("tools", {}).get("compute-sanitizer")
    if not sanitizer:
        raise Skip("compute-sanitizer not found (PATH, $CUDA_HOME/bin, $CUDA_HOME/compute-sanitizer)")
    # without the caching allocator every tensor is its own allocation, so an overrun leaves it
    r = check.run([sanitizer, "--tool", tool, "--print-limit", "30"] + _driver(check, ["--device", "cuda"] + extra),
                  limit, {"PYTORCH_NO_CUDA_MEMORY_CACHING": "1"})
    counts = sanitizer_summary(r["output"])
    driver = tagged_json(r["output"], "sanitize_ops")
    result = {"tool": tool, **counts, "driver": driver, "rc": r["rc"]}
    ok = r["rc"] == 0 and counts["errors"] == 0 and driver and not driver["ops_not_reached"] \
        and driver["mismatches"] == 0
    return ("ok" if ok else "timeout" if r["timed_out"] else "failed"), result


def memcheck(check):
    return _sanitize(check, "memcheck", [], 180)


def racecheck(check):
    # shared-memory hazards live in the graph_conv tiles; the comparison would only add launches.
    # --small: N 1, T 1 reach every tiling path; the full set outran 150 s on an H200
    return _sanitize(check, "racecheck", ["--ops", "graph_conv", "--no-compare", "--small"], 150)
