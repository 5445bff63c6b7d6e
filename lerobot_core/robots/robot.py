"""Base class of the arms: a motor bus, its calibration file, optional cameras, upstream's method names.

``get_observation()`` -> ``{"<motor>.pos": value, ..., "<camera>": HxWx3 uint8}``;
``send_action({"<motor>.pos": value})`` -> the action actually sent (after the safety clip).
Values are in the config's ``units``: ``upstream`` (``range_m100_100``/``degrees``, gripper ``range_0_100``)
or ``radians`` (ROS, REP-103).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from lerobot_core.cameras import make_camera
from lerobot_core.motors.bus import Motor, MotorsBus
from lerobot_core.motors.calibration import (
    MotorCalibration,
    MotorNormMode,
    calibration_path,
    load_calibration,
    save_calibration,
)
from lerobot_core.robots.calibrate import calibrate_bus
from lerobot_core.robots.config import RobotConfig, TeleoperatorConfig
from lerobot_core.robots.safety import ensure_safe_goal_position

logger = logging.getLogger(__name__)


def norm_modes(config, gripper: str = "gripper") -> tuple[MotorNormMode, MotorNormMode]:
    """(body, gripper) modes for a config's ``units`` / ``use_degrees``."""
    if config.units == "radians":
        return MotorNormMode.RADIANS, MotorNormMode.RADIANS
    body = MotorNormMode.DEGREES if config.use_degrees else MotorNormMode.RANGE_M100_100
    return body, MotorNormMode.RANGE_0_100


