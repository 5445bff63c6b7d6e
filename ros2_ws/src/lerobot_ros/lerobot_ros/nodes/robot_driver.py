"""`robot_driver`: a real follower arm (SO-100/SO-101, Koch) as a ROS node.

Publishes ``sensor_msgs/JointState`` on ``joint_states`` (radians, rad/s, stamped) at ``rate_hz``
and ``diagnostic_msgs/DiagnosticArray`` on ``/diagnostics`` (achieved rate, bus errors, lost replies per motor,
temperatures, safety state) every ``diagnostics_period_s``. Takes commands as ``JointState`` on ``joint_commands``,
``Float64MultiArray`` on ``forward_position_controller/commands`` and ``JointTrajectory`` on ``joint_trajectory``
through the safety gate (limits, ``max_relative_target``, watchdog; see :mod:`.joint_control`). Services
(``std_srvs/SetBool``): ``~/estop`` (true: hold and reject commands; false: release) and ``~/enable_torque``.
The gate is the core ``JointDriver`` (``lerobot_core.robots.driver``) on a ``FollowerBackend``.

Parameters (see ``config/so101_follower.yaml``): ``robot_type`` (so101_follower | so100_follower | koch_follower),
``port``, ``id`` and ``calibration_dir`` (upstream's calibration file, reused as is), ``joint_names``,
``joint_lower_limits``/``joint_upper_limits`` (else from ``urdf``), ``max_relative_target`` (rad, 0 = off) or
``max_relative_target_per_joint``, ``rate_hz``, ``command_timeout_s`` (0 = no watchdog), ``frame_id``,
``estop_disables_torque``, ``diagnostics_period_s`` and ``<role>_topic`` for each topic.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from lerobot_ros.nodes.joint_control import (
    ERROR,
    OK,
    WARN,
    JointCommands,
    declare_topics,
    diagnostic_status,
    joint_driver_from_params,
    joint_state_msg,
)
from lerobot_ros.runtime import QOS_DEFAULT, Node, make, run_node

__all__ = ["RobotDriver", "main"]


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
    """The driver's loop and services on ``node``, around the core ``JointDriver`` gate; ``robot`` (a core follower
    in radians) is made from the parameters unless given."""

    def __init__(self, node: Node, robot: Any = None) -> None:
        from lerobot_core.robots.driver import FollowerBackend

        self.node = node
        p = node.declare_parameter
        robot_type = p("robot_type", "so101_follower", "core robot type")
        default_names = ["shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll", "gripper"]
        self.joint_names = list(p("joint_names", default_names, "joints, in motor order"))
        p("motor_ids", [1, 2, 3, 4, 5, 6], "motor ids (informative; the robot type fixes them)")
        self.rate_hz = p("rate_hz", 100.0, "joint_states rate (Hz)")
        self.frame_id = p("frame_id", "base_link", "header frame of joint_states")
        self.estop_disables_torque = p("estop_disables_torque", False, "e-stop also turns torque off (limp arm)")
        self.diag_period = p("diagnostics_period_s", 1.0, "diagnostics period (s)")
        topics = declare_topics(node)
        if self.rate_hz <= 0:
            raise ValueError(f"parameter rate_hz must be > 0, got {self.rate_hz}")
        self.robot = robot if robot is not None else _make_follower(node, robot_type)
        if not self.robot.is_connected:
            self.robot.connect(calibrate=True, prompt=lambda _text: "")  # ENTER: use the calibration file
        if list(self.robot.motor_names) != self.joint_names:
            raise ValueError(f"joint_names {self.joint_names} do not match the motors of {robot_type}: "
                             f"{list(self.robot.motor_names)}")  # fmt: skip
        self.hardware_id = f"{robot_type}:{getattr(self.robot.bus, 'port', '?')}"
        self.lock = threading.RLock()  # the gate and the bus: loop (executor), commands, services
        self.driver = joint_driver_from_params(node, FollowerBackend(self.robot), self.joint_names, 0.5)
        self.commands = JointCommands(node, self.driver, topics, self.lock)
        self.state_pub = node.create_publisher("sensor_msgs/msg/JointState", topics["joint_states"], QOS_DEFAULT)
        self.diag_pub = node.create_publisher("diagnostic_msgs/msg/DiagnosticArray", "/diagnostics", QOS_DEFAULT)
        node.create_service("std_srvs/srv/SetBool", "~/estop", self._on_estop)
        node.create_service("std_srvs/srv/SetBool", "~/enable_torque", self._on_torque)
        self.loop_errors = 0
        self._errors_seen = 0
        self._last_diag = time.monotonic()
        self._last_error_log = 0.0
        self._closed = False
        self.timer = node.create_timer(1.0 / self.rate_hz, self.step)
        node.get_logger().info(f"{robot_type} on {self.hardware_id}: joint_states at {self.rate_hz:g} Hz, "
                               f"joints {self.joint_names}")  # fmt: skip

    def step(self) -> None:
        """One control cycle (the gate reads, clips and writes), then joint_states (and diagnostics when due)."""
        with self.lock:
            if self._closed:
                return
            try:
                sample = self.driver.update()
            except Exception as exc:  # a flaky bus never kills the loop
                self.loop_errors += 1
                if time.monotonic() - self._last_error_log > 1.0:
                    self._last_error_log = time.monotonic()
                    self.node.get_logger().error(f"control cycle failed ({self.loop_errors} so far): {exc}")
                return
        self.state_pub.publish(joint_state_msg(sample.names, sample.positions, sample.velocities, sample.stamp,
                                               self.frame_id))  # fmt: skip
        if time.monotonic() - self._last_diag >= self.diag_period:
            self._last_diag = time.monotonic()
            self.publish_diagnostics()

    def diagnostics(self) -> tuple[int, str, dict[str, Any]]:
        with self.lock:
            values = self.driver.diagnostics()
        values.update(target_rate_hz=self.rate_hz, malformed_commands=self.commands.rejected,
                      loop_errors=self.loop_errors)  # fmt: skip
        bus = values.get("bus", {})
        errors = bus.get("timeouts", 0) + bus.get("corrupt", 0) + bus.get("status_errors", 0) + self.loop_errors
        new_errors, self._errors_seen = errors - self._errors_seen, errors
        if self.driver.estopped:
            return ERROR, "e-stop engaged", values
        if values["rate_hz"] < 0.8 * self.rate_hz:
            return WARN, f"loop at {values['rate_hz']:.1f} Hz of {self.rate_hz:g} Hz", values
        if new_errors:
            return WARN, f"{new_errors} bus errors since the last report", values
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
        with self.lock:
            if engaged:
                self.driver.estop()
                if self.estop_disables_torque:
                    self.driver.set_torque(False)
            else:
                self.driver.release_estop()
        self.node.get_logger().warning("e-stop ENGAGED: holding, commands rejected" if engaged else "e-stop released")
        return self._response(True, "e-stop engaged" if engaged else "e-stop released")

    def _on_torque(self, request: Any) -> Any:
        enable = bool(request.data)
        try:
            with self.lock:
                self.driver.set_torque(enable)
        except Exception as exc:
            return self._response(False, f"torque {'enable' if enable else 'disable'} failed: {exc}")
        return self._response(True, f"torque {'enabled' if enable else 'disabled'}")

    def close(self) -> None:
        self.timer.cancel()
        with self.lock:
            self._closed = True
            if self.robot.is_connected:
                self.robot.disconnect()


def main(argv: list[str] | None = None) -> int:
    return run_node("robot_driver", RobotDriver, argv)


if __name__ == "__main__":
    raise SystemExit(main())
