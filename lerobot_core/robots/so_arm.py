"""SO-100 / SO-101 follower and leader arms: six Feetech STS3215 servos, ids 1-6."""

from __future__ import annotations

from lerobot_core.motors.bus import FeetechMotorsBus, Motor
from lerobot_core.motors.tables import FeetechOperatingMode
from lerobot_core.robots.robot import Follower, Leader, norm_modes
from lerobot_core.robots.so101_model import JOINT_NAMES


def so_motors(config) -> dict[str, Motor]:
    body, gripper = norm_modes(config)
    return {name: Motor(i, "sts3215", gripper if name == "gripper" else body) for i, name in enumerate(JOINT_NAMES, 1)}


class _SOBus:
    position_mode = FeetechOperatingMode.POSITION

    def _make_bus(self, port, motors, calibration) -> FeetechMotorsBus:
        return FeetechMotorsBus(port, motors, calibration)


class SOFollower(_SOBus, Follower):
    name = "so101_follower"

    def __init__(self, config, sim=None) -> None:
        self.name = config.type
        super().__init__(config, so_motors(config), sim=sim)

    def configure(self) -> None:
        """Position mode, upstream's PID and acceleration settings, a gentler gripper; torque on."""
        bus = self.bus
        bus.disable_torque()
        for motor in bus.motors:
            bus.write("Return_Delay_Time", motor, 0, normalize=False)
            bus.write("Maximum_Acceleration", motor, 254, normalize=False)
            bus.write("Acceleration", motor, 254, normalize=False)
            bus.write("Operating_Mode", motor, FeetechOperatingMode.POSITION, normalize=False)
            bus.write("P_Coefficient", motor, 16, normalize=False)  # lower than the default 32: less shaking
            bus.write("I_Coefficient", motor, 0, normalize=False)
            bus.write("D_Coefficient", motor, 32, normalize=False)
        bus.write("Max_Torque_Limit", "gripper", 500, normalize=False)  # 50 % of max torque
        bus.write("Protection_Current", "gripper", 250, normalize=False)
        bus.write("Overload_Torque", "gripper", 25, normalize=False)
        bus.enable_torque()


class SOLeader(_SOBus, Leader):
    name = "so101_leader"

    def __init__(self, config) -> None:
        self.name = config.type
        super().__init__(config, so_motors(config))

    def configure(self) -> None:
        self.bus.disable_torque()
        self.bus.set_operating_mode(FeetechOperatingMode.POSITION)
