"""Smooth hand-over between a leader and a follower before teleoperation starts (upstream's helpers).

An actuated leader is driven to the follower's pose (:func:`teleop_smooth_move_to`); otherwise the follower
is brought to the leader's pose (:func:`follower_smooth_move_to`), so neither arm jumps on the first frame.
Both block for ``duration_s``; ``sleep`` is injectable for tests and simulated clocks.
"""

from __future__ import annotations

import time
from collections.abc import Callable


def teleop_supports_feedback(teleop) -> bool:
    """An actuated leader: it has feedback features and can switch its torque."""
    return bool(getattr(teleop, "feedback_features", None)) and hasattr(teleop, "enable_torque") and hasattr(
        teleop, "disable_torque"
    )


def _interpolate(current: dict, target: dict, t: float) -> dict:
    return {k: current[k] * (1 - t) + target[k] * t if k in target else current[k] for k in current}


def teleop_smooth_move_to(
    teleop, target_pos: dict, duration_s: float = 2.0, fps: int = 30, sleep: Callable[[float], None] = time.sleep
) -> None:
    """Linearly move an actuated leader to ``target_pos`` (its action key space), torque on."""
    teleop.enable_torque()
    current = teleop.get_action()
    steps = max(int(duration_s * fps), 1)
    for step in range(steps + 1):
        teleop.send_feedback(_interpolate(current, target_pos, step / steps))
        sleep(1 / fps)


def follower_smooth_move_to(
    robot, current: dict, target: dict, duration_s: float = 1.0, fps: int = 30,
    sleep: Callable[[float], None] = time.sleep,
) -> None:  # fmt: skip
    """Linearly move the follower from ``current`` to ``target`` (robot action key space)."""
    steps = max(int(duration_s * fps), 1)
    for step in range(steps + 1):
        robot.send_action(_interpolate(current, target, step / steps))
        sleep(1 / fps)
