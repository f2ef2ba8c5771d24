"""Action classes of the synthetic dataset, built from motion primitives.

An action animates pose channels (body.POSE_CHANNELS, arrays (n,T)) of
one or two performers over the local action phase u (n,T): 0 before the action
starts, rising to 1 when it ends (frames after it keep u = 1). Poses are keyframed
on u with smooth easing; repetitive parts (waving, clapping, stepping) add
oscillations with a random number of cycles and phase. Classes that share a
primitive differ in limb, speed profile or order (punch vs point, sit down vs
stand up, touch head vs drink vs salute, handshake vs give object).
"""
from dataclasses import dataclass
from typing import Callable, Optional, Tuple

import numpy as np

D = np.pi / 180          # degrees -> radians


class Draw:
    """Per-sample random draws (n,1) for one class; amp = performer style amplitude.

    style (n,K) and strength: each performer's own way of doing the action. Draw number k of a
    clip moves from the clip's fresh value toward the performer's value for it, style[:, k % K]
    (a quantile of the same range), by `strength`: 0 = every clip draws afresh (no pull, the
    values exactly as without a style), 1 = the performer's value every time. The fresh value
    is drawn either way, so the random stream, and everything drawn after, does not depend on
    the strength."""

    def __init__(self, rng: np.random.Generator, amp: np.ndarray, separation: np.ndarray,
                 style: Optional[np.ndarray] = None, strength: float = 0.0):
        self.rng, self.amp, self.separation = rng, amp, separation
        self.n = amp.shape[0]
        self.style, self.strength, self.calls = style, float(strength), 0

    def _pull(self, fresh, lo, hi):
        """fresh (n,1) in [lo, hi) -> pulled toward the performer's quantile of [lo, hi)."""
        k, self.calls = self.calls, self.calls + 1
        if not self.strength:
            return fresh
        own = lo + (hi - lo) * self.style[:, k % self.style.shape[1], None]
        return (1.0 - self.strength) * fresh + self.strength * own

    def u(self, lo, hi):
        return self._pull(self.rng.uniform(lo, hi, (self.n, 1)), lo, hi)

    def deg(self, lo, hi):
        return D * self.u(lo, hi)

    def sign(self):
        return np.where(self._pull(self.rng.random((self.n, 1)), 0.0, 1.0) < 0.5, -1.0, 1.0)


def ease(x):
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def pulse(u, start, end, ramp):
    """0 -> 1 over [start, start+ramp], 1 until end-ramp, back to 0 at end."""
    return np.minimum(ease((u - start) / ramp), ease((end - u) / ramp))


def osc(u, cycles, phase):
    return np.sin(2 * np.pi * cycles * u + phase)


def keys(pose: dict, u, times, **channels):
    """Keyframes: channel=(v0, v1, ...) at u = times, eased in between; None = the
    channel's value before this call (rest pose and idle sway), "hold" = the previous value."""
    for name, values in channels.items():
        base, vals = pose[name], []
        for v in values:
            vals.append(base if v is None else vals[-1] if isinstance(v, str) else v)
        out = vals[0] + np.zeros_like(base)
        for t0, t1, v0, v1 in zip(times[:-1], times[1:], vals[:-1], vals[1:]):
            out = out + (v1 - v0) * ease((u - t0) / (t1 - t0))
        pose[name] = out


def hold(pose: dict, u, times, **targets):
    """Rest -> target at times[1], held until times[2], back to rest at times[3]."""
    keys(pose, u, times, **{k: (None, v, "hold", None) for k, v in targets.items()})


def both(values: dict) -> dict:
    """{'ua_el': v, ...} -> the same values for the left and the right limb."""
    return {p + k: v for k, v in values.items() for p in ("l", "r")}


def arm(s: str, ua_el, ua_az, fa_el, fa_az) -> dict:
    """Channel values of the left ('l') or right ('r') arm."""
    return {s + "ua_el": ua_el, s + "ua_az": ua_az, s + "fa_el": fa_el, s + "fa_az": fa_az}


# --- single-person actions: animate(a, b, u, d) with b None ---------------------------

