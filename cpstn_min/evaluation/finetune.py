"""End-to-end finetuning of encoder + linear classifier (the semi and finetune protocols).

The encoder starts from the pretrained (or random) weights and trains together
with a new linear classifier on the labelled clips (all of them for `finetune`,
a class-balanced subset for `semi`). Inputs are whole clips resized to T_out
frames (augment.resize), (B,3,T_out,V,M); no augmentation, as in the linear
probe. State is saved atomically after every epoch so an interrupted run resumes.
"""
import os
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, Subset
from tqdm import tqdm

from .. import checkpoint
from .features import extract_features
from .linear import accuracy


class Classifier(nn.Module):
    """(B,3,T,V,M) -> (B,num_classes): encoder, then a linear layer on its pooled features."""

    def __init__(self, encoder: nn.Module, num_classes: int):
        super().__init__()
        self.encoder = encoder
        self.fc = nn.Linear(encoder.feature_dim, num_classes)

    def forward(self, x):
        return self.fc(self.encoder(x))


def finetune(encoder, train_set, test_set, num_classes: int, train_indices, ecfg, T_out: int,
             state_path: Optional[str] = None, resume: bool = False, progress: bool = True,
             log=print) -> dict:
    """-> {"test_logits": (N_test,C), "test_labels": (N_test,), "curves": per-epoch lists}.
    ecfg: config.EvalConfig."""
    from ..augment import resize
    device = torch.device(ecfg.device)
    torch.manual_seed(ecfg.seed)
    model = Classifier(encoder, num_classes).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=ecfg.finetune_lr, momentum=ecfg.finetune_momentum,
                          weight_decay=ecfg.finetune_weight_decay)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, list(ecfg.finetune_milestones), gamma=0.1)
    gen = torch.Generator().manual_seed(ecfg.seed)
    curves = {"epoch": [], "lr": [], "train_loss": [], "train_top1": [], "test_epoch": [], "test_top1": []}
    start = 1
    if resume and state_path and os.path.isfile(state_path):
        state = checkpoint.load(state_path, map_location=device)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        gen.set_state(state["generator"])
        curves, start = state["curves"], state["epoch"] + 1
        log(f"finetune: resumed from {state_path} after epoch {state['epoch']}")

    loader = DataLoader(Subset(train_set, [int(i) for i in train_indices]), batch_size=ecfg.finetune_batch_size,
                        shuffle=True, generator=gen, num_workers=0)
    epochs = ecfg.finetune_epochs
    bar = tqdm(range(start, epochs + 1), desc="finetune", unit="epoch", disable=not progress, leave=False)
    for epoch in bar:
        model.train()
        total_loss, correct, seen = 0.0, 0, 0
        for clip, valid, label, _ in loader:
            x = resize(clip.to(device), valid.to(device), T_out)   # (B,3,T_out,V,M)
            label = label.to(device)
            logits = model(x)
            loss = F.cross_entropy(logits, label)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total_loss += loss.item() * len(label)
            correct += (logits.argmax(1) == label).sum().item()
            seen += len(label)
        curves["epoch"].append(epoch)
        curves["lr"].append(opt.param_groups[0]["lr"])
        curves["train_loss"].append(total_loss / max(seen, 1))
        curves["train_top1"].append(100.0 * correct / max(seen, 1))
        sched.step()
        if epoch % ecfg.finetune_eval_every == 0 and epoch != epochs:   # the last epoch is evaluated below
            logits, labels = extract_features(model, test_set, T_out, ecfg.batch_size, device, desc="test",
                                              progress=progress)
            curves["test_epoch"].append(epoch)
            curves["test_top1"].append(accuracy(logits, labels))
        bar.set_postfix(loss=f"{curves['train_loss'][-1]:.3f}")
        if state_path:
            checkpoint.save({"model": model.state_dict(), "optimizer": opt.state_dict(),
                             "scheduler": sched.state_dict(), "generator": gen.get_state(),
                             "curves": curves, "epoch": epoch}, state_path)

    logits, labels = extract_features(model, test_set, T_out, ecfg.batch_size, device, desc="test",
                                      progress=progress)
    if not curves["test_epoch"] or curves["test_epoch"][-1] != epochs:
        curves["test_epoch"].append(epochs)
        curves["test_top1"].append(accuracy(logits, labels))
    return {"test_logits": logits, "test_labels": labels, "curves": curves}
