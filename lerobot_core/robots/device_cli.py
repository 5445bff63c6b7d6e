"""Shared config of the hardware commands: which robot or teleoperator to act on (upstream's flags)."""

from __future__ import annotations

from dataclasses import dataclass

from lerobot_core.robots.config import RobotConfig, TeleoperatorConfig


@dataclass
class DeviceCommandConfig:
    """Exactly one of ``--robot.type=…`` or ``--teleop.type=…`` (with ``.port``, ``.id``)."""

    robot: RobotConfig | None = None
    teleop: TeleoperatorConfig | None = None

    def make(self):
        from lerobot_core.robots.factory import make_robot, make_teleoperator

        if (self.robot is None) == (self.teleop is None):
            raise ValueError("give exactly one of --robot.type=… or --teleop.type=… (e.g. --robot.type=so101_follower)")
        return make_robot(self.robot) if self.robot is not None else make_teleoperator(self.teleop)
