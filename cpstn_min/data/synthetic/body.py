"""Kinematic NTU RGB+D (Kinect v2) skeleton: bone lengths and forward kinematics.

A pose is a dict of channels, each an array (n,T): angles in radians, distances in
metres (names in POSE_CHANNELS). `forward_kinematics(pose, lengths)` turns it into
joint positions (n,T,25,3) in the performer's frame: x = the performer's left,
y = up, z = the direction the performer faced at rest, feet on the floor y = 0.
Joint order is FORMAT.txt's, 0-based here.

Limb directions are given as (elevation, azimuth) in the torso (arms) or pelvis
(legs) frame: elevation 0 = hanging down, 90 deg = horizontal, 180 deg = straight
up (beyond 180 tips over to the other side); azimuth 0 = forward, +90 deg = out to
that limb's side, negative = across the body. `rest_pose` gives a performer's
standing pose with idle sway; actions (motions.py) animate it, and camera.py films it.
"""
import numpy as np

from ..common import NUM_JOINTS

(BASE, MID_SPINE, NECK, HEAD, L_SHOULDER, L_ELBOW, L_WRIST, L_HAND, R_SHOULDER, R_ELBOW,
 R_WRIST, R_HAND, L_HIP, L_KNEE, L_ANKLE, L_FOOT, R_HIP, R_KNEE, R_ANKLE, R_FOOT,
 SPINE_SHOULDER, L_HAND_TIP, L_THUMB, R_HAND_TIP, R_THUMB) = range(NUM_JOINTS)

# (child, parent, median length m) from one real NTU sample (shared/ntu/README.md).
# Hand tip and thumb hang off the hand joint here; the README's 22-23 / 24-25 entries
# are tip-to-thumb distances, which the hand geometry below reproduces (~0.045 m).
MEDIAN_BONES = [
    (MID_SPINE, BASE, 0.271), (SPINE_SHOULDER, MID_SPINE, 0.202), (NECK, SPINE_SHOULDER, 0.067),
    (HEAD, NECK, 0.133), (L_SHOULDER, SPINE_SHOULDER, 0.155), (L_ELBOW, L_SHOULDER, 0.243),
    (L_WRIST, L_ELBOW, 0.233), (L_HAND, L_WRIST, 0.067), (R_SHOULDER, SPINE_SHOULDER, 0.129),
    (R_ELBOW, R_SHOULDER, 0.206), (R_WRIST, R_ELBOW, 0.185), (R_HAND, R_WRIST, 0.062),
    (L_HIP, BASE, 0.054), (L_KNEE, L_HIP, 0.335), (L_ANKLE, L_KNEE, 0.327), (L_FOOT, L_ANKLE, 0.120),
    (R_HIP, BASE, 0.079), (R_KNEE, R_HIP, 0.313), (R_ANKLE, R_KNEE, 0.343), (R_FOOT, R_ANKLE, 0.083),
    (L_HAND_TIP, L_HAND, 0.070), (L_THUMB, L_HAND, 0.042),
    (R_HAND_TIP, R_HAND, 0.070), (R_THUMB, R_HAND, 0.041),
]
# body parts whose lengths a performer scales together (left and right alike)
BONE_GROUPS = {
    "torso": (MID_SPINE, SPINE_SHOULDER, NECK, HEAD),
    "shoulders": (L_SHOULDER, R_SHOULDER),
    "upper_arms": (L_ELBOW, R_ELBOW), "forearms": (L_WRIST, R_WRIST),
    "hands": (L_HAND, R_HAND, L_HAND_TIP, L_THUMB, R_HAND_TIP, R_THUMB),
    "hips": (L_HIP, R_HIP), "thighs": (L_KNEE, R_KNEE), "shanks": (L_ANKLE, R_ANKLE),
    "feet": (L_FOOT, R_FOOT),
}
ANKLE_HEIGHT = 0.08      # ankle joint above the floor when standing (m)
THUMB_ANGLE = np.deg2rad(35.0)


POSE_CHANNELS = (
    "yaw", "twist", "bend", "lean", "head",             # whole body / trunk / head (rad)
    "jump", "fwd", "side",                              # root lift and displacement (m)
    "lua_el", "lua_az", "lfa_el", "lfa_az",             # left upper arm / forearm
    "rua_el", "rua_az", "rfa_el", "rfa_az",             # right upper arm / forearm
    "lth_el", "lth_ab", "lsh_el",                       # left thigh (elev, abduction), shank
    "rth_el", "rth_ab", "rsh_el",                       # right
)


def median_lengths() -> np.ndarray:
    """(25,) length of the bone ending at each joint (0 for the root)."""
    out = np.zeros(NUM_JOINTS)
    for child, _, length in MEDIAN_BONES:
        out[child] = length
    return out


