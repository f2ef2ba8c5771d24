"""Pretraining as a typed API; train.py is its command line.

    from cpstn_min.config import Config
    from cpstn_min import training
    checkpoint_path = training.main(Config())

args.py    flags and config files -> Config (the synthetic-demo scaling, --resume's saved config)
state.py   Run: the run's parts and counters, its state_dict / load_state_dict (checkpoint.pt)
build.py   prepare(cfg) -> Run: device, process group, run folder, data, model, optimizer
loop.py    train_step, fit(run), main(cfg) = prepare + fit
precision.py  --amp / --amp-dtype resolved for the device: autocast dtype, loss scaling
"""
from .build import prepare
from .loop import fit, main, train_step
from .state import Run

__all__ = ["Run", "fit", "main", "prepare", "train_step"]
