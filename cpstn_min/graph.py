"""Skeleton graphs and ST-GCN adjacency partitions.

`Graph(layout, strategy).A` is a float32 numpy array (K,V,V) with A[k,v,w] the
weight of joint v's message to joint w in partition k; columns are normalized
so each joint averages its neighbours (ST-GCN's normalized digraph).
"""
import numpy as np

# NTU RGB+D (Kinect v2) 25 joints, 1-based bones; centre = spine shoulder (joint 21)
NTU_EDGES = [(1, 2), (2, 21), (3, 21), (4, 3), (5, 21), (6, 5), (7, 6), (8, 7), (9, 21),
             (10, 9), (11, 10), (12, 11), (13, 1), (14, 13), (15, 14), (16, 15), (17, 1),
             (18, 17), (19, 18), (20, 19), (22, 23), (23, 8), (24, 25), (25, 12)]
# OpenPose 18 keypoints, 0-based bones; centre = neck (1)
OPENPOSE_EDGES = [(4, 3), (3, 2), (7, 6), (6, 5), (13, 12), (12, 11), (10, 9), (9, 8),
                  (11, 5), (8, 2), (5, 1), (2, 1), (0, 1), (15, 0), (14, 0), (17, 15), (16, 14)]

LAYOUTS = {
    "ntu-rgb+d": (25, [(i - 1, j - 1) for i, j in NTU_EDGES], 21 - 1),
    "openpose": (18, OPENPOSE_EDGES, 1),
}
STRATEGIES = ("uniform", "distance", "spatial")

# Body parts (name, 0-based joints, anchor joint) of each layout: the parts the "freeze" pretext
# task can hold still, each then moving rigidly with its anchor (where the limb meets the trunk).
BODY_PARTS = {
    "ntu-rgb+d": (("left arm", (4, 5, 6, 7, 21, 22), 20), ("right arm", (8, 9, 10, 11, 23, 24), 20),
                  ("left leg", (12, 13, 14, 15), 0), ("right leg", (16, 17, 18, 19), 0),
                  ("head", (2, 3), 20)),
    "openpose": (("left arm", (5, 6, 7), 1), ("right arm", (2, 3, 4), 1),
                 ("left leg", (12, 13), 11), ("right leg", (9, 10), 8),
                 ("head", (0, 14, 15, 16, 17), 1)),
}


def body_parts(num_joints: int):
    """BODY_PARTS of the layout with `num_joints` joints (every layout has its own count)."""
    for name, (v, _, _) in LAYOUTS.items():
        if v == num_joints and name in BODY_PARTS:
            return BODY_PARTS[name]
    raise ValueError(f"no body parts are known for a skeleton of {num_joints} joints "
                     f"(known: {sorted(LAYOUTS[n][0] for n in BODY_PARTS)})")


def hop_distance(num_nodes: int, edges, max_hop: int) -> np.ndarray:
    """Shortest-path hop count between joints, inf beyond max_hop."""
    adj = np.eye(num_nodes, dtype=bool)
    for i, j in edges:
        adj[i, j] = adj[j, i] = True
    dist = np.full((num_nodes, num_nodes), np.inf)
    reach = np.eye(num_nodes, dtype=bool)
    dist[reach] = 0
    for d in range(1, max_hop + 1):
        reach = (reach.astype(np.int64) @ adj.astype(np.int64)) > 0
        dist[np.isinf(dist) & reach] = d
    return dist


def normalize_columns(a: np.ndarray) -> np.ndarray:
    """a @ diag(1/colsum): joint w receives the mean of its neighbours' messages."""
    deg = a.sum(axis=0)
    inv = np.where(deg > 0, 1.0 / np.where(deg > 0, deg, 1.0), 0.0)
    return a * inv[None, :]


class Graph:
    def __init__(self, layout: str = "ntu-rgb+d", strategy: str = "spatial", max_hop: int = 1):
        if layout not in LAYOUTS:
            raise ValueError(f"graph layout must be one of {sorted(LAYOUTS)}, got {layout!r}")
        if strategy not in STRATEGIES:
            raise ValueError(f"graph strategy must be one of {STRATEGIES}, got {strategy!r}")
        self.num_nodes, self.edges, self.center = LAYOUTS[layout]
        self.layout, self.strategy = layout, strategy
        self.hop = hop_distance(self.num_nodes, self.edges, max_hop)
        self.A = self._partition(strategy, max_hop).astype(np.float32)

    def _partition(self, strategy: str, max_hop: int) -> np.ndarray:
        hop = self.hop
        norm = normalize_columns((hop <= max_hop).astype(np.float64))
        if strategy == "uniform":
            return norm[None]
        if strategy == "distance":
            return np.stack([np.where(hop == d, norm, 0.0) for d in range(max_hop + 1)])
        # spatial: split each joint's neighbours by distance to the body centre:
        # same distance (root), closer to the centre (centripetal), farther (centrifugal)
        # entry [v, w] is v's message to w; compare v's and w's distances to the centre
        v_dist = hop[:, self.center][:, None]
        w_dist = hop[:, self.center][None, :]
        parts = []
        for d in range(max_hop + 1):
            at_d = hop == d
            if d == 0:
                parts.append(np.where(at_d, norm, 0.0))
                continue
            parts.append(np.where(at_d & (v_dist >= w_dist), norm, 0.0))  # same ring or from outside in
            parts.append(np.where(at_d & (v_dist < w_dist), norm, 0.0))   # from the centre outwards
        return np.stack(parts)
