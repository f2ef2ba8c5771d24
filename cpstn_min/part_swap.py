"""The "swap" pretext transform: one body part of each clip moves as the same part of another clip.

Shapes: view (N,C,T,V,M) with C = 3 (2D clips carry a zero z), part (N,) int64 in
0..len(BODY_PARTS) (0 = nothing swapped, k = the k-th part of graph.BODY_PARTS),
donor (N,) int64 indices into the batch.

The donor's part is carried over in the body's own frame, so the orientation of the
donor's camera and body never shows: for every frame, a body frame (lateral = left
minus right shoulder, up = pelvis to the top of the spine, forward = their cross
product) is built for each receiving body and its donor body (the donor's body with the
same index, or its first body when it has only one); the part's
joints relative to their anchor are read in the donor's frame, scaled by the ratio of
the two bodies' mean lengths of each bone (so a longer arm does not give the swap away,
and the donor's frame-to-frame length jitter stays), and chained down from the
receiver's anchor in the receiver's frame. What remains is the motion
itself: whether an arm, leg or the head moves in step with the rest of the body. That
takes knowing how actions coordinate the body, and cannot always be told (a still arm
swapped for another still arm), so the task is neither trivial nor fully solvable.
Absent bodies (all zero) are left as they are; lost frames (all zero) stay zero; a frame
the donor lost takes the donor's last present frame.
"""
import torch
import torch.nn.functional as F

from .graph import LAYOUTS, TORSO, body_parts, layout_of


def body_frames(x: torch.Tensor, torso) -> torch.Tensor:
    """x (...,V,3) joints -> (...,3,3) orthonormal body frames, columns lateral / up / forward
    (zero where the body is missing)."""
    lower, upper, left, right = torso
    up = F.normalize(x[..., list(upper), :].mean(-2) - x[..., list(lower), :].mean(-2), dim=-1, eps=1e-8)
    lateral = x[..., left, :] - x[..., right, :]
    lateral = F.normalize(lateral - (lateral * up).sum(-1, keepdim=True) * up, dim=-1, eps=1e-8)
    return torch.stack([lateral, up, torch.linalg.cross(lateral, up, dim=-1)], -1)


def hold_lost_frames(x: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
    """x (N,M,T,V,3), present (N,M,T) -> x with each lost frame replaced by the last present one
    (the first present one before it): a donor's lost frame must not collapse the receiver's part."""
    T = x.shape[2]
    t = torch.arange(T, device=x.device).expand_as(present)
    last = torch.where(present > 0, t, torch.zeros_like(t)).cummax(-1).values               # (N,M,T)
    first = (present > 0).to(torch.int64).argmax(-1, keepdim=True)                          # (N,M,1)
    idx = torch.where((present > 0).cumsum(-1) > 0, last, first)
    return torch.gather(x, 2, idx[..., None, None].expand_as(x))


def bone_lengths(x: torch.Tensor, joints, parents, present: torch.Tensor) -> torch.Tensor:
    """x (N,M,T,V,3) -> (N,M,J) mean length of the bones parents[i] -> joints[i], over present frames."""
    bones = (x[..., joints, :] - x[..., parents, :]).norm(dim=-1)                               # (N,M,T,J)
    return (bones * present[..., None]).sum(2) / present.sum(-1, keepdim=True).clamp(min=1)


def swap_parts(view: torch.Tensor, part: torch.Tensor, donor: torch.Tensor) -> torch.Tensor:
    """view with, for every sample n whose part[n] = k > 0, the k-th body part of each present
    body m moving as that part of body m of sample donor[n] (of its body 0 where it has no
    body m; module docstring)."""
    N, C, T, V, M = view.shape
    layout = layout_of(V)
    x = view.permute(0, 4, 2, 3, 1)                                          # (N,M,T,V,3)
    present = (x != 0).flatten(3).any(-1).to(x.dtype)                         # (N,M,T) frames with a body
    # body m takes the donor's body m, or its first body where the donor has no body m
    donor_has = present[donor].any(-1)[..., None, None, None]                # (N,M,1,1,1)
    src = torch.where(donor_has, x[donor], x[donor][:, :1])                  # (N,M,T,V,3)
    src_present = torch.where(donor_has[..., 0, 0], present[donor], present[donor][:, :1])
    src = hold_lost_frames(src, src_present)
    src_present = src_present.any(-1, keepdim=True).expand_as(src_present).to(x.dtype)   # none lost now
    frame_dst, frame_src = body_frames(x, TORSO[layout]), body_frames(src, TORSO[layout])   # (..,T,3,3)
    out = x.clone()
    write_body = present.any(-1)                                             # (N,M) bodies to write
    keep = present[..., None] > 0                                            # (N,M,T,1) lost frames stay zero
    for k, (_, joints, anchor) in enumerate(body_parts(V), start=1):
        rows = part == k
        if not rows.any():
            continue
        joints, parents = part_tree(layout, joints, anchor)                  # parents before children
        # the donor's bones in its body frame, each scaled to the receiver's mean length
        bones = (src[..., joints, :] - src[..., parents, :]) @ frame_src                  # (N,M,T,J,3)
        scale = bone_lengths(x, joints, parents, present) / \
            bone_lengths(src, joints, parents, src_present).clamp(min=1e-6)               # (N,M,J)
        bones = (scale[:, :, None, :, None] * bones) @ frame_dst.transpose(-1, -2)      # (N,M,T,J,3)
        placed = {anchor: x[..., anchor, :]}
        for i, (j, p) in enumerate(zip(joints, parents)):                    # down the tree from the anchor
            placed[j] = placed[p] + bones[..., i, :]
        moved = torch.stack([placed[j] for j in joints], -2)                 # (N,M,T,J,3)
        write = (rows[:, None] & write_body)[:, :, None, None, None] & keep[..., None]
        out[..., joints, :] = torch.where(write, moved, out[..., joints, :])
    return out.permute(0, 4, 2, 3, 1)


def part_tree(layout: str, joints, anchor: int):
    """The part's joints in breadth-first order from its anchor over the layout's bones between
    them, and each one's parent there (the anchor for a joint no bone of the part reaches)."""
    _, edges, _ = LAYOUTS[layout]
    inside = set(joints) | {anchor}
    parent, frontier = {anchor: anchor}, [anchor]
    while frontier:
        nxt = []
        for v in frontier:
            for i, j in sorted(edges):
                for a, b in ((i, j), (j, i)):
                    if a == v and b in inside and b not in parent:
                        parent[b] = v
                        nxt.append(b)
        frontier = nxt
    order = [j for j in parent if j != anchor] + sorted(j for j in joints if j not in parent)
    return order, [parent.get(j, anchor) for j in order]