def wave(s):
    def animate(a, b, u, d):
        hold(a, u, (0.0, 0.2, 0.8, 1.0),
             **arm(s, d.deg(70, 105), d.deg(50, 85), d.deg(150, 165), d.deg(60, 90)))
        a[s + "fa_el"] += pulse(u, 0.2, 0.8, 0.08) * d.amp * d.deg(18, 32) * osc(u, d.u(2, 5), d.u(0, 6.3))
    return animate


def punch(a, b, u, d):
    hold(a, u, (0.0, 0.15, 0.85, 1.0),    # guard
         **arm("r", d.deg(30, 45), d.deg(5, 25), d.deg(115, 135), d.deg(-10, 10)))
    count = d.rng.integers(1, 4, (d.n, 1))
    hit = np.zeros_like(u)
    for i in range(3):    # fast extension, slower retraction
        start = 0.2 + i * 0.55 / count
        hit += (i < count) * ease((u - start) / 0.05) * (1 - ease((u - start - 0.05) / 0.12))
    for name, target in arm("r", d.deg(80, 95), d.deg(-10, 5), d.deg(82, 95), d.deg(-10, 5)).items():
        a[name] += hit * (target - a[name])
    a["twist"] += hit * d.deg(10, 20)          # right shoulder forward


def point(a, b, u, d):
    hold(a, u, (0.05, 0.35, 0.7, 0.95),   # slow reach, long hold
         **arm("r", d.deg(80, 105), d.deg(-5, 30), d.deg(85, 110), d.deg(-5, 30)))


def throw(a, b, u, d):
    keys(a, u, (0.1, 0.4, 0.52, 0.62, 0.9),
         rua_el=(None, d.deg(140, 165), d.deg(70, 90), d.deg(40, 60), None),
         rua_az=(None, d.deg(95, 125), d.deg(-10, 10), d.deg(-20, 0), None),
         rfa_el=(None, d.deg(150, 175), d.deg(80, 100), d.deg(40, 60), None),
         rfa_az=(None, d.deg(100, 130), d.deg(-10, 10), d.deg(-30, -10), None),
         twist=(None, -d.deg(20, 35), d.deg(10, 25), d.deg(15, 30), None),
         bend=(None, -d.deg(0, 8), d.deg(10, 20), d.deg(15, 25), None),
         lua_el=(None, d.deg(30, 60), d.deg(20, 40), d.deg(10, 30), None),
         lua_az=(None, d.deg(0, 20), d.deg(0, 20), d.deg(0, 20), None))


def kick(a, b, u, d):
    keys(a, u, (0.15, 0.35, 0.45, 0.6, 0.85),     # wind up, fast kick, recoil
         rth_el=(None, d.deg(15, 30), d.deg(60, 85), d.deg(15, 30), None),
         rsh_el=(None, -d.deg(30, 50), d.deg(50, 80), -d.deg(20, 40), None),
         bend=(None, -d.deg(0, 5), -d.deg(5, 15), -d.deg(0, 5), None),
         **both({"ua_el": (None, d.deg(15, 30), d.deg(20, 40), d.deg(15, 30), None)}))


def hop(a, b, u, d):
    hold(a, u, (0.05, 0.2, 0.85, 1.0), rth_el=d.deg(30, 55), rsh_el=-d.deg(40, 70),
         **both({"ua_el": d.deg(20, 40)}))
    bounce = np.maximum(0.0, osc((u - 0.2) / 0.65, d.u(3, 6), 0.0))
    a["jump"] += pulse(u, 0.2, 0.85, 0.02) * d.amp * d.u(0.05, 0.12) * bounce


def squat(a, b, u, d):
    az = d.deg(0, 20)
    hold(a, u, (0.1, 0.35, 0.6, 0.85), bend=d.deg(20, 40), **both(dict(
        th_el=d.deg(75, 100), sh_el=-d.deg(10, 30),
        ua_el=d.deg(60, 90), ua_az=az, fa_el=d.deg(60, 95), fa_az=az)))


