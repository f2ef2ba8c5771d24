"""Raw-joint baselines on the synthetic dataset: it is learnable, but not trivially.

Inputs are (data (N,3,T,V,M), valid_frames (N,), labels (N,)); clips are resampled to a
few frames, flattened and standardised, then classified by nearest class centroid and
by full-batch logistic regression. `python -m cpstn_min.data.synthetic` prints them.
"""
import numpy as np

from .generator import NUM_CLASSES


def resample(data: np.ndarray, valid_frames: np.ndarray, frames: int) -> np.ndarray:
    """(N,3,T,V,M) -> (N,3,frames,V,M): nearest frames spread over each clip's valid length."""
    t = np.rint(np.linspace(0.0, 1.0, frames)[None, :] * (valid_frames[:, None] - 1)).astype(np.int64)
    return np.moveaxis(data[np.arange(len(data))[:, None], :, t], 1, 2)


def raw_joint_baselines(train: tuple, val: tuple, frames: int = 16, epochs: int = 300) -> dict:
    """Accuracy of simple classifiers on raw joints resampled to `frames` frames:
    train/val = (data, valid_frames, labels). Shows the task is learnable but not trivial."""
    import torch
    x_tr, x_va = (resample(d, v, frames).reshape(len(d), -1) for d, v, _ in (train, val))
    mean, std = x_tr.mean(0), x_tr.std(0) + 1e-6
    x_tr, x_va = (x_tr - mean) / std, (x_va - mean) / std
    y_tr, y_va = train[2], val[2]
    centroids = np.stack([x_tr[y_tr == c].mean(0) for c in range(NUM_CLASSES)])
    nearest = ((x_va[:, None, :] - centroids[None]) ** 2).sum(-1).argmin(1)
    torch.manual_seed(0)
    X, Y = torch.from_numpy(x_tr).float(), torch.from_numpy(y_tr)
    linear = torch.nn.Linear(X.shape[1], NUM_CLASSES)
    opt = torch.optim.Adam(linear.parameters(), lr=1e-3, weight_decay=1e-3)
    for _ in range(epochs):      # full-batch logistic regression
        opt.zero_grad()
        torch.nn.functional.cross_entropy(linear(X), Y).backward()
        opt.step()
    with torch.no_grad():
        logistic = linear(torch.from_numpy(x_va).float()).argmax(1).numpy()
    return {"chance": 1.0 / NUM_CLASSES, "nearest centroid": float((nearest == y_va).mean()),
            "logistic regression": float((logistic == y_va).mean())}
