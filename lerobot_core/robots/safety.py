"""The ``max_relative_target`` safety clip, as upstream LeRobot applies it inside ``send_action``."""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)


def ensure_safe_goal_position(
    goal_present: dict[str, tuple[float, float]], max_relative_target: float | dict[str, float]
) -> dict[str, float]:
    """Clip each ``goal`` to ``present ± max_relative_target`` (one cap for all joints, or one per joint).

    Joints missing from a per-joint dict are not clipped. Clipping is logged, never an error: one rogue
    joint is limited, the rest of the command goes through.
    """
    safe = {}
    for name, (goal, present) in goal_present.items():
        cap = max_relative_target.get(name) if isinstance(max_relative_target, dict) else max_relative_target
        if cap is None:
            safe[name] = float(goal)
            continue
        if cap < 0:
            raise ValueError(f"max_relative_target for {name!r} must be >= 0, got {cap}")
        clipped = min(present + cap, max(present - cap, goal))
        if clipped != goal:
            logger.warning("relative goal of %s clipped from %.4g to %.4g (present %.4g, max %.4g)",
                           name, goal, clipped, present, cap)  # fmt: skip
        safe[name] = float(clipped)
    return safe
