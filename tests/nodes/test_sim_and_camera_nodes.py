"""sim and camera nodes in-process over a real Zenoh router: topics, images, commands, scripted teleop, and the
same interface as robot_driver + camera nodes."""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np
import pytest
from helpers.inbox import Inbox
from lerobot_ros.nodes.camera import CameraNode
from lerobot_ros.nodes.robot_driver import RobotDriver
from lerobot_ros.nodes.sim import SimNode
from lerobot_ros.runtime import QOS_DEFAULT, QOS_TRANSIENT_LOCAL, Node, make
from lerobot_ros.runtime.conversions import image_to_numpy

from lerobot_core.robots.so101_model import JOINT_NAMES

SMALL = {"camera_width": 64, "camera_height": 48}


@pytest.fixture
def nodes(make_context) -> Iterator:
    made: list = []

    def sim(**params) -> SimNode:
        node = Node("sim", context=make_context(), parameter_overrides={**SMALL, **params})
        made.append((node, SimNode(node)))
        return made[-1][1]

    def camera(name: str, **params) -> CameraNode:
        node = Node(name, context=make_context(), parameter_overrides={"source": "pattern", "width": 64,
                                                                        "height": 48, "fps": 30, **params})
        made.append((node, CameraNode(node)))
        return made[-1][1]

    def client() -> Node:
        node = Node("tester", context=make_context())
        made.append((node, None))
        return node

    yield sim, camera, client
    for node, obj in reversed(made):
        if isinstance(obj, SimNode):
            obj.stop()
            node.destroy()
            obj.sim.close()
        else:
            if obj is not None:
                obj.close()
            node.destroy()


def test_sim_publishes_joint_states_cameras_task_and_success(nodes) -> None:
    sim, _camera, client = nodes
    sim(seed=3, publish_compressed=True)
    c = client()
    inboxes = {name: Inbox() for name in ("states", "front", "wrist", "info", "jpeg", "task", "success")}
    c.create_subscription("sensor_msgs/msg/JointState", "/joint_states", inboxes["states"], QOS_DEFAULT)
    c.create_subscription("sensor_msgs/msg/Image", "/front/image_raw", inboxes["front"], QOS_DEFAULT)
    c.create_subscription("sensor_msgs/msg/Image", "/wrist/image_raw", inboxes["wrist"], QOS_DEFAULT)
    c.create_subscription("sensor_msgs/msg/CameraInfo", "/front/camera_info", inboxes["info"], QOS_DEFAULT)
    c.create_subscription("sensor_msgs/msg/CompressedImage", "/front/image_raw/compressed", inboxes["jpeg"],
                          QOS_DEFAULT)  # fmt: skip
    c.create_subscription("std_msgs/msg/String", "/task", inboxes["task"], QOS_TRANSIENT_LOCAL)
    c.create_subscription("std_msgs/msg/Bool", "/success", inboxes["success"], QOS_DEFAULT)
    state = inboxes["states"].wait()
    assert list(state.name) == list(JOINT_NAMES) and state.header.frame_id == "base_link"
    assert len(state.position) == 6 and len(state.velocity) == 6
    front = inboxes["front"].wait()
    assert (front.height, front.width, front.encoding, front.header.frame_id) == (48, 64, "rgb8", "front_camera")
    pixels = image_to_numpy(front)
    assert pixels.shape == (48, 64, 3) and pixels.std() > 5  # a rendered scene, not a blank frame
    assert inboxes["wrist"].wait().header.frame_id == "wrist_camera"
    info = inboxes["info"].wait()
    assert info.k[0] > 0 and (info.width, info.height) == (64, 48)  # pinhole model from the MuJoCo fovy
    assert inboxes["jpeg"].wait().format == "jpeg"
    assert "cube" in inboxes["task"].wait().data
    assert inboxes["success"].wait().data is False


