"""`teleop`: a leader arm (SO-100/SO-101, Koch) read by hand and published as commands for the follower.

Publishes ``sensor_msgs/JointState`` (radians, stamped) on ``command_topic`` (default ``joint_commands``, what
``robot_driver`` and ``sim`` follow) at ``rate_hz``. At start it hands over smoothly, as upstream LeRobot does
between episodes (linear interpolation over ``handover_duration_s``), using the follower's ``joint_states``:

- ``handover: follower`` (default; ``follower_smooth_move_to``): the commands go from the follower's pose to the
  leader's live pose, so the follower meets the operator's hand instead of jumping to it;
- ``handover: leader`` (``teleop_smooth_move_to``, for leaders with usable torque): the leader is driven to the
  follower's pose with torque on, then torque goes off and streaming starts;
- ``handover: none``: stream at once.

Without follower ``joint_states`` within ``handover_wait_s`` the node streams with a warning.

Parameters (see ``config/so101_leader.yaml``): ``robot_type`` (so101_leader | so100_leader | koch_leader),
``port``, ``id``, ``calibration_dir``, ``joint_names``, ``rate_hz``, ``command_topic``, ``joint_states_topic``,
``handover``, ``handover_duration_s``, ``handover_wait_s``.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np

from lerobot_ros.nodes.joint_control import joint_state_msg
from lerobot_ros.runtime import QOS_DEFAULT, Node, run_node

__all__ = ["HANDOVERS", "Teleop", "main"]

HANDOVERS = ("follower", "leader", "none")
SETTLE_S = 0.3  # after a leader handover, time for the leader to reach the follower's pose before torque off


def _make_leader(node: Node, robot_type: str) -> Any:
    from lerobot_core.robots.config import TeleoperatorConfig
    from lerobot_core.robots.factory import make_teleoperator

    port = node.declare_parameter("port", "/dev/ttyACM1", "serial port of the leader's motor bus")
    leader_id = node.declare_parameter("id", "default", "leader id: names the calibration file <id>.json")
    calib_dir = node.declare_parameter("calibration_dir", "", "calibration directory (empty: upstream's default)")
    try:
        config_cls = TeleoperatorConfig.get_choice_class(robot_type)
    except Exception:
        raise ValueError(f"parameter robot_type={robot_type!r} is not a known leader; use so101_leader, "
                         "so100_leader or koch_leader") from None  # fmt: skip
    leader = make_teleoperator(config_cls(port=port, id=leader_id, calibration_dir=calib_dir or None, units="radians"))
    if not leader.calibration:
        raise RuntimeError(f"{robot_type} {leader_id!r} has no calibration file at {leader.calibration_fpath}; "
                           "calibrate the leader first")  # fmt: skip
    return leader


class Teleop:
    def __init__(self, node: Node, leader: Any = None) -> None:
        self.node = node
        p = node.declare_parameter
        robot_type = p("robot_type", "so101_leader", "core teleoperator type")
        self.joint_names = list(p("joint_names", ["shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex",
                                                  "wrist_roll", "gripper"], "joints, in motor order"))  # fmt: skip
        p("motor_ids", [1, 2, 3, 4, 5, 6], "motor ids (informative; the robot type fixes them)")
        rate = p("rate_hz", 60.0, "command rate (Hz)")
        command_topic = p("command_topic", "joint_commands", "where the commands go")
        states_topic = p("joint_states_topic", "joint_states", "the follower's joint states (for the handover)")
        self.handover = p("handover", "follower", f"start-up handover: {', '.join(HANDOVERS)}")
        self.duration = p("handover_duration_s", 2.0, "handover duration (s)")
        self.wait_s = p("handover_wait_s", 5.0, "how long to wait for the follower's joint_states")
        if self.handover not in HANDOVERS:
            raise ValueError(f"parameter handover={self.handover!r} is not one of {', '.join(HANDOVERS)}")
        if rate <= 0:
            raise ValueError(f"parameter rate_hz must be > 0, got {rate}")
        self.leader = leader if leader is not None else _make_leader(node, robot_type)
        if not self.leader.is_connected:
            self.leader.connect(calibrate=True, prompt=lambda _text: "")  # ENTER: use the calibration file
        if sorted(self.leader.motor_names) != sorted(self.joint_names):
            raise ValueError(f"joint_names {self.joint_names} do not match the leader's motors {self.leader.motor_names}")
        self.pub = node.create_publisher("sensor_msgs/msg/JointState", command_topic, QOS_DEFAULT)
        node.create_subscription("sensor_msgs/msg/JointState", states_topic, self._on_follower, QOS_DEFAULT)
        self.follower: np.ndarray | None = None
        self.phase = "waiting" if self.handover != "none" else "streaming"
        self._t0 = time.monotonic()
        self._start: np.ndarray | None = None
        self.published = 0
        self._loop_lock = threading.Lock()
        self._closed = False
        self.timer = node.create_timer(1.0 / rate, self.step)
        node.get_logger().info(f"{robot_type} -> {node.resolve_name(command_topic)} at {rate:g} Hz "
                               f"(handover: {self.handover})")  # fmt: skip

    def _on_follower(self, msg: Any) -> None:
        index = {n: i for i, n in enumerate(msg.name)}
        if all(n in index for n in self.joint_names):
            self.follower = np.array([msg.position[index[n]] for n in self.joint_names], float)

    def read_leader(self) -> np.ndarray:
        action = self.leader.get_action()
        return np.array([action[f"{n}.pos"] for n in self.joint_names], float)

    def _publish(self, q: np.ndarray) -> None:
        self.pub.publish(joint_state_msg(self.joint_names, q, None, time.time()))
        self.published += 1

    def step(self) -> None:
        with self._loop_lock:
            if not self._closed:
                self._step()

    def _step(self) -> None:
        now = time.monotonic()
        if self.phase == "waiting":
            if self.follower is None:
                if now - self._t0 < self.wait_s:
                    return
                self.node.get_logger().warning(f"no follower joint_states within {self.wait_s:g} s: streaming "
                                               "without a handover")  # fmt: skip
                self.phase = "streaming"
            else:
                self._start, self._t0 = self.follower.copy(), now
                self.phase = "handover"
                if self.handover == "leader":
                    self.leader.enable_torque()
                    self._start = self.read_leader()
        if self.phase == "handover":
            t = min(1.0, (now - self._t0) / self.duration) if self.duration > 0 else 1.0
            if self.handover == "follower":  # follower_smooth_move_to: the follower meets the leader's hand
                self._publish(self._start * (1 - t) + self.read_leader() * t)
            else:  # teleop_smooth_move_to: drive the leader to the follower's pose
                q = self._start * (1 - t) + self.follower * t
                self.leader.send_feedback({f"{n}.pos": float(v) for n, v in zip(self.joint_names, q)})
            if t >= 1.0:
                self._t0 = now
                self.phase = "settling" if self.handover == "leader" else "streaming"
                if self.phase == "streaming":
                    self.node.get_logger().info("handover done: streaming the leader")
            return
        if self.phase == "settling":  # let the leader reach the last goal before it goes limp
            if now - self._t0 < SETTLE_S:
                return
            self.leader.disable_torque()
            self.phase = "streaming"
            self.node.get_logger().info("handover done: leader released, streaming it")
        self._publish(self.read_leader())

    def close(self) -> None:
        self.timer.cancel()
        with self._loop_lock:
            self._closed = True
        if self.leader.is_connected:
            self.leader.disconnect()


def main(argv: list[str] | None = None) -> int:
    return run_node("teleop", Teleop, argv)


if __name__ == "__main__":
    raise SystemExit(main())
