"""`robot_description`: what ``robot_state_publisher`` does, without ROS, so a remote rviz shows the arm.

Publishes the URDF on ``robot_description`` (``std_msgs/String``, transient local: late subscribers such as rviz
get it), the fixed joints once on ``/tf_static`` (transient local) and, for every ``joint_states`` message, the
movable joints' transforms on ``/tf`` (``tf2_msgs/TFMessage``, stamped like the joint state), computed with
``lerobot_core.robots.kinematics`` (forward kinematics of the URDF). At most ``publish_frequency`` Hz.

Parameters: ``urdf`` (a path or a file of share/urdf, default ``so101.urdf``), ``publish_frequency`` (Hz,
default 30), ``frame_prefix`` (prepended to link names, as robot_state_publisher's).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from lerobot_ros.nodes.joint_control import resolve_share_file
from lerobot_ros.runtime import QOS_DEFAULT, Node, QoSProfile, make, run_node
from lerobot_ros.runtime.qos import Durability

__all__ = ["RobotDescription", "main", "transform_msg"]

QOS_TF_STATIC = QoSProfile(depth=1, durability=Durability.TRANSIENT_LOCAL)
QOS_TF = QoSProfile(depth=100)


def transform_msg(parent: str, child: str, matrix: np.ndarray, stamp: Any) -> Any:
    """``geometry_msgs/TransformStamped`` of ``child`` in ``parent`` from a 4x4 pose."""
    from lerobot_core.robots.kinematics import matrix_to_quaternion

    x, y, z, w = matrix_to_quaternion(matrix[:3, :3])
    t = matrix[:3, 3]
    transform = make("geometry_msgs/msg/Transform",
                     translation=make("geometry_msgs/msg/Vector3", x=float(t[0]), y=float(t[1]), z=float(t[2])),
                     rotation=make("geometry_msgs/msg/Quaternion", x=x, y=y, z=z, w=w))  # fmt: skip
    header = make("std_msgs/msg/Header", stamp=stamp, frame_id=parent)
    return make("geometry_msgs/msg/TransformStamped", header=header, child_frame_id=child, transform=transform)


class RobotDescription:
    def __init__(self, node: Node) -> None:
        from lerobot_core.robots.kinematics import UrdfModel

        self.node = node
        urdf = node.declare_parameter("urdf", "so101.urdf", "URDF file (a path or a file in share/urdf)")
        rate = node.declare_parameter("publish_frequency", 30.0, "largest /tf rate (Hz)")
        self.prefix = node.declare_parameter("frame_prefix", "", "prepended to every frame id")
        path = resolve_share_file(urdf, "urdf")
        self.xml = path.read_text()
        self.model = UrdfModel(self.xml)
        self.min_period = 1.0 / rate if rate > 0 else 0.0
        self._last = time.monotonic()
        self._tokens = 1.0
        self.published = 0
        self.description_pub = node.create_publisher("std_msgs/msg/String", "robot_description",
                                                     QoSProfile(depth=1, durability=Durability.TRANSIENT_LOCAL))
        self.tf_pub = node.create_publisher("tf2_msgs/msg/TFMessage", "/tf", QOS_TF)
        self.tf_static_pub = node.create_publisher("tf2_msgs/msg/TFMessage", "/tf_static", QOS_TF_STATIC)
        self.description_pub.publish(make("std_msgs/msg/String", data=self.xml))
        now = node.now()
        fixed = [transform_msg(self.prefix + parent, self.prefix + child, m, now)
                 for name, (parent, child, m) in self.model.joint_transforms().items()
                 if self.model.joints[name].kind == "fixed"]  # fmt: skip
        self.tf_static_pub.publish(make("tf2_msgs/msg/TFMessage", transforms=fixed))
        node.create_subscription("sensor_msgs/msg/JointState", "joint_states", self._on_joint_state, QOS_DEFAULT)
        node.get_logger().info(f"robot_description from {path} ({len(self.model.movable_joints)} movable joints)")

    def _on_joint_state(self, msg: Any) -> None:
        if self.min_period:  # token bucket: at most publish_frequency on average, jittered inputs pass
            now = time.monotonic()
            self._tokens = min(2.0, self._tokens + (now - self._last) / self.min_period)
            self._last = now
            if self._tokens < 1.0:
                return
            self._tokens -= 1.0
        positions = {n: float(p) for n, p in zip(msg.name, msg.position) if n in self.model.joints}
        transforms = [transform_msg(self.prefix + parent, self.prefix + child, m, msg.header.stamp)
                      for name, (parent, child, m) in self.model.joint_transforms(positions).items()
                      if self.model.joints[name].kind != "fixed"]  # fmt: skip
        self.tf_pub.publish(make("tf2_msgs/msg/TFMessage", transforms=transforms))
        self.published += 1


def main(argv: list[str] | None = None) -> int:
    return run_node("robot_description", RobotDescription, argv)


if __name__ == "__main__":
    raise SystemExit(main())
