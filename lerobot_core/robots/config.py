"""Robot and teleoperator configs (draccus choice types, upstream names: ``--robot.type=so101_follower``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import draccus

from lerobot_core.cameras.configs import CameraConfig

UNITS = ("upstream", "radians")


@dataclass
class _DeviceConfig:
    """``id`` names the calibration file; ``units``: ``upstream`` (normalized/degrees) or ``radians`` (ROS)."""

    id: str | None = None
    calibration_dir: Path | None = None

    @property
    def type(self) -> str:
        return self.get_choice_name(self.__class__)

    def __post_init__(self) -> None:
        units = getattr(self, "units", "upstream")
        if units not in UNITS:
            raise ValueError(f"{self.type}.units must be one of {UNITS}, got {units!r}")


@dataclass
class RobotConfig(_DeviceConfig, draccus.ChoiceRegistry):
    pass


@dataclass
class TeleoperatorConfig(_DeviceConfig, draccus.ChoiceRegistry):
    pass


@dataclass
class _ArmConfig:
    port: str = "/dev/ttyACM0"
    disable_torque_on_disconnect: bool = True
    # Largest change per command relative to the present position, in action units (one cap, or per motor).
    max_relative_target: float | dict[str, float] | None = None
    use_degrees: bool = False
    units: str = "upstream"
    cameras: dict[str, CameraConfig] = field(default_factory=dict)


@RobotConfig.register_subclass("so101_follower")
@dataclass
class SO101FollowerConfig(RobotConfig, _ArmConfig):
    pass


@RobotConfig.register_subclass("so100_follower")
@dataclass
class SO100FollowerConfig(RobotConfig, _ArmConfig):
    pass


@RobotConfig.register_subclass("koch_follower")
@dataclass
class KochFollowerConfig(RobotConfig, _ArmConfig):
    pass


@dataclass
class _LeaderConfig:
    port: str = "/dev/ttyACM1"
    use_degrees: bool = False
    units: str = "upstream"


@TeleoperatorConfig.register_subclass("so101_leader")
@dataclass
class SO101LeaderConfig(TeleoperatorConfig, _LeaderConfig):
    pass


@TeleoperatorConfig.register_subclass("so100_leader")
@dataclass
class SO100LeaderConfig(TeleoperatorConfig, _LeaderConfig):
    pass


@TeleoperatorConfig.register_subclass("koch_leader")
@dataclass
class KochLeaderConfig(TeleoperatorConfig, _LeaderConfig):
    gripper_open_pos: float = 50.0  # the gripper trigger's spring position, percent of the gripper's range
