import numpy as np
import pytest

from cpstn_min.graph import BODY_PARTS, LAYOUTS, Graph, NTU_EDGES, body_parts, hop_distance


@pytest.mark.parametrize("layout,V", [("ntu-rgb+d", 25), ("openpose", 18), ("coco17", 17), ("mediapipe33", 33)])
@pytest.mark.parametrize("strategy,K", [("uniform", 1), ("distance", 2), ("spatial", 3)])
def test_partitions_shape_and_normalization(layout, V, strategy, K):
    A = Graph(layout, strategy).A
    assert A.shape == (K, V, V) and A.dtype == np.float32
    # every joint averages its 1-hop neighbourhood: the partitions' columns sum to 1
    np.testing.assert_allclose(A.sum(axis=(0, 1)), np.ones(V), rtol=1e-6)


def test_spatial_partition_splits_the_uniform_graph():
    uni = Graph("ntu-rgb+d", "uniform").A[0]
    sp = Graph("ntu-rgb+d", "spatial").A
    np.testing.assert_allclose(sp.sum(axis=0), uni, rtol=1e-6)
    assert np.count_nonzero(sp[0]) == 25                       # root: self-loops only
    assert np.all(np.count_nonzero(sp, axis=(1, 2))[1:] > 0)   # both directed parts used


def test_spatial_partition_directions():
    sp = Graph("ntu-rgb+d", "spatial").A
    # spine shoulder (joint 21, index 20) is the centre; left shoulder (index 4) is one hop out.
    # message centre -> shoulder goes outward (partition 2), shoulder -> centre inward (partition 1)
    assert sp[2, 20, 4] > 0 and sp[1, 20, 4] == 0
    assert sp[1, 4, 20] > 0 and sp[2, 4, 20] == 0


def test_hop_distance_ntu():
    edges = [(i - 1, j - 1) for i, j in NTU_EDGES]
    d = hop_distance(25, edges, max_hop=30)
    assert d[0, 1] == 1 and d[7, 6] == 1 and d[3, 2] == 1
    assert d[3, 0] == 4          # head -> neck -> spine shoulder -> mid spine -> base
    assert np.isfinite(d).all()  # the skeleton is connected


def test_bad_layout_and_strategy():
    with pytest.raises(ValueError, match="layout"):
        Graph("kinect-v1")
    with pytest.raises(ValueError, match="strategy"):
        Graph("ntu-rgb+d", "random")


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_every_layout_is_connected_and_has_the_five_freeze_parts(layout):
    V, edges, centre = LAYOUTS[layout]
    assert np.isfinite(hop_distance(V, edges, max_hop=V)).all()
    parts = BODY_PARTS[layout]
    assert [name for name, _, _ in parts] == ["left arm", "right arm", "left leg", "right leg", "head"]
    joints = [j for _, js, _ in parts for j in js]
    assert len(joints) == len(set(joints)) and all(0 <= j < V for j in joints)   # disjoint, in range
    assert all(anchor not in js and 0 <= anchor < V for _, js, anchor in parts)
    assert body_parts(V) == parts
