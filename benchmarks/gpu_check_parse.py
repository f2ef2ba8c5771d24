"""Readers of the outputs gpu_check.py collects: each takes the text a command printed
(or the file it wrote) and returns the figures in it, or None where the text holds none,
so a missing figure is never replaced by a guess.
"""
import json
import math
import re
import xml.etree.ElementTree as ET
from typing import Dict, List, Optional

_NUM = r"([-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)"


def sanitizer_summary(text: str) -> Dict[str, Optional[int]]:
    """compute-sanitizer's closing lines -> {"errors", "hazards", "warnings"}.
    memcheck ends with 'ERROR SUMMARY: N errors'; racecheck with
    'RACECHECK SUMMARY: N hazards displayed (E errors, W warnings)'. The last of each counts."""
    errors = re.findall(r"ERROR SUMMARY:\s*(\d+)\s+error", text)
    race = re.findall(r"RACECHECK SUMMARY:\s*(\d+)\s+hazards?\s+displayed\s*\((\d+)\s+errors?,\s*(\d+)\s+warnings?\)",
                      text)
    out = {"errors": None, "hazards": None, "warnings": None}
    if race:
        hazards, errs, warns = (int(v) for v in race[-1])
        out.update(hazards=hazards, errors=errs, warnings=warns)
    if errors:
        out["errors"] = int(errors[-1]) if out["errors"] is None else max(out["errors"], int(errors[-1]))
    return out


def pytest_summary(text: str) -> Optional[Dict[str, int]]:
    """The last '== 3 failed, 27 passed, 1 skipped in 4.2s ==' style line -> counts (None if absent)."""
    lines = [ln for ln in text.splitlines() if re.search(r"\b(passed|failed|error|errors|skipped|deselected|"
                                                          r"no tests ran)\b.* in \d", ln)]
    if not lines:
        return None
    counts = {"passed": 0, "failed": 0, "errors": 0, "skipped": 0, "deselected": 0, "xfailed": 0, "xpassed": 0}
    for n, word in re.findall(r"(\d+) (passed|failed|errors?|skipped|deselected|xfailed|xpassed)", lines[-1]):
        counts["errors" if word.startswith("error") else word] += int(n)
    return counts


def junit_counts(path: str) -> Optional[dict]:
    """pytest --junitxml file -> counts and the ids of failing tests (None if unreadable)."""
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError):
        return None
    counts = {"tests": 0, "passed": 0, "failed": 0, "errors": 0, "skipped": 0}
    failing: List[str] = []
    for case in root.iter("testcase"):
        counts["tests"] += 1
        kinds = {child.tag for child in case}
        name = f"{case.get('classname', '')}::{case.get('name', '')}"
        if "failure" in kinds:
            counts["failed"] += 1
            failing.append(name)
        elif "error" in kinds:
            counts["errors"] += 1
            failing.append(name)
        elif "skipped" in kinds:
            counts["skipped"] += 1
        else:
            counts["passed"] += 1
    counts["failing"] = failing[:30]
    return counts


def _geomean(values):
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values and min(values) > 0 else None


