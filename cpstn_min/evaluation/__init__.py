"""Evaluation protocols of the SkeletonCLR/AimCLR papers, used by eval.py.

encoders.py   pretrained (from a checkpoint) or randomly initialised encoders, with clear errors
features.py   frozen pooled features (N,D) of a dataset, extracted once and cached on disk
linear.py     linear probe on cached features
knn.py        cosine kNN with temperature-weighted votes
semi.py       class-balanced label subsets (saved to JSON) for semi-supervised finetuning
finetune.py   encoder + linear classifier trained end to end (semi and finetune protocols)
report.py     metrics, printed table, JSON and PNG (curves + confusion matrix)
"""


class EvalError(Exception):
    """A user-facing evaluation error (eval.py prints it on one line and exits with code 2)."""
