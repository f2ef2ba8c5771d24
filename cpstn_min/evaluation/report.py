"""Results of one evaluation: metrics, result file names, the printed table, JSON and a PNG.

Inputs are class scores (N,C) (logits, kNN votes or fused ensemble probabilities), labels
(N,) int64 and the action names of the classes (the dataset's class_names; None: the ids).
The PNG holds the learning curves (or accuracy against k for kNN) and the confusion matrix
with the action names on its axes; it is drawn with matplotlib's Agg canvas, so no display
is needed. Per-class results (test clips, top-1, the class most often predicted instead)
go to a markdown table, and the printed table lists the worst classes by name. Files are
written through atomic.atomic_write.
"""
import json
import math
import os

import torch

from ..atomic import atomic_write


def result_name(ecfg) -> str:
    """File stem after eval_: the protocol, with _recipe for the SkeletonCLR/AimCLR linear probe
    so it never overwrites the default probe's eval_linear.json."""
    return ecfg.protocol + ("_recipe" if ecfg.protocol == "linear" and ecfg.linear_probe == "recipe" else "")


def previous_fractions(json_path: str) -> dict:
    """{fraction: {top1, top5}} of earlier semi runs written to the same eval_semi.json."""
    try:
        with open(json_path) as f:
            return dict(json.load(f).get("by_fraction", {}))
    except (OSError, ValueError, AttributeError):
        return {}


WORST_LISTED = 5            # classes the printed table names, lowest accuracy first


def names_of(class_names, num_classes: int) -> list:
    """The action names, or 'class <id>' for data without names."""
    if class_names is not None and len(class_names) == num_classes:
        return [str(n) for n in class_names]
    return [f"class {c}" for c in range(num_classes)]