def graph_conv_bench(text: str) -> dict:
    """bench_graph_conv.py's table -> per-layer times (ms) and speed-ups, the geometric means,
    the fused kernel's achieved bandwidth lines and the encoder line."""
    layers = []
    five = r"\s+".join([_NUM] * 5)
    row = re.compile(r"^\s*(\d+)->(\d+) T(\d+)\s*\|\s*" + five + r"\s*\|\s*" + five + r"\s*\|")
    bw = re.compile(r"forward " + _NUM + r" GB/s, forward\+backward " + _NUM + r" GB/s(?: of " + _NUM + " GB/s peak)?")
    for line in text.splitlines():
        m = row.match(line)
        if m:
            v = [float(x) for x in m.groups()]
            layers.append({"cin": int(v[0]), "cout": int(v[1]), "T": int(v[2]),
                           "fwd_ms": {"reference": v[3], "composed": v[4], "fused": v[5]},
                           "fwd_speedup": {"vs_reference": v[6], "vs_composed": v[7]},
                           "fwdbwd_ms": {"reference": v[8], "composed": v[9], "fused": v[10]},
                           "fwdbwd_speedup": {"vs_reference": v[11], "vs_composed": v[12]}})
            continue
        b = bw.search(line)
        if b and layers:
            layers[-1]["fused_gbs"] = {"forward": float(b.group(1)), "forward_backward": float(b.group(2))}
            if b.group(3):
                layers[-1]["fused_gbs"]["device_peak"] = float(b.group(3))
    # the best torch composition per layer: whichever of the two plain-PyTorch orders was faster
    for lay in layers:
        for key in ("fwd", "fwdbwd"):
            ms = lay[f"{key}_ms"]
            lay[f"{key}_speedup"]["vs_best_torch"] = min(ms["reference"], ms["composed"]) / ms["fused"]
    out = {"layers": layers, "geomean": None, "encoder_ms": None,
           "geomean_fwdbwd_vs_best_torch": _geomean([lay["fwdbwd_speedup"]["vs_best_torch"] for lay in layers]),
           "geomean_fwd_vs_best_torch": _geomean([lay["fwd_speedup"]["vs_best_torch"] for lay in layers])}
    g = re.search(r"geo-mean\s*\|\s*" + _NUM + r"\s+" + _NUM + r"\s*\|\s*" + _NUM + r"\s+" + _NUM, text)
    if g:
        f_ref, f_comp, fb_ref, fb_comp = (float(x) for x in g.groups())
        out["geomean"] = {"fwd_vs_reference": f_ref, "fwd_vs_composed": f_comp,
                          "fwdbwd_vs_reference": fb_ref, "fwdbwd_vs_composed": fb_comp}
    e = re.search(r"extension " + _NUM + r" \| CPSTN_BACKEND=reference \(composed\) " + _NUM +
                  r".*?conv2d\+einsum spec " + _NUM, text)
    if e:
        out["encoder_ms"] = dict(zip(("extension", "composed", "reference"), (float(x) for x in e.groups())))
    return out


def train_step_bench(text: str) -> Dict[str, dict]:
    """bench_train_step.py's table rows 'extension  0.123  1040.6  ...' -> {backend: {s_per_step, samples_per_s}}."""
    rows = {}
    for name, s, rate in re.findall(r"^(extension|reference)\s+" + _NUM + r"\s+" + _NUM, text, re.M):
        rows[name] = {"s_per_step": float(s), "samples_per_s": float(rate)}
    return rows


def eval_line(text: str, protocol: str) -> Optional[Dict[str, float]]:
    """eval.py's last line '<protocol> top1=XX.XX top5=YY.YY' -> {"top1", "top5"}."""
    m = re.findall(rf"^{re.escape(protocol)} top1={_NUM} top5={_NUM}\s*$", text, re.M)
    return {"top1": float(m[-1][0]), "top5": float(m[-1][1])} if m else None


def help_choices(help_text: str, flag: str) -> Optional[List[str]]:
    """The choices argparse lists for `flag` in a --help text ('--dtype {float32,bfloat16}'):
    a list, [] when the flag takes a free value, None when the flag is not there."""
    m = re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])(?:[ =](\{{[^}}]*\}}|\S+))?", help_text)
    if not m:
        return None
    if m.group(1) and m.group(1).startswith("{"):
        return [c.strip() for c in m.group(1)[1:-1].split(",")]
    return []


def tail(text: str, lines: int = 30) -> str:
    """The last lines of an output, progress-bar redraws (carriage returns) dropped."""
    kept = [ln.rstrip("\r").rsplit("\r", 1)[-1] for ln in text.split("\n")]
    return "\n".join([ln for ln in kept if ln.strip()][-lines:])


def read_json(path: str):
    """A JSON file a benchmark wrote (None if it is missing or cut short)."""
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None
