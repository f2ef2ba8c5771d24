"""ST-GCN encoder (the SkeletonCLR/AimCLR configuration).

Input (N,C,T,V,M) skeleton clips, output (N,feature_dim) features: blocks run on
(N*M,C,T,V), global average pooling over T and V, then the mean over bodies M.
The spatial unit of every block is `ops.graph_conv` (fused kernel when built).
`build_encoder(model_cfg)` makes the encoder a config.ModelConfig describes.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import ops
from .graph import Graph


class GraphConv(nn.Module):
    """y = sum_k (W_k x + b_k) A_k: weight (K,Cout,Cin), bias (K,Cout), A passed per call."""

    def __init__(self, in_channels: int, out_channels: int, num_partitions: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(num_partitions, out_channels, in_channels))
        self.bias = nn.Parameter(torch.empty(num_partitions, out_channels))
        # same init as the 1x1 conv to K*Cout channels it replaces
        nn.init.kaiming_uniform_(self.weight.view(-1, in_channels), a=math.sqrt(5))
        bound = 1 / math.sqrt(in_channels)
        nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: torch.Tensor, A: torch.Tensor) -> torch.Tensor:
        return ops.graph_conv(x, self.weight, self.bias, A)


class STGCNBlock(nn.Module):
    def __init__(self, in_channels, out_channels, A, stride=1, residual=True,
                 temporal_kernel=9, dropout=0.0):
        super().__init__()
        K = A.shape[0]
        self.gcn = GraphConv(in_channels, out_channels, K)
        self.edge_importance = nn.Parameter(torch.ones_like(A))  # learnable mask on A
        pad = (temporal_kernel - 1) // 2
        self.tcn = nn.Sequential(
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, (temporal_kernel, 1), (stride, 1), (pad, 0)),
            nn.BatchNorm2d(out_channels),
            nn.Dropout(dropout, inplace=True),
        )
        if not residual:
            self.residual = None
        elif in_channels == out_channels and stride == 1:
            self.residual = nn.Identity()
        else:
            self.residual = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, (stride, 1)), nn.BatchNorm2d(out_channels))

    def forward(self, x: torch.Tensor, A: torch.Tensor) -> torch.Tensor:  # (N,C,T,V)
        y = self.tcn(self.gcn(x, A * self.edge_importance))
        if self.residual is not None:
            y = y + self.residual(x)
        return F.relu(y, inplace=True)


STRIDES = (1, 1, 1, 1, 2, 1, 1, 2, 1, 1)      # temporal stride of each block (10 blocks)
INITS = ("uniform", "orthogonal")             # model.init


@torch.no_grad()
def orthogonalize_(weight: torch.Tensor, rows: int) -> None:
    """Replace a freshly drawn weight, seen as a (rows, rest) matrix, by an orthogonal one of the
    same Frobenius norm: only the directions of the filters change, not their scale (and so not
    the effective learning rate of the batch-normalised layer that reads them)."""
    matrix = weight.view(rows, -1)
    norm = matrix.norm()
    nn.init.orthogonal_(matrix)
    matrix.mul_(norm / matrix.norm())


class STGCNEncoder(nn.Module):
    """10 ST-GCN blocks: hidden h -> h,h,h,h,2h,2h,2h,4h,4h,feature_dim, temporal stride 2
    at blocks 5 and 8. (N,C,T,V,M) -> (N,feature_dim)."""

    def __init__(self, in_channels=3, hidden_channels=16, feature_dim=256, layout="ntu-rgb+d",
                 strategy="spatial", temporal_kernel=9, dropout=0.0, widths=None, strides=None,
                 init="uniform"):
        super().__init__()
        if init not in INITS:
            raise ValueError(f"init must be one of {INITS}, got {init!r}")
        graph = Graph(layout, strategy)
        self.register_buffer("A", torch.tensor(graph.A))
        K, V, _ = self.A.shape
        h = hidden_channels
        widths = widths or [h, h, h, h, 2 * h, 2 * h, 2 * h, 4 * h, 4 * h, feature_dim]
        strides = strides or list(STRIDES)
        if len(widths) != len(strides):
            raise ValueError("widths and strides must have the same length")
        self.widths, self.feature_dim = list(widths), widths[-1]
        self.data_bn = nn.BatchNorm1d(in_channels * V)
        blocks, c_in = [], in_channels
        for i, (c_out, s) in enumerate(zip(widths, strides)):
            blocks.append(STGCNBlock(c_in, c_out, self.A, s, residual=i > 0,
                                     temporal_kernel=temporal_kernel, dropout=dropout))
            c_in = c_out
        self.blocks = nn.ModuleList(blocks)
        if init == "orthogonal":
            for module in self.blocks.modules():
                if isinstance(module, GraphConv):       # (K,Cout,Cin): K*Cout filters over Cin
                    orthogonalize_(module.weight, module.weight.shape[0] * module.weight.shape[1])
                elif isinstance(module, nn.Conv2d):     # temporal and residual convs: Cout filters
                    orthogonalize_(module.weight, module.weight.shape[0])

    def forward_map(self, x: torch.Tensor, upto: int = 0) -> torch.Tensor:
        """(N,C,T,V,M) -> feature map (N*M, C', T', V) after block `upto` (1-based; 0: the last)."""
        N, C, T, V, M = x.shape
        x = x.permute(0, 4, 3, 1, 2).reshape(N * M, V * C, T)   # batch-norm per joint and coordinate
        x = self.data_bn(x)
        x = x.view(N, M, V, C, T).permute(0, 1, 3, 4, 2).reshape(N * M, C, T, V)
        for block in self.blocks[:upto or len(self.blocks)]:
            x = block(x, self.A)
        return x

    def continue_map(self, feature_map: torch.Tensor, after: int) -> torch.Tensor:
        """A feature map after block `after` (forward_map(x, upto=after); 0: the last, so nothing is
        left) -> the map after the last block: one pass can hand an intermediate map to a head and
        still give the features."""
        for block in self.blocks[after or len(self.blocks):]:
            feature_map = block(feature_map, self.A)
        return feature_map

    def forward(self, x: torch.Tensor, upto: int = 0) -> torch.Tensor:
        """(N,C,T,V,M) -> pooled features (N, widths[upto-1]) after block `upto` (0: the last)."""
        return pool_map(self.forward_map(x, upto), x.shape[0])


def pool_map(feature_map: torch.Tensor, N: int) -> torch.Tensor:
    """Feature map (N*M,C,T,V) -> (N,C): mean over time and joints, then over the M bodies."""
    return feature_map.mean(dim=(2, 3)).view(N, -1, feature_map.shape[1]).mean(dim=1)


def build_encoder(model_cfg) -> STGCNEncoder:
    """The encoder of a config.ModelConfig (freshly initialised)."""
    return STGCNEncoder(in_channels=model_cfg.in_channels, hidden_channels=model_cfg.hidden_channels,
                        feature_dim=model_cfg.feature_dim, layout=model_cfg.layout,
                        strategy=model_cfg.strategy, init=model_cfg.init)
