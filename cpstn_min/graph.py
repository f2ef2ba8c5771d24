"""Skeleton graphs and ST-GCN adjacency partitions.

`Graph(layout, strategy).A` is a float32 numpy array (K,V,V) with A[k,v,w] the
weight of joint v's message to joint w in partition k; columns are normalized
so each joint averages its neighbours (ST-GCN's normalized digraph).

Layouts (LAYOUTS: joints V, 0-based edges, centre joint): ntu-rgb+d (Kinect v2, 25),
openpose (18), coco17 (the 17 COCO keypoints most 2D pose estimators output) and
mediapipe33 (MediaPipe Pose landmarks). `parent_joints(layout)` gives each joint's
neighbour one hop closer to the centre (the bone stream's pairs); BODY_PARTS the parts
the "freeze" and "swap" pretext tasks act on, TORSO the trunk joints of the body frame
"swap" uses.
"""
import numpy as np

# NTU RGB+D (Kinect v2) 25 joints, 1-based bones; centre = spine shoulder (joint 21)
NTU_EDGES = [(1, 2), (2, 21), (3, 21), (4, 3), (5, 21), (6, 5), (7, 6), (8, 7), (9, 21),
             (10, 9), (11, 10), (12, 11), (13, 1), (14, 13), (15, 14), (16, 15), (17, 1),
             (18, 17), (19, 18), (20, 19), (22, 23), (23, 8), (24, 25), (25, 12)]
# OpenPose 18 keypoints, 0-based bones; centre = neck (1)
OPENPOSE_EDGES = [(4, 3), (3, 2), (7, 6), (6, 5), (13, 12), (12, 11), (10, 9), (9, 8),
                  (11, 5), (8, 2), (5, 1), (2, 1), (0, 1), (15, 0), (14, 0), (17, 15), (16, 14)]

# COCO 17 keypoints: 0 nose, 1/2 left/right eye, 3/4 ears, 5/6 shoulders, 7/8 elbows, 9/10 wrists,
# 11/12 hips, 13/14 knees, 15/16 ankles; COCO's own 19-link skeleton, 0-based; centre = nose (0),
# as COCO has no neck or pelvis joint
COCO17_EDGES = [(15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6), (5, 7),
                (6, 8), (7, 9), (8, 10), (1, 2), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 6)]
# MediaPipe Pose 33 landmarks: 0 nose, 1-6 eyes, 7/8 ears, 9/10 mouth, 11/12 shoulders, 13/14 elbows,
# 15/16 wrists, 17-22 pinky/index/thumb, 23/24 hips, 25/26 knees, 27/28 ankles, 29/30 heels,
# 31/32 foot tips. MediaPipe's connections leave the face (0-10) and the mouth (9-10) apart from
# the body; the links nose-mouth and nose-shoulders join them into one graph. Centre = nose (0).
MEDIAPIPE33_EDGES = [(0, 1), (1, 2), (2, 3), (3, 7), (0, 4), (4, 5), (5, 6), (6, 8), (9, 10),
                     (11, 12), (11, 13), (13, 15), (15, 17), (15, 19), (15, 21), (17, 19), (12, 14),
                     (14, 16), (16, 18), (16, 20), (16, 22), (18, 20), (11, 23), (12, 24), (23, 24),
                     (23, 25), (24, 26), (25, 27), (26, 28), (27, 29), (28, 30), (29, 31), (30, 32),
                     (27, 31), (28, 32),
                     (0, 9), (0, 10), (0, 11), (0, 12)]

LAYOUTS = {
    "ntu-rgb+d": (25, [(i - 1, j - 1) for i, j in NTU_EDGES], 21 - 1),
    "openpose": (18, OPENPOSE_EDGES, 1),
    "coco17": (17, COCO17_EDGES, 0),
    "mediapipe33": (33, MEDIAPIPE33_EDGES, 0),
}
STRATEGIES = ("uniform", "distance", "spatial")

# Body parts (name, 0-based joints, anchor joint) of each layout: the parts the "freeze" pretext
# task can hold still, each then moving rigidly with its anchor (where the limb meets the trunk),
# and the parts the "swap" task takes from another clip.
BODY_PARTS = {
    "ntu-rgb+d": (("left arm", (4, 5, 6, 7, 21, 22), 20), ("right arm", (8, 9, 10, 11, 23, 24), 20),
                  ("left leg", (12, 13, 14, 15), 0), ("right leg", (16, 17, 18, 19), 0),
                  ("head", (2, 3), 20)),
    "openpose": (("left arm", (5, 6, 7), 1), ("right arm", (2, 3, 4), 1),
                 ("left leg", (12, 13), 11), ("right leg", (9, 10), 8),
                 ("head", (0, 14, 15, 16, 17), 1)),
    # no trunk joint between the shoulders: each limb follows its shoulder or hip, the head the left shoulder
    "coco17": (("left arm", (7, 9), 5), ("right arm", (8, 10), 6),
               ("left leg", (13, 15), 11), ("right leg", (14, 16), 12),
               ("head", (0, 1, 2, 3, 4), 5)),
    "mediapipe33": (("left arm", (13, 15, 17, 19, 21), 11), ("right arm", (14, 16, 18, 20, 22), 12),
                    ("left leg", (25, 27, 29, 31), 23), ("right leg", (26, 28, 30, 32), 24),
                    ("head", tuple(range(11)), 11)),
}


# The trunk of each layout, from which the "swap" pretext task builds a body frame per frame:
# (joints averaged for the pelvis, joints averaged for the top of the spine, left shoulder,
# right shoulder), 0-based. Layouts without a pelvis or neck joint average the hips / shoulders.
TORSO = {
    "ntu-rgb+d": ((0,), (20,), 4, 8),
    "openpose": ((8, 11), (1,), 5, 2),
    "coco17": ((11, 12), (5, 6), 5, 6),
    "mediapipe33": ((23, 24), (11, 12), 11, 12),
}


def layout_of(num_joints: int) -> str:
    """The name of the layout with `num_joints` joints (every layout has its own count)."""
    for name, (v, _, _) in LAYOUTS.items():
        if v == num_joints:
            return name
    raise ValueError(f"no body parts are known for a skeleton of {num_joints} joints "
                     f"(known: {sorted(LAYOUTS[n][0] for n in BODY_PARTS)})")


def body_parts(num_joints: int):
    """BODY_PARTS of the layout with `num_joints` joints."""
    return BODY_PARTS[layout_of(num_joints)]


def parent_joints(layout: str) -> np.ndarray:
    """(V,) int64: each joint's neighbour one hop closer to the layout's centre (breadth-first
    from the centre, lowest index first among equals); the centre is its own parent. For
    ntu-rgb+d these are the (joint, parent) pairs of the NTU bone stream, e.g. 1 -> 2, 2 -> 21."""
    if layout not in LAYOUTS:
        raise ValueError(f"graph layout must be one of {sorted(LAYOUTS)}, got {layout!r}")
    num_nodes, edges, center = LAYOUTS[layout]
    neighbours = [[] for _ in range(num_nodes)]
    for i, j in edges:
        neighbours[i].append(j)
        neighbours[j].append(i)
    parent = np.full(num_nodes, -1, dtype=np.int64)
    parent[center], frontier = center, [center]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(neighbours[v]):
                if parent[w] < 0:
                    parent[w] = v
                    nxt.append(w)
        frontier = sorted(nxt)
    if (parent < 0).any():   # a layout's graph must be connected (every bone needs a parent)
        raise ValueError(f"layout {layout}: joints {np.flatnonzero(parent < 0).tolist()} are not "
                         f"connected to the centre")
    return parent


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