class Arm:
    """Shared by followers and leaders."""

    name = ""
    kind = "robots"  # calibration sub-directory: robots | teleoperators
    full_turn_motors: tuple[str, ...] = ()

    def __init__(self, config: RobotConfig | TeleoperatorConfig, motors: dict[str, Motor]) -> None:
        self.config = config
        self.id = config.id or "default"
        self.calibration_fpath = calibration_path(self.kind, self.name, self.id, config.calibration_dir)
        self.calibration: dict[str, MotorCalibration] = {}
        if self.calibration_fpath.is_file():
            self.calibration = load_calibration(self.calibration_fpath)
            unknown = set(self.calibration) - set(motors)
            if unknown:
                raise ValueError(f"{self.calibration_fpath}: motors {sorted(unknown)} are not motors of a {self.name}")
        self.bus = self._make_bus(config.port, motors, self.calibration)

    def _make_bus(self, port: str, motors: dict[str, Motor], calibration) -> MotorsBus:  # pragma: no cover
        raise NotImplementedError

    @property
    def motor_names(self) -> list[str]:
        return list(self.bus.motors)

    @property
    def is_connected(self) -> bool:
        return self.bus.is_connected

    @property
    def is_calibrated(self) -> bool:
        return self.bus.is_calibrated()

    def connect(self, calibrate: bool = True, prompt: Callable[[str], str] | None = None) -> None:
        self.bus.connect()
        if not self.bus.calibration and not calibrate:
            raise RuntimeError(f"{self.name} {self.id!r} has no calibration at {self.calibration_fpath}; "
                               "connect with calibrate=True")  # fmt: skip
        if not self.is_calibrated:
            if calibrate:
                self.calibrate(prompt=prompt)
            else:
                logger.warning("%s %r: the motors hold a different calibration than %s; positions may be off "
                               "(connect with calibrate=True to fix)", self.name, self.id, self.calibration_fpath)  # fmt: skip
        self.configure()

    def calibrate(self, prompt: Callable[[str], str] | None = None, stop=None) -> dict[str, MotorCalibration]:
        """Reuse the calibration file (ENTER) or run the interactive flow ('c'); save it upstream-style."""
        prompt = prompt or input
        if self.calibration:
            answer = prompt(f"Press ENTER to use the calibration file of {self.name} id {self.id!r}, "
                            "or type 'c' and press ENTER to run calibration: ")  # fmt: skip
            if (answer or "").strip().lower() != "c":
                self.bus.disable_torque()
                self.bus.write_calibration(self.calibration)
                return self.calibration
        self.calibration = calibrate_bus(
            self.bus,
            position_mode=self.position_mode,
            prompt=prompt,
            stop=stop,
            full_turn_motors=self.full_turn_motors,
        )
        save_calibration(self.calibration_fpath, self.calibration)
        logger.info("calibration saved to %s", self.calibration_fpath)
        return self.calibration

    position_mode = 0

    def setup_motors(self, prompt: Callable[[str], str] | None = None) -> None:
        """Give each motor its id and the bus baud rate, one motor connected at a time (last motor first)."""
        prompt = prompt or input
        if not self.bus.is_connected:
            self.bus.connect(handshake=False)
        for motor in reversed(self.motor_names):
            prompt(f"Connect the controller board to the '{motor}' motor only and press enter.")
            self.bus.setup_motor(motor)
            print(f"'{motor}' motor id set to {self.bus.motors[motor].id}")

    def configure(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def disconnect(self) -> None:
        self.bus.disconnect(disable_torque=getattr(self.config, "disable_torque_on_disconnect", True))

    def read_positions(self) -> dict[str, float]:
        return {f"{m}.pos": v for m, v in self.bus.sync_read("Present_Position").items()}


class Follower(Arm):
    """A follower arm (a ``Robot`` upstream): observations out, actions in."""

    kind = "robots"

    def __init__(self, config: RobotConfig, motors: dict[str, Motor], sim=None) -> None:
        super().__init__(config, motors)
        self.cameras = {name: make_camera(cfg, name, sim=sim) for name, cfg in config.cameras.items()}

    @property
    def observation_features(self) -> dict:
        feats: dict = {f"{m}.pos": float for m in self.motor_names}
        for name, cam in self.cameras.items():
            feats[name] = (cam.config.height, cam.config.width, 3)
        return feats

    @property
    def action_features(self) -> dict:
        return {f"{m}.pos": float for m in self.motor_names}

    def connect(self, calibrate: bool = True, prompt: Callable[[str], str] | None = None) -> None:
        super().connect(calibrate, prompt)
        for cam in self.cameras.values():
            cam.connect()

    def get_observation(self) -> dict:
        obs: dict = self.read_positions()
        for name, cam in self.cameras.items():
            obs[name] = cam.async_read()
        return obs

    def send_action(self, action: dict[str, float]) -> dict[str, float]:
        """Command goal positions; ``max_relative_target`` clips each relative to the present position."""
        goal = {k.removesuffix(".pos"): float(v) for k, v in action.items() if k.endswith(".pos")}
        unknown = set(goal) - set(self.motor_names)
        if unknown:
            raise KeyError(f"unknown joints {sorted(unknown)} in action; expected {self.action_features.keys()}")
        if self.config.max_relative_target is not None:
            present = self.bus.sync_read("Present_Position", list(goal))
            goal = ensure_safe_goal_position({m: (g, present[m]) for m, g in goal.items()},
                                             self.config.max_relative_target)  # fmt: skip
        self.bus.sync_write("Goal_Position", goal)
        return {f"{m}.pos": v for m, v in goal.items()}

    def disconnect(self) -> None:
        for cam in self.cameras.values():
            cam.disconnect()
        super().disconnect()


class Leader(Arm):
    """A leader arm (a ``Teleoperator`` upstream): moved by hand, read as actions."""

    kind = "teleoperators"

    @property
    def action_features(self) -> dict:
        return {f"{m}.pos": float for m in self.motor_names}

    @property
    def feedback_features(self) -> dict:
        return self.action_features

    def get_action(self) -> dict[str, float]:
        return self.read_positions()

    def enable_torque(self) -> None:
        self.bus.enable_torque()

    def disable_torque(self) -> None:
        self.bus.disable_torque()

    def send_feedback(self, feedback: dict[str, float]) -> None:
        """Drive the leader to ``feedback`` positions (torque must be on), e.g. for a smooth handover."""
        self.bus.sync_write("Goal_Position", {k.removesuffix(".pos"): v for k, v in feedback.items()})
