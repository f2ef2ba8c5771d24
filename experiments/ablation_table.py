"""The ablation's markdown table: one row per method, one column per protocol and split, the
paired difference CP-STN - SkeletonCLR with its 95% confidence interval, the pretext heads.

Results are the per-run records of experiments/ablation.py: {"split", "seed", "variant",
<column>: top-1 or None, "heads": {task: final training accuracy}, "num_classes"}; raw-joint
baselines are {split: top-1}.
"""
import statistics

from experiments.stats import difference_cell, mean_std

BASELINE, CANDIDATE = "skeletonclr", "cpstn"     # the paired comparison of the table


def _values(results, variant, split, column):
    runs = sorted((r for r in results if r["variant"] == variant and r["split"] == split), key=lambda r: r["seed"])
    return [r[column] for r in runs if r.get(column) is not None], [r["seed"] for r in runs]


def paired_values(results, split, column):
    """(CP-STN's values, SkeletonCLR's) over the same seeds in the same order, ([], []) if their seeds differ."""
    a, seeds_a = _values(results, CANDIDATE, split, column)
    b, seeds_b = _values(results, BASELINE, split, column)
    return (a, b) if seeds_a == seeds_b and len(a) == len(b) else ([], [])


def heads_table(results, variants, labels) -> list:
    """Final training accuracy (%) of each pretext head (mean ± sd over seeds and splits)."""
    tasks = sorted({t for r in results for t in r.get("heads", {})})
    if not tasks:
        return []
    names = [f"{t} (R²)" if t == "mask" else t for t in tasks]
    lines = ["", "| pretext head, training accuracy in the last epoch (%) | " + " | ".join(names) + " |",
             "|" + "---|" * (len(tasks) + 1)]
    for v in variants:
        runs = [r for r in results if r["variant"] == v and r.get("heads")]
        if runs:
            cells = [mean_std([100 * r["heads"][t] for r in runs if t in r["heads"]]) for t in tasks]
            lines.append(f"| {labels[v]} | " + " | ".join(cells) + " |")
    return lines


def markdown_table(results, raw_joints: dict, splits, variants, labels: dict, columns: dict) -> str:
    """labels: variant -> row label; columns: name -> header."""
    cols = [(s, c) for s in splits for c in columns]
    lines = ["| method | " + " | ".join(f"{s} {columns[c]}" for s, c in cols) + " |",
             "|" + "---|" * (len(cols) + 1)]
    classes = {r["split"]: r["num_classes"] for r in results}
    lines.append("| chance | " + " | ".join(f"{100 / classes[s]:.1f}" if s in classes else "–"
                                           for s, _ in cols) + " |")
    if raw_joints:
        lines.append("| logistic regression on raw joints | " + " | ".join(
            f"{raw_joints[s]:.1f}" if c == "probe" and s in raw_joints else "–" for s, c in cols) + " |")
    for v in variants:
        lines.append(f"| {labels[v]} | " + " | ".join(mean_std(_values(results, v, s, c)[0]) for s, c in cols)
                     + " |")
    if BASELINE in variants and CANDIDATE in variants:
        cells = [difference_cell(*paired_values(results, s, c)) for s, c in cols]
        lines.append(f"| **{labels[CANDIDATE].split(' (')[0]} − {labels[BASELINE].split(' (')[0]}**, "
                     "paired by seed, [95% CI] | " + " | ".join(cells) + " |")
    return "\n".join(lines + heads_table(results, variants, labels)) + "\n"


def ratio_to_supervised(results, split: str, column: str = "probe"):
    """CP-STN's mean linear accuracy over the supervised ceiling's on one split (None if missing)."""
    ours = _values(results, CANDIDATE, split, column)[0]
    ceiling = _values(results, "supervised", split, column)[0]
    return statistics.mean(ours) / statistics.mean(ceiling) if ours and ceiling else None
