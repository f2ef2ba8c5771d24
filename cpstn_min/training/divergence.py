"""Guards that keep a diverging run from poisoning its checkpoint.

`check_loss` runs on every step, before backward: one isfinite on the loss that is
already computed, so the parameters in memory stay those of the last good step.
`check_state` runs before every save: a finite loss can still come with inf
gradients that turn the weights non-finite, and such a state must never replace
the last good checkpoint. Both raise TrainingDiverged naming the epoch and step
and where the last good checkpoint is.
"""
import torch

from ..errors import TrainingDiverged


def check_loss(run, loss: torch.Tensor) -> None:
    if not bool(torch.isfinite(loss.detach())):
        raise TrainingDiverged(f"the loss became {loss.item()} at {_where(run, run.step + 1)}; "
                               f"{_last_good(run)}")


def check_state(run, state: dict) -> None:
    flags = [torch.isfinite(t).all() for t in _float_tensors(state)]
    if flags and not bool(torch.stack(flags).all()):
        raise TrainingDiverged(f"the weights or optimizer state became NaN or inf by {_where(run, run.step)}, "
                               f"so they were not saved; {_last_good(run)}")


def _float_tensors(tree):
    if isinstance(tree, torch.Tensor):
        if tree.is_floating_point() or tree.is_complex():
            yield tree
    elif isinstance(tree, dict):
        for v in tree.values():
            yield from _float_tensors(v)
    elif isinstance(tree, (list, tuple)):
        for v in tree:
            yield from _float_tensors(v)


def _where(run, step: int) -> str:
    return f"epoch {run.epoch + 1}, step {step}"


def _last_good(run) -> str:
    # resuming would restore the same lr (it is part of the optimizer state) and diverge again
    if run.saved_step is None:
        return "no checkpoint of this run was saved before it; lower --lr and start again"
    return (f"the last good checkpoint, {run.ckpt_path} (step {run.saved_step}), is kept; "
            f"lower --lr and start again with --overwrite")