def test_sim_follows_commands_through_the_safety_gate(nodes) -> None:
    sim, _camera, client = nodes
    s = sim(cameras=[])
    c = client()
    states = Inbox()
    c.create_subscription("sensor_msgs/msg/JointState", "/joint_states", states, QOS_DEFAULT)
    states.wait()
    pub = c.create_publisher("sensor_msgs/msg/JointState", "/joint_commands", QOS_DEFAULT)
    deadline = time.monotonic() + 10
    while s.driver.stats.commands == 0 and time.monotonic() < deadline:
        pub.publish(make("sensor_msgs/msg/JointState", name=["shoulder_pan", "wrist_roll"],
                         position=np.array([0.6, 5.0])))  # fmt: skip
        time.sleep(0.1)
    upper = s.driver.upper[4]
    states.wait_new(lambda m: abs(m.position[0] - 0.6) < 0.03 and abs(m.position[4] - upper) < 0.05, timeout=10)
    time.sleep(0.3)
    assert states.messages[-1].position[4] <= upper + 0.02  # 5.0 rad was clamped to the joint limit


@pytest.mark.slow
def test_scripted_teleop_publishes_leader_commands_and_completes_the_task(nodes) -> None:
    sim, _camera, client = nodes
    s = sim(scripted_teleop=True, cameras=[], episode_time_s=9.0, seed=1)
    c = client()
    commands, success = Inbox(), Inbox()
    c.create_subscription("sensor_msgs/msg/JointState", "/joint_commands", commands, QOS_DEFAULT)
    c.create_subscription("std_msgs/msg/Bool", "/success", success, QOS_DEFAULT)
    first = commands.wait(timeout=10)
    assert list(first.name) == list(JOINT_NAMES)
    success.wait(lambda m: m.data, timeout=60)
    assert len(commands.messages) > 100
    assert s.driver.stats.commands > 0  # the expert drives the arm through the same command path


def _published_topics(node: Node) -> dict[str, str]:
    return {pub.topic: pub.typename for pub in node._entities if hasattr(pub, "publish")}


def test_sim_and_real_nodes_publish_the_same_topics_types_and_joint_names(nodes, make_context, so101_emulator) -> None:
    sim, camera, client = nodes
    s = sim()
    front, wrist = camera("front"), camera("wrist")
    emu, calib_dir = so101_emulator
    driver_node = Node("robot_driver", context=make_context(), parameter_overrides={
        "port": emu.port, "id": "test", "calibration_dir": str(calib_dir)})  # fmt: skip
    driver = RobotDriver(driver_node)
    try:
        real = {**_published_topics(driver_node), **_published_topics(front.node), **_published_topics(wrist.node)}
        simulated = _published_topics(s.node)
        shared = {t: ty for t, ty in real.items() if t not in ("/diagnostics", "/rosout")}
        assert shared and all(simulated.get(t) == ty for t, ty in shared.items()), (shared, simulated)
        assert {"/front/image_raw", "/front/camera_info", "/wrist/image_raw", "/joint_states"} <= set(shared)
        assert set(simulated) - set(real) == {"/task", "/success"}
        assert driver.joint_names == s.joint_names == list(JOINT_NAMES)
        # the same command topics and types on both sides
        subs = lambda n: {e.topic: e.typename for e in n._entities if hasattr(e, "callback")}  # noqa: E731
        assert subs(driver_node) == subs(s.node)
        c = client()
        real_state, images = Inbox(), Inbox()
        c.create_subscription("sensor_msgs/msg/JointState", "/joint_states", real_state, QOS_DEFAULT)
        c.create_subscription("sensor_msgs/msg/Image", "/front/image_raw", images, QOS_DEFAULT)
        frame_ids = {real_state.wait(lambda m: m.header.frame_id == "base_link").header.frame_id}
        assert frame_ids == {"base_link"}
        images.wait(lambda m: m.header.frame_id == "front_camera" and m.encoding == "rgb8")
        assert front.publisher.published > 0
    finally:
        driver.close()
        driver_node.destroy()