def performer_lengths(rng: np.random.Generator, n: int) -> np.ndarray:
    """(n,25) bone lengths: overall size 0.88..1.12 x median, each body part +-4% more."""
    lengths = np.tile(median_lengths(), (n, 1)) * rng.uniform(0.88, 1.12, (n, 1))
    for joints in BONE_GROUPS.values():
        lengths[:, joints] *= np.clip(rng.normal(1.0, 0.04, (n, 1)), 0.9, 1.1)
    return lengths


def rest_pose(style: dict, seconds: np.ndarray, rng: np.random.Generator) -> dict:
    """Standing at rest with a slow idle sway and an idle arm habit. style: performer traits (n,1) radians
    ('arm_el', 'arm_az', 'elbow', 'stance', 'slouch', 'head'); seconds (1,T)."""
    n = style["arm_el"].shape[0]

    def sway(amplitude_deg):
        return np.deg2rad(amplitude_deg) * np.sin(2 * np.pi * rng.uniform(0.1, 0.4, (n, 1)) * seconds
                                                    + rng.uniform(0, 6.3, (n, 1)))
    zero = np.zeros((n, seconds.shape[1]))
    pose = dict(yaw=sway(2.0), twist=sway(2.0), bend=style["slouch"] + sway(1.5), lean=sway(1.5),
                head=style["head"] + sway(2.0), jump=zero, fwd=sway(2.0), side=sway(2.0))   # drift ~3.5 cm
    # idle arms: hanging, or (one habit per clip) hands on hips, arms crossed, hands
    # clasped in front, hands behind the back: (upper arm el, az, forearm el, az) degrees
    habits = np.array([[0, 0, 0, 0], [38, 100, 45, -100], [25, 20, 95, -78], [15, 10, 50, -50],
                       [-20, 5, 60, -150]], dtype=float)
    habit = rng.choice(len(habits), size=n, p=[0.4, 0.15, 0.15, 0.15, 0.15])
    angles = np.deg2rad(habits[habit] + rng.normal(0, 5, (n, 4)))[:, :, None]     # (n,4,1)
    hanging = (habit == 0)[:, None]
    for s in ("l", "r"):
        pose[s + "ua_el"] = np.where(hanging, style["arm_el"], angles[:, 0]) + sway(2.0)
        pose[s + "ua_az"] = np.where(hanging, style["arm_az"], angles[:, 1]) + zero
        pose[s + "fa_el"] = np.where(hanging, style["arm_el"] + style["elbow"], angles[:, 2]) + sway(2.0)
        pose[s + "fa_az"] = np.where(hanging, 0.5 * style["arm_az"], angles[:, 3]) + zero
        pose[s + "th_el"] = sway(1.0)
        pose[s + "th_ab"] = style["stance"] + zero
        pose[s + "sh_el"] = pose[s + "th_el"] - np.deg2rad(2.0)
    return pose


def rotation(angle: np.ndarray, axis: int) -> np.ndarray:
    """(...,3,3) rotation by angle about x (tips up toward forward), y (turns forward
    toward the left) or z (tips up toward the right)."""
    c, s = np.cos(angle), np.sin(angle)
    R = np.zeros(angle.shape + (3, 3))
    i, j = {0: (1, 2), 1: (2, 0), 2: (0, 1)}[axis]
    R[..., axis, axis] = 1.0
    R[..., i, i], R[..., i, j], R[..., j, i], R[..., j, j] = c, -s, s, c
    return R


def normalize(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)


def limb_direction(elevation: np.ndarray, azimuth: np.ndarray, side: float) -> np.ndarray:
    """(...,3) unit direction in the parent frame; side = +1 left limb, -1 right limb."""
    se = np.sin(elevation)
    return np.stack([side * se * np.sin(azimuth), -np.cos(elevation), se * np.cos(azimuth)], -1)


def _leg_direction(elevation, abduction, side):
    """Sagittal elevation (forward positive) tilted sideways by the abduction angle."""
    ca = np.cos(abduction)
    return np.stack([side * np.sin(abduction) * np.ones_like(elevation),
                     -np.cos(elevation) * ca, np.sin(elevation) * ca], -1)


def _arm(pose, L, side):
    """Shoulder, elbow, wrist, hand, hand tip, thumb (n,T,3) in the torso frame,
    relative to the spine-shoulder joint. L: bone lengths (n,1,25,1)."""
    p = "l" if side > 0 else "r"
    sh, el, wr, ha, tip, th = ((L_SHOULDER, L_ELBOW, L_WRIST, L_HAND, L_HAND_TIP, L_THUMB) if side > 0 else
                               (R_SHOULDER, R_ELBOW, R_WRIST, R_HAND, R_HAND_TIP, R_THUMB))
    upper = limb_direction(pose[p + "ua_el"], pose[p + "ua_az"], side)
    fore = limb_direction(pose[p + "fa_el"], pose[p + "fa_az"], side)
    shoulder = np.broadcast_to(L[:, :, sh] * normalize(np.array([side, -0.25, 0.0])), upper.shape)
    elbow = shoulder + L[:, :, el] * upper
    wrist = elbow + L[:, :, wr] * fore
    hand = wrist + L[:, :, ha] * fore
    # thumb: off the hand direction toward the palm side (forward when the arm hangs)
    thumb = np.cos(THUMB_ANGLE) * fore + np.sin(THUMB_ANGLE) * normalize(np.cross(fore, [1.0, 0.0, 0.4]))
    return (sh, el, wr, ha, tip, th), (shoulder, elbow, wrist, hand, hand + L[:, :, tip] * fore,
                                       hand + L[:, :, th] * thumb)


