"""`robot_driver`: a real follower arm (SO-100/SO-101, Koch) as a ROS node.

Publishes ``sensor_msgs/JointState`` on ``joint_states`` (radians, rad/s, stamped at the bus read) at ``rate_hz``
and ``diagnostic_msgs/DiagnosticArray`` on ``/diagnostics`` (achieved rate, bus errors, lost replies per motor,
temperatures, safety state) every ``diagnostics_period_s``. Takes commands as ``JointState`` on ``joint_commands``,
``Float64MultiArray`` on ``forward_position_controller/commands`` and ``JointTrajectory`` on ``joint_trajectory``
through the safety gate of :mod:`.joint_control` (limits, ``max_relative_target``, watchdog). Services
(``std_srvs/SetBool``): ``~/estop`` (true: hold and reject commands; false: release) and ``~/enable_torque``.

Parameters (see ``config/so101_follower.yaml``): ``robot_type`` (so101_follower | so100_follower | koch_follower),
``port``, ``id`` and ``calibration_dir`` (upstream's calibration file, reused as is), ``joint_names``,
``joint_lower_limits``/``joint_upper_limits`` (else from ``urdf``), ``max_relative_target`` (rad, 0 = off) or
``max_relative_target_per_joint``, ``rate_hz``, ``command_timeout_s`` (0 = no watchdog), ``frame_id``,
``estop_disables_torque``, ``diagnostics_period_s`` and ``<role>_topic`` for each topic.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

import numpy as np

from lerobot_ros.nodes.joint_control import (
    DEFAULT_TOPICS,
    ERROR,
    OK,
    WARN,
    JointController,
    diagnostic_status,
    joint_limits_from_params,
    joint_state_msg,
)
from lerobot_ros.runtime import QOS_DEFAULT, Node, make, spin

__all__ = ["RobotDriver", "declare_topics", "main", "max_relative_from_params"]


def declare_topics(node: Node) -> dict[str, str]:
    """``<role>_topic`` parameters for the command and state topics."""
    return {role: node.declare_parameter(f"{role}_topic", default, f"topic of {role}")
            for role, default in DEFAULT_TOPICS.items()}  # fmt: skip


def max_relative_from_params(node: Node, n: int) -> np.ndarray | None:
    """Per-joint caps (rad) from ``max_relative_target_per_joint`` or the scalar ``max_relative_target``."""
    scalar = node.declare_parameter("max_relative_target", 0.0, "rad per command and joint (0: no clip)")
    per_joint = list(node.declare_parameter("max_relative_target_per_joint", [], "rad per joint (overrides the "
                                            "scalar; 0 disables that joint's clip)", type_="double_array"))  # fmt: skip
    if per_joint:
        if len(per_joint) != n:
            raise ValueError(f"max_relative_target_per_joint needs {n} values, got {len(per_joint)}")
        return np.asarray(per_joint, float)
    return np.full(n, scalar) if scalar > 0 else None


def _make_follower(node: Node, robot_type: str) -> Any:
    from lerobot_core.robots.config import RobotConfig
    from lerobot_core.robots.factory import make_robot

    port = node.declare_parameter("port", "/dev/ttyACM0", "serial port of the motor bus")
    robot_id = node.declare_parameter("id", "default", "robot id: names the calibration file <id>.json")
    calib_dir = node.declare_parameter("calibration_dir", "", "calibration directory (empty: upstream's default)")
    try:
        config_cls = RobotConfig.get_choice_class(robot_type)
    except Exception:
        raise ValueError(f"parameter robot_type={robot_type!r} is not a known robot; use so101_follower, "
                         "so100_follower or koch_follower") from None  # fmt: skip
    config = config_cls(port=port, id=robot_id, calibration_dir=calib_dir or None, units="radians")
    robot = make_robot(config)
    if not robot.calibration:
        raise RuntimeError(f"{robot_type} {robot_id!r} has no calibration file at {robot.calibration_fpath}; "
                           "calibrate the arm first (upstream LeRobot's calibration files are used as they are)")
    return robot


class RobotDriver:
    """The driver's state and loop on ``node``; ``robot`` (a connected core follower) is made from parameters
    unless given."""

    def __init__(self, node: Node, robot: Any = None) -> None:
        self.node = node
        log = node.get_logger()
        robot_type = node.declare_parameter("robot_type", "so101_follower", "core robot type")
        default_names = ["shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll", "gripper"]
        self.joint_names = list(node.declare_parameter("joint_names", default_names, "joints, in motor order"))
        node.declare_parameter("motor_ids", [1, 2, 3, 4, 5, 6], "motor ids (informative; the robot type fixes them)")
        self.rate_hz = node.declare_parameter("rate_hz", 100.0, "joint_states rate (Hz)")
        timeout = node.declare_parameter("command_timeout_s", 0.5, "watchdog: hold when no command came (0: off)")
        self.frame_id = node.declare_parameter("frame_id", "base_link", "header frame of joint_states")
        self.estop_disables_torque = node.declare_parameter("estop_disables_torque", False,
                                                            "e-stop also turns torque off (the arm goes limp)")
        self.diag_period = node.declare_parameter("diagnostics_period_s", 1.0, "diagnostics period (s)")
        topics = declare_topics(node)
        if self.rate_hz <= 0:
            raise ValueError(f"parameter rate_hz must be > 0, got {self.rate_hz}")
        lower, upper = joint_limits_from_params(node, self.joint_names)
        caps = max_relative_from_params(node, len(self.joint_names))
        self.robot = robot if robot is not None else _make_follower(node, robot_type)
        if not self.robot.is_connected:
            self.robot.connect(calibrate=True, prompt=lambda _text: "")  # ENTER: use the calibration file
        motors = list(self.robot.motor_names)
        if sorted(motors) != sorted(self.joint_names):
            raise ValueError(f"joint_names {self.joint_names} do not match the motors of {robot_type}: {motors}")
        self.hardware_id = f"{robot_type}:{getattr(self.robot.bus, 'port', '?')}"
        self.bus_lock = threading.RLock()
        self.torque_enabled = True
        self.controller = JointController(node, self.joint_names, lower, upper, max_relative_target=caps,
                                          command_timeout_s=timeout, topics=topics)  # fmt: skip
        self.state_pub = node.create_publisher("sensor_msgs/msg/JointState", topics["joint_states"], QOS_DEFAULT)
        self.diag_pub = node.create_publisher("diagnostic_msgs/msg/DiagnosticArray", "/diagnostics", QOS_DEFAULT)
        node.create_service("std_srvs/srv/SetBool", "~/estop", self._on_estop)
        node.create_service("std_srvs/srv/SetBool", "~/enable_torque", self._on_torque)
        self.cycles = 0
        self.loop_errors = 0
        self.present: np.ndarray | None = None
        self._prev: tuple[float, np.ndarray] | None = None
        self._window = (time.monotonic(), 0)
        self.achieved_hz = 0.0
        self._last_diag = time.monotonic()
        self._last_error_log = 0.0
        self._loop_lock = threading.Lock()
        self._closed = False
        self.timer = node.create_timer(1.0 / self.rate_hz, self.step)
        log.info(f"{robot_type} on {self.hardware_id}: joint_states at {self.rate_hz:g} Hz, joints {self.joint_names}")

    # --- loop ----------------------------------------------------------------------------------------------
    def read_present(self) -> np.ndarray:
        with self.bus_lock:
            positions = self.robot.bus.sync_read("Present_Position", self.joint_names)
        return np.array([positions[n] for n in self.joint_names], float)

    def step(self) -> None:
        """One control cycle: read, gate and write the goal, publish joint_states (and diagnostics when due)."""
        with self._loop_lock:
            if not self._closed:
                self._step()

    def _step(self) -> None:
        try:
            stamp = time.time()
            present = self.read_present()
            goal = self.controller.update(present)
            if goal is not None and self.torque_enabled:
                with self.bus_lock:
                    self.robot.send_action({f"{n}.pos": float(v) for n, v in zip(self.joint_names, goal)})
        except Exception as exc:  # a flaky bus never kills the loop
            self.loop_errors += 1
            if time.monotonic() - self._last_error_log > 1.0:
                self._last_error_log = time.monotonic()
                self.node.get_logger().error(f"control cycle failed ({self.loop_errors} so far): {exc}")
            return
        velocity = None
        if self._prev is not None and stamp > self._prev[0]:
            velocity = (present - self._prev[1]) / (stamp - self._prev[0])
        self._prev = (stamp, present)
        self.present = present
        self.state_pub.publish(joint_state_msg(self.joint_names, present, velocity, stamp, self.frame_id))
        self.cycles += 1
        now = time.monotonic()
        if now - self._last_diag >= self.diag_period:
            start, count = self._window
            self.achieved_hz = (self.cycles - count) / max(1e-9, now - start)
            self._window = (now, self.cycles)
            self._last_diag = now
            self.publish_diagnostics()

    # --- diagnostics ---------------------------------------------------------------------------------------
    def diagnostics(self) -> tuple[int, str, dict[str, Any]]:
        bus = self.robot.bus
        stats = bus.stats.as_dict()
        values: dict[str, Any] = {"rate_hz": self.achieved_hz, "target_rate_hz": self.rate_hz}
        for key in ("transactions", "timeouts", "corrupt", "status_errors"):
            values[f"bus_{key}"] = stats[key]
        for motor, lost in sorted(stats["lost_by_motor"].items()):
            values[f"lost_replies_{motor}"] = lost
        try:
            with self.bus_lock:
                temps = bus.sync_read("Present_Temperature", self.joint_names, normalize=False)
            values.update({f"temperature_{m}_c": int(t) for m, t in temps.items()})
        except Exception as exc:  # temperatures are optional
            values["temperature_error"] = str(exc)
        c = self.controller
        values.update(estop=c.estopped, torque_enabled=self.torque_enabled, holding=c.holding, commands=c.commands,
                      rejected_commands=c.rejected, clipped_commands=c.clipped, watchdog_holds=c.watchdog_holds,
                      loop_errors=self.loop_errors, last_bus_error=stats["last_error"])  # fmt: skip
        if c.estopped:
            return ERROR, "e-stop engaged", values
        if self.achieved_hz < 0.8 * self.rate_hz:
            return WARN, f"loop at {self.achieved_hz:.1f} Hz of {self.rate_hz:g} Hz", values
        if self.loop_errors or stats["timeouts"] or stats["corrupt"]:
            return WARN, "bus errors (see values)", values
        return OK, "running", values

    def publish_diagnostics(self) -> None:
        level, message, values = self.diagnostics()
        status = diagnostic_status(f"{self.node.name}: {self.hardware_id.split(':')[0]}", self.hardware_id, level,
                                   message, values)  # fmt: skip
        self.diag_pub.publish(make("diagnostic_msgs/msg/DiagnosticArray",
                                   header=make("std_msgs/msg/Header", stamp=self.node.now()), status=[status]))

    # --- services ------------------------------------------------------------------------------------------
    def _response(self, ok: bool, message: str) -> Any:
        return make("std_srvs/srv/SetBool_Response", success=ok, message=message)

    def _on_estop(self, request: Any) -> Any:
        engaged = bool(request.data)
        self.controller.set_estop(engaged)
        if engaged and self.estop_disables_torque:
            self._set_torque(False)
        self.node.get_logger().warning("e-stop ENGAGED: holding, commands rejected" if engaged else "e-stop released")
        return self._response(True, "e-stop engaged" if engaged else "e-stop released")

    def _set_torque(self, enable: bool) -> None:
        with self.bus_lock:
            if enable:
                present = self.read_present()  # goal = present first, so nothing jumps
                self.robot.bus.sync_write("Goal_Position", dict(zip(self.joint_names, present.tolist())))
                self.robot.bus.enable_torque()
                self.controller.request_hold()
            else:
                self.robot.bus.disable_torque()
            self.torque_enabled = enable

    def _on_torque(self, request: Any) -> Any:
        enable = bool(request.data)
        try:
            self._set_torque(enable)
        except Exception as exc:
            return self._response(False, f"torque {'enable' if enable else 'disable'} failed: {exc}")
        return self._response(True, f"torque {'enabled' if enable else 'disabled'}")

    def close(self) -> None:
        self.timer.cancel()
        with self._loop_lock:
            self._closed = True
        with self.bus_lock:
            if self.robot.is_connected:
                self.robot.disconnect()


def main(argv: list[str] | None = None) -> int:
    node = Node("robot_driver", argv=sys.argv[1:] if argv is None else argv)
    try:
        driver = RobotDriver(node)
    except Exception as exc:
        node.get_logger().error(f"cannot start: {exc}")
        node.destroy()
        return 1
    try:
        spin(node)
    finally:
        driver.close()
        node.destroy()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
