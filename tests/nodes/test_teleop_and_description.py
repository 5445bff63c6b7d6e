"""teleop (leader emulator -> robot_driver -> follower emulator, with the smooth handovers) and robot_description
(URDF on a transient-local topic, /tf from forward kinematics)."""

from __future__ import annotations

import math
import os
import time

import numpy as np
import pytest
from helpers.inbox import Inbox
from lerobot_ros.nodes.joint_control import joint_state_msg
from lerobot_ros.nodes.robot_description import RobotDescription
from lerobot_ros.nodes.robot_driver import RobotDriver
from lerobot_ros.nodes.teleop import Teleop
from lerobot_ros.runtime import QOS_DEFAULT, QOS_TRANSIENT_LOCAL, Node

from lerobot_core.motors.emulator import ServoBusEmulator
from lerobot_core.robots.kinematics import UrdfModel
from lerobot_core.robots.so101_model import JOINT_NAMES

TICKS_PER_RAD = 4096 / (2 * math.pi)


def rad(emu: ServoBusEmulator, motor_id: int) -> float:
    return (emu.present_position(motor_id) - 2047) / TICKS_PER_RAD


def set_rad(emu: ServoBusEmulator, motor_id: int, value: float) -> None:
    emu.set_position(motor_id, 2047 + round(value * TICKS_PER_RAD))


def test_leader_drives_the_follower_after_a_smooth_handover(make_context, so101_emulator) -> None:
    follower_emu, calib_dir = so101_emulator
    leader_emu = ServoBusEmulator("feetech", {i: "sts3215" for i in range(1, 7)})
    set_rad(leader_emu, 1, 0.6)
    made = []
    try:
        driver_node = Node("robot_driver", context=make_context(), parameter_overrides={
            "port": follower_emu.port, "id": "test", "calibration_dir": str(calib_dir), "command_timeout_s": 0.0})
        driver = RobotDriver(driver_node)
        made += [(driver, driver_node)]
        observer = Node("observer", context=make_context())
        commands = Inbox()
        observer.create_subscription("sensor_msgs/msg/JointState", "/joint_commands", commands, QOS_DEFAULT)
        made += [(None, observer)]
        teleop_node = Node("teleop", context=make_context(), parameter_overrides={
            "port": leader_emu.port, "id": "test", "calibration_dir": str(calib_dir), "rate_hz": 50.0,
            "handover_duration_s": 1.0})  # fmt: skip
        teleop = Teleop(teleop_node)
        made += [(teleop, teleop_node)]
        first = commands.wait(timeout=10)
        assert list(first.name) == list(JOINT_NAMES)
        assert first.position[0] < 0.3  # starts at the follower's pose (0), not at the leader's 0.6
        commands.wait(lambda m: abs(m.position[0] - 0.6) < 0.01, timeout=10)
        pans = [m.position[0] for m in commands.messages]
        assert len([p for p in pans if 0.05 < p < 0.55]) >= 10  # interpolated, not a jump
        deadline = time.monotonic() + 5
        while abs(rad(follower_emu, 1) - 0.6) > 0.02 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert rad(follower_emu, 1) == pytest.approx(0.6, abs=0.02)
        set_rad(leader_emu, 3, -0.5)  # the operator moves the leader: the follower follows
        deadline = time.monotonic() + 5
        while abs(rad(follower_emu, 3) + 0.5) > 0.02 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert rad(follower_emu, 3) == pytest.approx(-0.5, abs=0.02)
        assert teleop.phase == "streaming"
    finally:
        for obj, node in reversed(made):
            if obj is not None:
                obj.close()
            node.destroy()
        leader_emu.close()


def test_leader_handover_drives_the_leader_to_the_follower_then_releases_it(make_context, so101_emulator) -> None:
    leader_emu, calib_dir = so101_emulator
    fake = Node("robot_driver", context=make_context())
    states = fake.create_publisher("sensor_msgs/msg/JointState", "/joint_states", QOS_DEFAULT)
    follower_pose = np.array([-0.4, 0.2, 0.0, 0.0, 0.0, 0.3])
    timer = fake.create_timer(0.02, lambda: states.publish(joint_state_msg(JOINT_NAMES, follower_pose, None,
                                                                           time.time())))  # fmt: skip
    node = Node("teleop", context=make_context(), parameter_overrides={
        "port": leader_emu.port, "id": "test", "calibration_dir": str(calib_dir), "handover": "leader",
        "handover_duration_s": 0.5})  # fmt: skip
    teleop = Teleop(node)
    try:
        deadline = time.monotonic() + 10
        while teleop.phase != "streaming" and time.monotonic() < deadline:
            time.sleep(0.02)
        assert teleop.phase == "streaming"
        time.sleep(0.2)
        assert [rad(leader_emu, i + 1) for i in range(6)] == pytest.approx(follower_pose.tolist(), abs=0.02)
        assert all(leader_emu.register(i, "Torque_Enable") == 0 for i in range(1, 7))  # released to the hand
    finally:
        timer.cancel()
        teleop.close()
        node.destroy()
        fake.destroy()