def _leg(pose, L, side):
    """Hip, knee, ankle, foot (n,T,3) in the pelvis frame, relative to the base of the spine."""
    p = "l" if side > 0 else "r"
    hip, knee, ankle, foot = ((L_HIP, L_KNEE, L_ANKLE, L_FOOT) if side > 0 else
                              (R_HIP, R_KNEE, R_ANKLE, R_FOOT))
    thigh = _leg_direction(pose[p + "th_el"], pose[p + "th_ab"], side)
    shank = _leg_direction(pose[p + "sh_el"], pose[p + "th_ab"], side)
    # toes point down-forward, straighter when the shank swings forward (kicks)
    toe = 0.3 * (1.0 - np.clip(pose[p + "sh_el"], 0.0, np.pi / 2) / (np.pi / 2))
    toe_dir = np.stack([np.zeros_like(toe), -np.sin(toe), np.cos(toe)], -1)
    hip_pos = np.broadcast_to(L[:, :, hip] * normalize(np.array([side * 0.8, -0.6, 0.0])), thigh.shape)
    knee_pos = hip_pos + L[:, :, knee] * thigh
    ankle_pos = knee_pos + L[:, :, ankle] * shank
    return (hip, knee, ankle, foot), (hip_pos, knee_pos, ankle_pos, ankle_pos + L[:, :, foot] * toe_dir)


def _rotate(R: np.ndarray, points: list) -> np.ndarray:
    """R (n,T,3,3) applied to a list of (n,T,3) points -> (n,T,len,3)."""
    return np.swapaxes(R @ np.stack(points, -1), -1, -2)


def forward_kinematics(pose: dict, lengths: np.ndarray) -> np.ndarray:
    """pose: POSE_CHANNELS -> (n,T); lengths (n,25). Returns joints (n,T,25,3)."""
    n, T = pose["yaw"].shape
    J = np.zeros((n, T, NUM_JOINTS, 3))
    L = lengths[:, None, :, None]                                   # (n,1,25,1)
    R_body = rotation(pose["yaw"], 1)
    # the spine bends gradually: half the trunk rotation at the mid-spine
    R_half, R_torso = (rotation(pose["yaw"] + f * pose["twist"], 1) @ rotation(f * pose["bend"], 0)
                       @ rotation(f * pose["lean"], 2) for f in (0.5, 1.0))
    J[:, :, MID_SPINE] = L[:, :, MID_SPINE] * R_half[..., 1]         # column 1 = rotated "up"
    J[:, :, SPINE_SHOULDER] = J[:, :, MID_SPINE] + L[:, :, SPINE_SHOULDER] * R_torso[..., 1]
    # joints carried by the trunk, in its frame relative to the spine-shoulder joint
    neck = np.broadcast_to(L[:, :, NECK] * np.array([0.0, 1.0, 0.0]), (n, T, 3))
    head = neck + L[:, :, HEAD] * np.stack([np.zeros_like(pose["head"]), np.cos(pose["head"]),
                                            np.sin(pose["head"])], -1)
    ids, points = [NECK, HEAD], [neck, head]
    for side in (1.0, -1.0):
        i, p = _arm(pose, L, side)
        ids += i
        points += p
    J[:, :, ids] = J[:, :, SPINE_SHOULDER, None] + _rotate(R_torso, points)
    (left_ids, left), (right_ids, right) = _leg(pose, L, 1.0), _leg(pose, L, -1.0)
    # feet stay put: the pelvis moves over the supporting (lower) ankle, or between both
    left_lower = 1.0 / (1.0 + np.exp((left[2][..., 1:2] - right[2][..., 1:2]) / 0.02))
    support = left_lower * left[2] + (1.0 - left_lower) * right[2]
    support[..., 1] = 0.0
    J[:, :, left_ids + right_ids] = _rotate(R_body, left + right)
    J -= _rotate(R_body, [support])
    # the lower ankle rests on the floor unless the body is in the air
    ankle_y = np.minimum(J[:, :, L_ANKLE, 1], J[:, :, R_ANKLE, 1])
    lift = ANKLE_HEIGHT * lengths[:, None, L_ANKLE] / median_lengths()[L_ANKLE] - ankle_y + pose["jump"]
    J += np.stack([pose["side"], lift, pose["fwd"]], -1)[:, :, None, :]
    return J