def jump(a, b, u, d):
    keys(a, u, (0.1, 0.3, 0.4, 0.55, 0.65, 0.85),
         bend=(None, d.deg(20, 35), d.deg(0, 5), d.deg(0, 5), d.deg(15, 30), None), **both({
             "th_el": (None, d.deg(40, 60), d.deg(0, 10), d.deg(0, 10), d.deg(35, 50), None),
             "sh_el": (None, -d.deg(30, 45), -d.deg(0, 10), -d.deg(5, 15), -d.deg(25, 40), None),
             "ua_el": (None, -d.deg(30, 50), d.deg(140, 170), d.deg(120, 160), d.deg(20, 40), None),
             "ua_az": (None, d.deg(0, 10), d.deg(10, 40), d.deg(10, 40), d.deg(10, 30), None),
             "fa_el": (None, -d.deg(20, 40), d.deg(140, 170), d.deg(120, 160), d.deg(30, 50), None)}))
    x = np.clip((u - 0.4) / 0.15, 0.0, 1.0)
    a["jump"] += d.amp * d.u(0.12, 0.3) * 4 * x * (1 - x)


def bow(a, b, u, d):
    depth = d.deg(35, 70)   # arms follow the trunk so they hang vertically
    hold(a, u, (0.15, 0.4, 0.6, 0.85), bend=depth, head=d.deg(10, 20), **both(dict(
        ua_el=depth - d.deg(0, 10), ua_az=d.deg(0, 20), fa_el=depth + d.deg(0, 15), fa_az=d.deg(0, 20))))


def pick_up(a, b, u, d):
    depth = d.deg(60, 85)
    keys(a, u, (0.1, 0.35, 0.5, 0.75, 1.0),
         bend=(None, depth, "hold", d.deg(5, 15), "hold"), head=(None, d.deg(10, 25), "hold", None, None),
         rua_el=(None, depth + d.deg(5, 20), "hold", d.deg(20, 35), "hold"),
         rua_az=(None, d.deg(0, 15), "hold", d.deg(0, 20), "hold"),
         rfa_el=(None, depth + d.deg(10, 25), "hold", d.deg(70, 90), "hold"),
         rfa_az=(None, d.deg(0, 15), "hold", d.deg(-20, 0), "hold"),
         lua_el=(None, 0.8 * depth, "hold", None, None), lfa_el=(None, depth, "hold", None, None),
         **both({"th_el": (None, d.deg(30, 50), "hold", None, None),
                 "sh_el": (None, -d.deg(20, 35), "hold", None, None)}))


def clap(a, b, u, d):
    hold(a, u, (0.0, 0.2, 0.8, 1.0), **both(dict(
        ua_el=d.deg(30, 50), ua_az=d.deg(5, 25), fa_el=d.deg(70, 95), fa_az=-d.deg(32, 42))))
    opening = pulse(u, 0.2, 0.8, 0.05) * d.amp * d.deg(25, 40) * (0.5 + 0.5 * osc(u, d.u(3, 7), d.u(0, 6.3)))
    a["lfa_az"] += opening
    a["rfa_az"] += opening


def raise_both_arms(a, b, u, d):
    hold(a, u, (0.1, 0.3, 0.75, 0.95), **both(dict(
        ua_el=d.deg(145, 175), ua_az=d.deg(20, 60), fa_el=d.deg(150, 180), fa_az=d.deg(20, 60))))
    shake = pulse(u, 0.3, 0.75, 0.05) * d.amp * d.deg(8, 15) * osc(u, d.u(2, 5), d.u(0, 6.3))
    a["lfa_el"] += shake
    a["rfa_el"] += shake


def touch_head(a, b, u, d):
    hold(a, u, (0.1, 0.3, 0.75, 0.95), head=d.deg(8, 20),
         **arm("r", d.deg(100, 120), d.deg(50, 70), d.deg(120, 140), -d.deg(80, 100)))
    a["rfa_el"] += pulse(u, 0.3, 0.75, 0.05) * d.amp * d.deg(3, 7) * osc(u, d.u(3, 6), d.u(0, 6.3))


