"""``make_robot`` / ``make_teleoperator`` from a config (upstream's factory names)."""

from __future__ import annotations

from lerobot_core.robots.config import RobotConfig, TeleoperatorConfig


def make_robot(config: RobotConfig, sim=None):
    from lerobot_core.robots.koch import KochFollower
    from lerobot_core.robots.so_arm import SOFollower

    kind = config.type
    if kind in ("so100_follower", "so101_follower"):
        return SOFollower(config, sim=sim)
    if kind == "koch_follower":
        return KochFollower(config, sim=sim)
    raise ValueError(f"unknown robot type {kind!r}; known: so100_follower, so101_follower, koch_follower")


def make_teleoperator(config: TeleoperatorConfig):
    from lerobot_core.robots.koch import KochLeader
    from lerobot_core.robots.so_arm import SOLeader

    kind = config.type
    if kind in ("so100_leader", "so101_leader"):
        return SOLeader(config)
    if kind == "koch_leader":
        return KochLeader(config)
    raise ValueError(f"unknown teleoperator type {kind!r}; known: so100_leader, so101_leader, koch_leader")
