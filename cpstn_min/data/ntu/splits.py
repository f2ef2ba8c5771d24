"""NTU RGB+D sample names and the official evaluation splits.

Sample name SsssCcccPpppRrrrAaaa = setup, camera, performer (subject), replication, action
(1-based). Label = action - 1. Splits (training side; everything else is validation):
    xsub  (60 and 120)  performers in XSUB_TRAIN_PERFORMERS
    xview (60)          cameras 2 and 3
    xset  (120)         even setup numbers
"""
import re

from ..common import NTU60_XSUB_TRAIN_PERFORMERS

NAME_RE = re.compile(r"^S(\d{3})C(\d{3})P(\d{3})R(\d{3})A(\d{3})$")

_XSUB_120_EXTRA = (45, 46, 47, 49, 50, 52, 53, 54, 55, 56, 57, 58, 59, 70, 74, 78, 80, 81, 82, 83, 84,
                   85, 86, 89, 91, 92, 93, 94, 95, 97, 98, 100, 103)
XSUB_TRAIN_PERFORMERS = frozenset(NTU60_XSUB_TRAIN_PERFORMERS + _XSUB_120_EXTRA)   # the NTU-60 ones are all <= 40
XVIEW_TRAIN_CAMERAS = frozenset((2, 3))

DATASETS = {
    "ntu60": dict(num_classes=60, max_setup=17, splits=("xsub", "xview")),
    "ntu120": dict(num_classes=120, max_setup=32, splits=("xsub", "xset")),
}


def parse_name(name: str):
    """'S001C002P003R002A013' -> dict(setup=1, camera=2, performer=3, replication=2, action=13),
    or None when the name is not of that form."""
    m = NAME_RE.match(name)
    if not m:
        return None
    return dict(zip(("setup", "camera", "performer", "replication", "action"), map(int, m.groups())))


def belongs_to(fields: dict, dataset: str) -> bool:
    info = DATASETS[dataset]
    return 1 <= fields["setup"] <= info["max_setup"] and 1 <= fields["action"] <= info["num_classes"]


def is_training(fields: dict, split: str) -> bool:
    if split == "xsub":
        return fields["performer"] in XSUB_TRAIN_PERFORMERS
    if split == "xview":
        return fields["camera"] in XVIEW_TRAIN_CAMERAS
    if split == "xset":
        return fields["setup"] % 2 == 0
    raise ValueError(f"unknown split {split!r}")