def summarize(scores: torch.Tensor, labels: torch.Tensor, num_classes: int, class_names=None) -> dict:
    """top-1 / top-5 (%), per-class accuracy (%), the worst classes by name and the confusion
    matrix [true][predicted]."""
    n = labels.numel()
    k = min(5, num_classes)
    top = scores.topk(k, dim=1).indices if n else torch.zeros(0, k, dtype=torch.long)
    hit1 = top[:, 0] == labels
    hit5 = (top == labels[:, None]).any(dim=1)
    confusion = torch.zeros(num_classes, num_classes, dtype=torch.long)
    confusion.index_put_((labels, top[:, 0]), torch.ones(n, dtype=torch.long), accumulate=True)
    support = confusion.sum(1)
    per_class = [100.0 * confusion[c, c].item() / support[c].item() if support[c] else float("nan")
                 for c in range(num_classes)]
    present = [a for a in per_class if not math.isnan(a)]
    ordered = sorted(present)
    worst = min(range(num_classes), key=lambda c: per_class[c] if not math.isnan(per_class[c]) else 1e9)
    names = names_of(class_names, num_classes)
    ranked = sorted((c for c in range(num_classes) if support[c]), key=lambda c: (per_class[c], c))
    return {
        "top1": 100.0 * hit1.float().mean().item() if n else 0.0,
        "top5": 100.0 * hit5.float().mean().item() if n else 0.0,
        "num_test": n,
        "num_classes": num_classes,
        "per_class_top1": [None if math.isnan(a) else a for a in per_class],
        "per_class_summary": {
            "mean": sum(present) / len(present) if present else 0.0,
            "median": ordered[len(ordered) // 2] if ordered else 0.0,
            "min": ordered[0] if ordered else 0.0,
            "max": ordered[-1] if ordered else 0.0,
            "worst_class": worst,
            "worst_class_name": names[worst],
            "classes_below_50": sum(a < 50 for a in present),
        },
        "class_names": names,
        "worst_classes": [{"class": c, "name": names[c], "top1": per_class[c]} for c in ranked[:WORST_LISTED]],
        "confusion": confusion.tolist(),
    }


def format_table(title_rows, metrics: dict) -> str:
    """A two-column text table: the run description, then the metrics."""
    s = metrics["per_class_summary"]
    rows = list(title_rows) + [None,
                               ("top-1 accuracy", f"{metrics['top1']:.2f} %"),
                               ("top-5 accuracy", f"{metrics['top5']:.2f} %"),
                               ("per-class accuracy mean", f"{s['mean']:.2f} %"),
                               ("per-class accuracy median", f"{s['median']:.2f} %"),
                               ("per-class accuracy min", f"{s['min']:.2f} % ({s['worst_class_name']})"),
                               ("per-class accuracy max", f"{s['max']:.2f} %"),
                               ("classes below 50 %", f"{s['classes_below_50']} of {metrics['num_classes']}")]
    rows += [("worst classes" if i == 0 else "", f"{w['top1']:.2f} % {w['name']}")
             for i, w in enumerate(metrics.get("worst_classes", []))]
    width = max(len(r[0]) for r in rows if r)
    value_width = max(len(r[1]) for r in rows if r)
    line = "+" + "-" * (width + 2) + "+" + "-" * (value_width + 2) + "+"
    out = [line]
    for r in rows:
        out.append(line if r is None else f"| {r[0]:<{width}} | {r[1]:<{value_width}} |")
    out.append(line)
    return "\n".join(out)


def per_class_table(metrics: dict) -> str:
    """Markdown: one row per class with its name, test clips, top-1 and the most frequent wrong prediction."""
    names, conf = metrics["class_names"], metrics["confusion"]
    lines = ["| class | action | test clips | top-1 % | most often predicted instead |", "|---|---|---|---|---|"]
    for c, (name, row) in enumerate(zip(names, conf)):
        acc = metrics["per_class_top1"][c]
        wrong = max((k for k in range(len(row)) if k != c), key=lambda k: row[k], default=None)
        other = f"{names[wrong]} ({row[wrong]})" if wrong is not None and row[wrong] else "–"
        lines.append(f"| {c} | {name} | {sum(row)} | {'–' if acc is None else f'{acc:.1f}'} | {other} |")
    return "\n".join(lines) + "\n"


def write_text(path: str, text: str) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with atomic_write(path, "w") as f:
        f.write(text)


def write_json(path: str, record: dict) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with atomic_write(path, "w") as f:
        json.dump(record, f, indent=2)


def pretext_curves(run_dir: str) -> dict:
    """{"epoch": [...], task: [training accuracy (%) per epoch]} of the pretext heads, from the
    pretraining run's log.jsonl ({} when the run has no pretext heads or no log); with a pretext
    weight schedule also "pretext_weight": the epoch's mean factor (training/pretext_weight.py)."""
    path = os.path.join(run_dir, "log.jsonl")
    if not os.path.isfile(path):
        return {}
    epochs = []
    with open(path) as f:
        for line in f:
            try:
                r = json.loads(line)
            except ValueError:       # a line cut short by a kill
                continue
            if r.get("type") == "epoch":
                epochs.append(r)
    tasks = sorted({k[4:] for r in epochs for k in r if k.startswith("acc_") and k != "acc_nce"})
    if not tasks:
        return {}
    curves = {"epoch": [r["epoch"] + 1 for r in epochs],
              **{t: [100.0 * r.get(f"acc_{t}", float("nan")) for r in epochs] for t in tasks}}
    if any("pretext_weight" in r for r in epochs):
        curves["pretext_weight"] = [r.get("pretext_weight", float("nan")) for r in epochs]
    return curves


def plot(path: str, title: str, curves: dict, confusion, class_names=None, pretext=None):
    """Left: curves (train loss / accuracies per epoch, or top-1 against k; none for an ensemble).
    Middle (when `pretext` holds pretext_curves): the pretraining run's pretext-head accuracies
    (and the pretext weight factor, with a schedule).
    Right: confusion matrix, its axes labelled with the action names. Returns the figure."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    C = len(confusion)
    side = max(5.0, 2.5 + 0.09 * C)                           # room for one name per row
    fig = Figure(figsize=(7 + 6 * bool(pretext) + side, side), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 3 if pretext else 2)
    ax_curve, ax_conf = axes[0], axes[-1]
    if pretext:
        for task in (t for t in pretext if t not in ("epoch", "pretext_weight")):
            axes[1].plot(pretext["epoch"], pretext[task], marker=".",
                         label=f"{task} head" + (" (R²)" if task == "mask" else ""))
        if "pretext_weight" in pretext:   # the schedule beside what it did to the heads
            ax_weight = axes[1].twinx()
            ax_weight.plot(pretext["epoch"], pretext["pretext_weight"], color="gray", linestyle="--",
                           label="weight factor")
            ax_weight.set_ylabel("pretext weight factor (epoch mean)")
            ax_weight.legend(loc="upper right")
        axes[1].set_xlabel("pretraining epoch")
        axes[1].set_ylabel("training accuracy (%)")
        axes[1].set_title("pretext heads during pretraining")
        axes[1].legend(loc="lower right")
    if not curves:
        ax_curve.axis("off")
    elif "k" in curves:
        ax_curve.plot(curves["k"], curves["top1"], marker="o")
        ax_curve.set_xscale("log")
        ax_curve.set_xlabel("k (neighbours)")
        ax_curve.set_ylabel("top-1 accuracy (%)")
    else:
        ax_curve.plot(curves["epoch"], curves["train_top1"], label="train top-1")
        ax_curve.plot(curves.get("test_epoch", curves["epoch"]), curves["test_top1"], marker=".",
                      label="test top-1")
        ax_curve.set_xlabel("epoch")
        ax_curve.set_ylabel("accuracy (%)")
        ax_loss = ax_curve.twinx()
        ax_loss.plot(curves["epoch"], curves["train_loss"], color="gray", linestyle="--",
                     label="train loss")
        ax_loss.set_ylabel("train loss")
        ax_loss.legend(loc="center right")
        ax_curve.legend(loc="lower right")
    ax_curve.set_title(title)
    conf = torch.tensor(confusion, dtype=torch.float64)
    rows = conf / conf.sum(1, keepdim=True).clamp(min=1)       # each true class sums to 1
    im = ax_conf.imshow(rows.numpy(), cmap="Blues", vmin=0, vmax=1)
    names = names_of(class_names, C)
    size = max(2.5, min(8.0, 400 / max(C, 1)))                 # points: 8 for 26 classes, ~3 for 120
    ax_conf.set_xticks(range(C), names, rotation=90, fontsize=size)
    ax_conf.set_yticks(range(C), names, fontsize=size)
    ax_conf.set_xlabel("predicted action")
    ax_conf.set_ylabel("true action")
    ax_conf.set_title("confusion matrix (row-normalised)")
    fig.colorbar(im, ax=ax_conf)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with atomic_write(path) as f:
        fig.savefig(f, format="png", dpi=100)
    return fig


def write_outputs(out_dir: str, name: str, suffix: str, title: str, record: dict, rows, log) -> dict:
    """eval_<name>.json (record), eval_<name><suffix>.png and eval_<name><suffix>_classes.md
    (per-class table) in out_dir, then the printed table; record holds summarize()'s metrics
    and 'curves'. Returns record with the paths added."""
    json_path = os.path.join(out_dir, f"eval_{name}.json")
    record["plot"] = os.path.join(out_dir, f"eval_{name}{suffix}.png")
    record["classes_table"] = os.path.join(out_dir, f"eval_{name}{suffix}_classes.md")
    if record.get("checkpoint") and not record.get("random_init"):
        record["pretext_curves"] = pretext_curves(os.path.dirname(os.path.abspath(record["checkpoint"])))
    write_json(json_path, record)
    plot(record["plot"], title, record["curves"], record["confusion"], record["class_names"],
         record.get("pretext_curves"))
    write_text(record["classes_table"], per_class_table(record))
    log(format_table(rows, record))
    log(f"wrote {json_path}, {record['plot']} and {record['classes_table']}")
    return record
