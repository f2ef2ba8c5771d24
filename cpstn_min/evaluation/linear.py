"""Linear probe: a linear classifier trained on frozen, cached pooled features.

The SkeletonCLR/AimCLR recipe: SGD lr 3.0, momentum 0.9, no weight decay,
100 epochs, lr x0.1 at epoch 80, no augmentation. Because the encoder is
frozen and there is no augmentation, every epoch sees the same features, so
they are computed once (features.py) and the probe itself takes seconds.
Inputs: features (N,D) float32, labels (N,) int64.

standardize=True (off by default, not part of the recipe) first maps every
feature dimension to zero mean and unit variance over the training set (a
fixed affine map, like a batch norm without affine parameters before the
classifier). Pooled ReLU features share a large positive offset, which makes
plain SGD at lr 3.0 ill-conditioned; the option shows how much of a gap
between encoders is the probe's optimisation rather than the features.
"""
import math
from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm import tqdm


def probe_failed(curves: dict, num_classes: int) -> bool:
    """True when the last epoch's training loss is not clearly below ln(num_classes) (within
    2% of it, or above): the bias alone reaches that by predicting the class frequencies, so
    such a probe either did not converge or found no linear signal at this lr."""
    return bool(curves["train_loss"]) and curves["train_loss"][-1] > 0.98 * math.log(num_classes)


@torch.no_grad()
def accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Top-1 accuracy in percent."""
    if labels.numel() == 0:
        return 0.0
    return 100.0 * (logits.argmax(1) == labels).float().mean().item()


def train_linear_probe(train_x, train_y, test_x, test_y, num_classes: int, epochs: int = 100,
                       lr: float = 3.0, momentum: float = 0.9, milestones: Sequence[int] = (80,),
                       batch_size: int = 128, seed: int = 0, progress: bool = True,
                       standardize: bool = False) -> dict:
    """-> {"classifier": nn.Linear, "test_logits": (N_test,C), "curves": per-epoch lists,
    "shift", "scale": what the features were standardized with (0 and 1 when not)}."""
    shift, scale = torch.zeros(train_x.shape[1]), torch.ones(train_x.shape[1])
    if standardize:
        shift, scale = train_x.mean(0), train_x.std(0).clamp(min=1e-6)
    train_x, test_x = (train_x - shift) / scale, (test_x - shift) / scale
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    classifier = nn.Linear(train_x.shape[1], num_classes)
    opt = torch.optim.SGD(classifier.parameters(), lr=lr, momentum=momentum, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=list(milestones), gamma=0.1)
    curves = {"epoch": [], "lr": [], "train_loss": [], "train_top1": [], "test_top1": []}
    bar = tqdm(range(1, epochs + 1), desc="linear probe", unit="epoch", disable=not progress, leave=False)
    for epoch in bar:
        order = torch.randperm(len(train_y), generator=gen)
        total_loss, correct = 0.0, 0
        for i in range(0, len(order), batch_size):
            idx = order[i:i + batch_size]
            logits = classifier(train_x[idx])
            loss = F.cross_entropy(logits, train_y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total_loss += loss.item() * len(idx)
            correct += (logits.argmax(1) == train_y[idx]).sum().item()
        curves["lr"].append(opt.param_groups[0]["lr"])
        sched.step()
        with torch.no_grad():
            test_top1 = accuracy(classifier(test_x), test_y)
        curves["epoch"].append(epoch)
        curves["train_loss"].append(total_loss / max(len(order), 1))
        curves["train_top1"].append(100.0 * correct / max(len(order), 1))
        curves["test_top1"].append(test_top1)
        bar.set_postfix(loss=f"{curves['train_loss'][-1]:.3f}", test_top1=f"{test_top1:.1f}")
    with torch.no_grad():
        test_logits = classifier(test_x)
    return {"classifier": classifier, "test_logits": test_logits, "curves": curves,
            "shift": shift, "scale": scale}
