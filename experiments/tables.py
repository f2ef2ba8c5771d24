"""Writing an experiment's results (table cells, a table between README markers, JSON records,
and the command line that made them, without the flags that only say where files go), and
reading an ablation's runs back.

Every file is written through cpstn_min.atomic.atomic_write, so a kill never leaves half a file.
"""
import json
import os

from cpstn_min.atomic import atomic_write
from cpstn_min.errors import UsageError


def write_between(path: str, start: str, end: str, text: str) -> bool:
    """Replace what stands between the `start` and `end` markers of file `path` by `text`;
    False (nothing written) if there is no such file or no such markers."""
    if not path or not os.path.isfile(path):
        return False
    with open(path) as f:
        old = f.read()
    if start not in old or end not in old:
        return False
    head, rest = old.split(start, 1)
    tail = rest.split(end, 1)[1]
    with atomic_write(path, "w") as f:
        f.write(f"{head}{start}\n{text}{end}{tail}")
    return True


def write_text(path: str, text: str) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with atomic_write(path, "w") as f:
        f.write(text)


def write_json(path: str, record) -> None:
    write_text(path, json.dumps(record, indent=2))


def without_flags(argv, flags) -> list:
    """argv without `flags` and their values ('--flag value' or '--flag=value')."""
    kept, words = [], iter(argv)
    for word in words:
        name, inline, _ = word.partition("=")
        if name in flags:
            if not inline:
                next(words, None)        # its value is the next word
            continue
        kept.append(word)
    return kept


def read_runs(path: str) -> list:
    """The runs of an ablation's results JSON (experiments/ablation.py --results X.md writes X.json)."""
    try:
        with open(path) as f:
            return json.load(f)["runs"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise UsageError(f"{path}: not an ablation's results JSON with its runs ({e!r})") from None


def by_key(runs) -> dict:
    """{(split, seed, variant): run} of an ablation's runs."""
    return {(r["split"], r["seed"], r["variant"]): r for r in runs}