def drink(a, b, u, d):
    hold(a, u, (0.1, 0.3, 0.7, 0.9),
         **arm("r", d.deg(35, 50), d.deg(-15, 15), d.deg(160, 175), -d.deg(10, 35)))
    hold(a, u, (0.3, 0.4, 0.6, 0.7), head=-d.deg(15, 30))     # head back while sipping


def salute(a, b, u, d):
    hold(a, u, (0.2, 0.3, 0.55, 0.65), head=-d.deg(0, 8),
         **arm("r", d.deg(75, 95), d.deg(60, 85), d.deg(115, 135), -d.deg(55, 75)))


def check_time(a, b, u, d):
    hold(a, u, (0.1, 0.35, 0.7, 0.9), head=d.deg(20, 35),
         **arm("l", d.deg(30, 50), d.deg(0, 25), d.deg(80, 100), -d.deg(55, 80)))


def _steps(a, u, cycles, lift, window):
    """Alternating knee lifts (left leads); returns the gait phase."""
    phase = 2 * np.pi * cycles * u
    for s, shift in (("l", 0.0), ("r", np.pi)):
        up = window * lift * np.maximum(0.0, np.sin(phase + shift))
        a[s + "th_el"] += up
        a[s + "sh_el"] -= 0.6 * up
    return phase


def turn_around(a, b, u, d):
    keys(a, u, (0.1, 0.9), yaw=(None, a["yaw"] + d.sign() * d.deg(150, 200)))
    _steps(a, u, d.u(2, 4), d.amp * d.deg(12, 25), pulse(u, 0.1, 0.9, 0.05))


def walk_in_place(a, b, u, d):
    window = pulse(u, 0.0, 1.0, 0.1)
    phase = _steps(a, u, d.u(2, 5), d.amp * d.deg(25, 45), window)
    swing = window * d.amp * d.deg(15, 30) * np.sin(phase)   # arms opposite to legs
    for s, sign in (("l", -1.0), ("r", 1.0)):
        for part in ("ua_az", "fa_az"):
            a[s + part] *= 1 - window
        a[s + "ua_el"] += sign * swing
        a[s + "fa_el"] += sign * swing


def _seated(d):
    return dict(bend=d.deg(0, 15), **both({
        "th_el": d.deg(80, 95), "sh_el": d.deg(-10, 10), "ua_el": d.deg(15, 35),
        "fa_el": d.deg(60, 85), "ua_az": d.deg(0, 15), "fa_az": d.deg(0, 15)}))


def _rising(d):
    return dict(bend=d.deg(30, 45), **both({
        "th_el": d.deg(45, 60), "sh_el": -d.deg(10, 25), "ua_el": d.deg(30, 60),
        "fa_el": d.deg(40, 80), "ua_az": d.deg(0, 20), "fa_az": d.deg(0, 20)}))


def sit_down(a, b, u, d):
    mid, end = _rising(d), _seated(d)
    keys(a, u, (0.2, 0.45, 0.7), **{k: (None, mid[k], end[k]) for k in end})


def stand_up(a, b, u, d):
    start, mid = _seated(d), _rising(d)
    keys(a, u, (0.3, 0.5, 0.8), **{k: (start[k], mid[k], None) for k in start})


# --- two-person actions: a acts, b responds (each in its own frame, facing the other) --

def _reach(d):
    return arm("r", d.deg(40, 65), -d.deg(0, 15), d.deg(70, 95), -d.deg(0, 20))


def handshake(a, b, u, d):
    shake = pulse(u, 0.3, 0.7, 0.04) * d.deg(8, 15) * osc(u, d.u(2, 4), d.u(0, 6.3))  # joined hands
    for p in (a, b):
        hold(p, u, (0.1, 0.3, 0.7, 0.9), fwd=d.u(0.05, 0.15), **_reach(d))
        p["rfa_el"] += shake


