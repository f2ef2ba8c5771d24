"""evaluate(ecfg): one evaluation protocol end to end, from a checkpoint to its result files.

The dataset defaults to the one the checkpoint was pretrained on (ecfg.dataset /
data_root / data_format / split override it). Clips are resized to the
pretraining T_out frames, without augmentation, then turned into the checkpoint's input
stream (config.data.stream; ecfg.stream overrides it). Results go to ecfg.out_dir
(default: the checkpoint's folder, CHECKPOINT_DIR/random_init with random_init):
eval_<name>.json (the returned record), eval_<name>[_<pct>pct].png, the per-class table
eval_<name>[_<pct>pct]_classes.md, and a table through `log`. semi keeps every fraction's
numbers in eval_semi.json. ecfg.ensemble fuses several runs instead (ensemble.py).
"""
import dataclasses
import os

from .. import ops
from ..config import Config, DataConfig, EvalConfig
from ..config_checks import check_eval_config
from ..data import build_dataset
from ..errors import EvalError
from ..folders import make_folder
from ..streams import check_stream
from .encoders import check_dataset_fits, encoder_to_evaluate, for_data_stream
from .protocols import FROZEN, PROTOCOLS, run_finetune, run_frozen
from .report import previous_fractions, result_name, summarize, write_outputs


def evaluate(ecfg: EvalConfig, log=print) -> dict:
    """Runs ecfg.protocol end to end; returns the record written to eval_<protocol>.json."""
    if ecfg.protocol not in PROTOCOLS:
        raise EvalError(f"unknown protocol {ecfg.protocol!r} (expected one of {', '.join(PROTOCOLS)})")
    check_eval_config(ecfg)
    if ecfg.ensemble:
        from .ensemble import evaluate_ensemble
        return evaluate_ensemble(ecfg, log)
    ecfg = dataclasses.replace(ecfg)   # private copy: semi may set label_fraction from a saved subset
    encoder, cfg, source, data_cfg, train_set, test_set = encoder_and_data(ecfg, log)
    out_dir = make_folder(out_dir_of(ecfg), "--out-dir")
    log(f"{ecfg.protocol}: {source} on {data_cfg.dataset} {data_cfg.split} "
        f"({len(train_set)} train / {len(test_set)} test clips, {train_set.num_classes} classes), "
        f"device {ecfg.device}, ops backend {ops.backend(ecfg.device)}")

    runner = run_frozen if ecfg.protocol in FROZEN else run_finetune
    scores, labels, curves, settings = runner(ecfg, encoder, cfg.augment.T_out, data_cfg, train_set,
                                              test_set, out_dir, log)
    metrics = summarize(scores, labels, train_set.num_classes, train_set.class_names)
    suffix = f"_{100 * ecfg.label_fraction:g}pct" if ecfg.protocol == "semi" else ""
    name = result_name(ecfg)
    record = {"protocol": ecfg.protocol, "checkpoint": ecfg.checkpoint, "random_init": ecfg.random_init,
              "seed": ecfg.seed, "data": dataclasses.asdict(data_cfg), "T_out": cfg.augment.T_out,
              "num_train": len(train_set), "settings": settings, **metrics, "curves": curves}
    if ecfg.protocol == "semi":   # 1% and 10% runs share the file: keep each fraction's numbers
        record["by_fraction"] = previous_fractions(os.path.join(out_dir, f"eval_{name}.json"))
        record["by_fraction"][f"{ecfg.label_fraction:g}"] = {"top1": metrics["top1"], "top5": metrics["top5"]}
    title = f"{ecfg.protocol}{suffix.replace('_', ' ')}: {data_cfg.dataset} {data_cfg.split}"
    rows = [("protocol", ecfg.protocol + (" (frozen encoder, cached features)" if ecfg.protocol in FROZEN
                                          else "")),
            ("encoder", source),
            ("dataset", f"{data_cfg.dataset} {data_cfg.split}, {len(train_set)} train / "
                        f"{len(test_set)} test clips"),
            ("stream", data_cfg.stream)]
    rows += [(k.replace("_", " "), str(v)) for k, v in settings.items()]
    return write_outputs(out_dir, name, suffix, title, record, rows, log)


def encoder_and_data(ecfg: EvalConfig, log=print):
    """-> (encoder taking resized joint clips of the evaluated stream, pretraining Config,
    description, DataConfig, train set, test set)."""
    encoder, cfg, source = encoder_to_evaluate(ecfg)
    data_cfg = data_config(ecfg, cfg)
    train_set, test_set = build_dataset(data_cfg, True), build_dataset(data_cfg, False)
    check_dataset_fits(encoder, cfg.model, train_set)
    return for_data_stream(encoder, cfg, data_cfg, train_set, log), cfg, source, data_cfg, train_set, test_set


def data_config(ecfg: EvalConfig, cfg: Config) -> DataConfig:
    """The pretraining run's data config with ecfg's overrides."""
    data = dataclasses.replace(cfg.data)
    if ecfg.dataset and ecfg.dataset != data.dataset:
        data.dataset, data.data_root = ecfg.dataset, None
    if ecfg.data_root is not None:
        data.data_root = ecfg.data_root
    if ecfg.data_format is not None:
        data.data_format = ecfg.data_format
    if ecfg.split is not None:
        data.split = ecfg.split
    if ecfg.stream is not None:
        data.stream = check_stream(ecfg.stream)
    return data


def out_dir_of(ecfg: EvalConfig) -> str:
    if ecfg.out_dir:
        return ecfg.out_dir
    if ecfg.checkpoint:
        base = os.path.dirname(os.path.abspath(ecfg.checkpoint))
        return os.path.join(base, "random_init") if ecfg.random_init else base
    return os.path.join("runs", "random_init")
