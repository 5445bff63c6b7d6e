"""Koch v1.1 follower and leader arms: Dynamixel X-series servos on Protocol 2.0, ids 1-6."""

from __future__ import annotations

from lerobot_core.motors.bus import DynamixelMotorsBus, Motor
from lerobot_core.motors.calibration import MotorNormMode, value_to_ticks
from lerobot_core.motors.tables import DynamixelOperatingMode
from lerobot_core.robots.robot import Follower, Leader, norm_modes
from lerobot_core.robots.so101_model import JOINT_NAMES

FOLLOWER_MODELS = ("xl430-w250", "xl430-w250", "xl330-m288", "xl330-m288", "xl330-m288", "xl330-m288")
LEADER_MODELS = ("xl330-m077",) * 6


def koch_motors(config, models) -> dict[str, Motor]:
    body, gripper = norm_modes(config)
    return {name: Motor(i, model, gripper if name == "gripper" else body)
            for i, (name, model) in enumerate(zip(JOINT_NAMES, models), 1)}  # fmt: skip


class _KochBus:
    position_mode = DynamixelOperatingMode.EXTENDED_POSITION

    def _make_bus(self, port, motors, calibration) -> DynamixelMotorsBus:
        return DynamixelMotorsBus(port, motors, calibration)


def _koch_modes(bus: DynamixelMotorsBus) -> None:
    # Extended position: no 0/4095 wrap when a joint passes the encoder seam. The gripper uses
    # current-based position control so it can grasp without overloading.
    for motor in bus.motors:
        if motor != "gripper":
            bus.write("Operating_Mode", motor, DynamixelOperatingMode.EXTENDED_POSITION, normalize=False)
    bus.write("Operating_Mode", "gripper", DynamixelOperatingMode.CURRENT_POSITION, normalize=False)


class KochFollower(_KochBus, Follower):
    name = "koch_follower"

    def __init__(self, config, sim=None) -> None:
        super().__init__(config, koch_motors(config, FOLLOWER_MODELS), sim=sim)

    def configure(self) -> None:
        bus = self.bus
        bus.disable_torque()
        _koch_modes(bus)
        # Stiffer elbow, as upstream: the default gains let it sag under the forearm's weight.
        bus.write("Position_P_Gain", "elbow_flex", 1500, normalize=False)
        bus.write("Position_I_Gain", "elbow_flex", 0, normalize=False)
        bus.write("Position_D_Gain", "elbow_flex", 600, normalize=False)
        bus.enable_torque()


class KochLeader(_KochBus, Leader):
    name = "koch_leader"

    def __init__(self, config) -> None:
        super().__init__(config, koch_motors(config, LEADER_MODELS))

    def configure(self) -> None:
        bus = self.bus
        bus.disable_torque()
        _koch_modes(bus)
        # The gripper acts as a spring-loaded trigger: torque on, held at the open position
        # (``gripper_open_pos`` is a percentage of the gripper's range, whatever the action units).
        bus.enable_torque("gripper")
        ticks = value_to_ticks(self.config.gripper_open_pos, bus.calibration["gripper"], MotorNormMode.RANGE_0_100)
        bus.write("Goal_Position", "gripper", round(ticks), normalize=False)