def test_robot_description_publishes_the_urdf_and_tf_from_joint_states(make_context, repo_root) -> None:
    node = Node("robot_description", context=make_context())
    RobotDescription(node)
    client = Node("rviz_like", context=make_context())
    try:
        descriptions, tf, tf_static = Inbox(), Inbox(), Inbox()
        client.create_subscription("std_msgs/msg/String", "/robot_description", descriptions, QOS_TRANSIENT_LOCAL)
        client.create_subscription("tf2_msgs/msg/TFMessage", "/tf_static", tf_static, QOS_TRANSIENT_LOCAL)
        client.create_subscription("tf2_msgs/msg/TFMessage", "/tf", tf, QOS_DEFAULT)
        urdf = descriptions.wait().data  # late joiner: transient local
        assert urdf == (repo_root / "urdf" / "so101.urdf").read_text()
        static = tf_static.wait()
        assert [t.child_frame_id for t in static.transforms] == ["gripper_frame_link"]
        pub = client.create_publisher("sensor_msgs/msg/JointState", "/joint_states", QOS_DEFAULT)
        pose = dict(zip(JOINT_NAMES, [0.3, -0.5, 0.7, 0.2, 0.1, 0.4]))
        deadline = time.monotonic() + 10
        while not tf.messages and time.monotonic() < deadline:
            pub.publish(joint_state_msg(list(pose), np.array(list(pose.values())), None, 123.5))
            time.sleep(0.1)
        msg = tf.wait()
        by_child = {t.child_frame_id: t for t in msg.transforms}
        assert set(by_child) == {"shoulder_link", "upper_arm_link", "lower_arm_link", "wrist_link", "gripper_link",
                                 "moving_jaw_link"}  # fmt: skip
        shoulder = by_child["shoulder_link"]
        assert shoulder.header.frame_id == "base_link" and shoulder.header.stamp.sec == 123
        assert shoulder.transform.rotation.z == pytest.approx(math.sin(0.15))  # 0.3 rad about z
        # chaining the published transforms gives the URDF's forward kinematics
        model = UrdfModel(urdf)
        fk = model.forward_kinematics(pose)
        chain = np.eye(4)
        for child in ("shoulder_link", "upper_arm_link", "lower_arm_link", "wrist_link"):
            t = by_child[child].transform
            chain = chain @ _matrix(t)
        assert np.allclose(chain, fk["wrist_link"], atol=1e-9)
    finally:
        client.destroy()
        node.destroy()


def _matrix(t) -> np.ndarray:
    x, y, z, w = t.rotation.x, t.rotation.y, t.rotation.z, t.rotation.w
    m = np.eye(4)
    m[:3, :3] = [[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                 [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                 [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]]  # fmt: skip
    m[:3, 3] = [t.translation.x, t.translation.y, t.translation.z]
    return m


def test_keyboard_teleop_jogs_joints_from_the_follower_pose(make_context) -> None:
    from lerobot_ros.nodes.keyboard_teleop import KeyboardTeleop

    fake = Node("robot_driver", context=make_context())
    states = fake.create_publisher("sensor_msgs/msg/JointState", "/joint_states", QOS_DEFAULT)
    pose = np.array([0.1, -1.0, 1.2, 1.3, 0.0, 0.2])
    timer = fake.create_timer(0.02, lambda: states.publish(joint_state_msg(JOINT_NAMES, pose, None, time.time())))
    read_fd, write_fd = os.pipe()
    node = Node("keyboard_teleop", context=make_context(), parameter_overrides={"step": 0.05})
    teleop = KeyboardTeleop(node, stream=os.fdopen(read_fd, "r"))
    observer = Node("observer", context=make_context())
    commands = Inbox()
    observer.create_subscription("sensor_msgs/msg/JointState", "/joint_commands", commands, QOS_DEFAULT)
    try:
        first = commands.wait(timeout=10)
        assert list(first.name) == list(JOINT_NAMES) and first.position.tolist() == pytest.approx(pose.tolist())
        os.write(write_fd, b"qqh")
        jogged = pose + np.array([0.1, 0, 0, 0, 0, -0.05])
        commands.wait(lambda m: np.allclose(m.position, jogged), timeout=5)
        os.write(write_fd, b" ")  # back to the follower's pose
        commands.wait_new(lambda m: np.allclose(m.position, pose), timeout=5)
    finally:
        timer.cancel()
        teleop.close()
        os.close(write_fd)
        for n in (observer, node, fake):
            n.destroy()