def push(a, b, u, d):
    keys(a, u, (0.1, 0.3, 0.4, 0.6, 0.85), bend=(None, d.deg(0, 5), d.deg(10, 20), d.deg(5, 10), None),
         fwd=(None, None, d.u(0.1, 0.2), "hold", "hold"), **both({
             "ua_el": (None, d.deg(40, 55), d.deg(75, 90), d.deg(70, 85), None),
             "ua_az": (None, d.deg(5, 20), d.deg(0, 15), d.deg(0, 15), None),
             "fa_el": (None, d.deg(100, 120), d.deg(80, 95), d.deg(75, 90), None),
             "fa_az": (None, d.deg(0, 10), d.deg(-5, 5), d.deg(-5, 5), None)}))
    back = d.u(0.3, 0.5)
    keys(b, u, (0.38, 0.5, 0.65, 0.9), fwd=(None, -0.6 * back, -back, "hold"),
         bend=(None, d.deg(10, 25), d.deg(0, 5), None),
         **both({"ua_el": (None, d.deg(25, 50), d.deg(10, 30), None),
                 "ua_az": (None, d.deg(40, 80), d.deg(40, 80), None)}))


def hug(a, b, u, d):
    for p, arm_el in ((a, (70, 95)), (b, (40, 60))):   # one over the shoulders, one around the waist
        approach = (d.separation - d.u(0.3, 0.4)) / 2
        hold(p, u, (0.05, 0.3, 0.75, 0.95), fwd=approach, bend=d.deg(5, 15), **both(dict(
            ua_el=d.deg(*arm_el), ua_az=d.deg(25, 45), fa_el=d.deg(80, 100), fa_az=-d.deg(60, 85))))


def give_object(a, b, u, d):
    hold(a, u, (0.1, 0.35, 0.6, 0.8), **_reach(d))
    reach, held = _reach(d), arm("r", d.deg(15, 30), d.deg(0, 10), d.deg(70, 90), d.deg(-10, 10))
    keys(b, u, (0.3, 0.5, 0.6, 0.8), **{k: (None, reach[k], "hold", held[k]) for k in reach})   # takes it


def kick_other(a, b, u, d):
    kick(a, None, u, d)
    keys(b, u, (0.35, 0.45, 0.6, 0.85), bend=(None, d.deg(15, 30), d.deg(5, 15), None),
         fwd=(None, -d.u(0.1, 0.2), -d.u(0.2, 0.3), "hold"))
    hold(b, u, (0.35, 0.45, 0.6, 0.85),
         **both(dict(ua_el=d.deg(20, 40), fa_el=d.deg(70, 100), fa_az=-d.deg(30, 50))))


@dataclass(frozen=True)
class Action:
    name: str
    frames: int                      # typical duration at 30 fps before speed variation
    animate: Callable
    separation: Optional[Tuple[float, float]] = None   # pelvis distance (m) of two-person actions

    @property
    def two_person(self) -> bool:
        return self.separation is not None


ACTIONS = (
    Action("wave right hand", 70, wave("r")), Action("wave left hand", 70, wave("l")),
    Action("punch (right)", 45, punch), Action("point forward (right)", 75, point),
    Action("throw (right)", 60, throw), Action("kick (right)", 50, kick),
    Action("hop on one foot", 90, hop), Action("squat", 80, squat), Action("jump up", 60, jump),
    Action("bow", 75, bow), Action("pick up", 90, pick_up), Action("clap", 70, clap),
    Action("raise both arms", 75, raise_both_arms), Action("touch head", 90, touch_head),
    Action("drink", 90, drink), Action("salute", 50, salute),
    Action("check time (left wrist)", 80, check_time),
    Action("turn around", 90, turn_around), Action("walk in place", 120, walk_in_place),
    Action("sit down", 90, sit_down), Action("stand up", 90, stand_up),
    Action("handshake", 90, handshake, (0.9, 1.1)), Action("push other person", 60, push, (0.7, 0.9)),
    Action("hug", 100, hug, (1.0, 1.2)), Action("give object", 100, give_object, (0.9, 1.1)),
    Action("kick other person", 60, kick_other, (0.9, 1.1)),
)
CLASS_NAMES = tuple(a.name for a in ACTIONS)
