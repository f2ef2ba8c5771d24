"""Evaluation protocols of the SkeletonCLR/AimCLR papers behind one typed call; eval.py is its CLI.

    from cpstn_min.config import EvalConfig
    from cpstn_min.evaluation import evaluate
    record = evaluate(EvalConfig(checkpoint="runs/demo/checkpoint.pt", protocol="knn"))

run.py        evaluate(EvalConfig) -> the record of eval_<protocol>.json: encoder, data, protocol, results
encoders.py   the encoder to evaluate (pretrained or random) and the check that it fits the data
protocols.py  the protocol runners: frozen features (linear, knn) and finetuning (semi, finetune)
features.py   frozen pooled features (N,D) of a dataset, extracted once and cached on disk
linear.py     linear probe on cached features
knn.py        cosine kNN with temperature-weighted votes
semi.py       class-balanced label subsets (saved to JSON) for semi-supervised finetuning
finetune.py   encoder + linear classifier trained end to end (semi and finetune protocols)
report.py     metrics, result file names, printed table, JSON and PNG (curves + confusion matrix)
"""
from ..errors import EvalError
from .run import evaluate

__all__ = ["EvalError", "evaluate"]
