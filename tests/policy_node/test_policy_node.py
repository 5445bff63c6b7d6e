"""The policy node in-process over a real Zenoh router: the simulated arm driven by the upstream ACT fixture,
fallback on a frozen camera, RGB order, refusal at start-up, services and e-stop passthrough."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest
from helpers.inbox import Inbox
from lerobot_ros.nodes.joint_control import joint_state_msg
from lerobot_ros.nodes.policy import PolicyNode
from lerobot_ros.nodes.policy_io import PolicyStartupError
from lerobot_ros.nodes.sim import SimNode
from lerobot_ros.runtime import QOS_DEFAULT, make
from lerobot_ros.runtime.conversions import numpy_to_compressed_image, numpy_to_image, stamp_to_sec

from .conftest import act_params

JOINTS = ["shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll", "gripper"]
pytestmark = pytest.mark.e2e


class FakeRobot:
    """A test-side robot: publishes joint_states and two camera streams at ``fps`` until frozen."""

    def __init__(self, node, fps: float = 30.0, wrist_encoding: str = "rgb8", front_compressed: bool = False) -> None:
        self.node, self.period = node, 1.0 / fps
        self.positions = np.array([0.1, -0.2, 0.3, 0.0, 0.1, 0.5])
        self.state_pub = node.create_publisher("sensor_msgs/msg/JointState", "/joint_states", QOS_DEFAULT)
        self.pubs = {cam: node.create_publisher("sensor_msgs/msg/Image", f"/{cam}/image_raw", QOS_DEFAULT)
                     for cam in ("front", "wrist")}
        self.front_compressed = front_compressed
        if front_compressed:
            self.pubs["front"] = node.create_publisher("sensor_msgs/msg/CompressedImage",
                                                       "/front/image_raw/compressed", QOS_DEFAULT)
        self.image = np.zeros((48, 64, 3), np.uint8)
        self.image[..., 0] = 200  # red in RGB
        self.image[:, :32, 2] = 50
        self.wrist_encoding = wrist_encoding
        self.cameras_frozen = threading.Event()
        self.last_frame = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.period):
            now = time.time()
            self.state_pub.publish(joint_state_msg(JOINTS, self.positions, None, now))
            if self.cameras_frozen.is_set():
                continue
            self.pubs["front"].publish(
                numpy_to_compressed_image(self.image, "png", encoding="rgb8", stamp=now) if self.front_compressed
                else numpy_to_image(self.image, "rgb8", stamp=now))
            wrist = self.image[..., ::-1] if self.wrist_encoding == "bgr8" else self.image
            self.pubs["wrist"].publish(numpy_to_image(np.ascontiguousarray(wrist), self.wrist_encoding, stamp=now))
            self.last_frame = time.monotonic()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2)


@pytest.fixture
def fake_robot(started) -> Iterator:
    robots = []

    def make_robot(**kwargs) -> FakeRobot:
        robots.append(FakeRobot(started(None, "fake_robot"), **kwargs))
        return robots[-1]

    yield make_robot
    for robot in robots:
        robot.stop()


def listen(started, msg_type: str, topic: str) -> Inbox:
    inbox = Inbox()
    node = started(None, f"listener_{abs(hash(topic)) % 10000}")
    node.create_subscription(msg_type, topic, inbox, QOS_DEFAULT)
    return inbox


def test_sim_arm_driven_by_act_at_the_configured_rate(started) -> None:
    commands = listen(started, "trajectory_msgs/msg/JointTrajectory", "/joint_trajectory")
    diags = listen(started, "diagnostic_msgs/msg/DiagnosticArray", "/diagnostics")
    preview = listen(started, "trajectory_msgs/msg/JointTrajectory", "/policy/chunk_preview")
    markers = listen(started, "visualization_msgs/msg/MarkerArray", "/policy/ee_path")
    states = listen(started, "sensor_msgs/msg/JointState", "/joint_states")
    sim = started(SimNode, "sim", camera_width=64, camera_height=48, seed=1)
    policy = started(PolicyNode, "policy", **act_params(fps=15.0, estop_service="/sim/estop"))
    start_pose = np.array(states.wait().position)
    commands.wait_count(30)
    t0, n0 = time.monotonic(), len(commands.messages)
    time.sleep(2.0)
    rate = (len(commands.messages) - n0) / (time.monotonic() - t0)
    assert rate > 15.0 * 0.7, f"commands at {rate:.1f} Hz, configured 15"
    msg = commands.messages[-1]
    assert list(msg.joint_names) == JOINTS and len(msg.points) == 1
    assert stamp_to_sec(msg.points[0].time_from_start) == pytest.approx(1 / 15, abs=1e-6)
    assert policy.stats()["merges"] >= 1 and policy.counters["policy_ticks"] > 0
    chunk = preview.wait()
    assert list(chunk.joint_names) == JOINTS and 1 <= len(chunk.points) <= 10
    line = markers.wait().markers[0]
    assert line.type == 4 and len(line.points) == len(preview.messages[0].points)
    assert 0.0 < np.linalg.norm([line.points[0].x, line.points[0].y, line.points[0].z]) < 0.6  # within reach
    status = diags.wait(lambda m: any(s.name.endswith("policy") for s in m.status)).status[0]
    keys = {kv.key for kv in status.values}
    assert {"rate_hz", "period_error_ms_p50", "period_error_ms_p99", "inference_latency_ms_p50",
            "inference_latency_ms_p99", "queue_depth", "starvation"} <= keys
    moved = np.abs(np.array(states.messages[-1].position) - start_pose).max()
    assert moved > 0.01, "the policy's commands did not move the simulated arm"
    assert "cube" in policy.task  # from the sim's /task topic
    assert sim.driver is not None


def test_frozen_camera_falls_back_within_one_control_period(started, fake_robot) -> None:
    robot = fake_robot(wrist_encoding="bgr8")
    commands = listen(started, "trajectory_msgs/msg/JointTrajectory", "/joint_trajectory")
    policy = started(PolicyNode, "policy", **act_params(fps=20.0, max_observation_age_s=0.3))
    commands.wait_count(20)
    assert policy.counters["policy_ticks"] > 0 or policy.engine.counters["requests"] > 0
    # RGB order: the wrist camera sends bgr8, the front rgb8 — both reach the policy as the same RGB frame
    snap = policy.buffer.snapshot()
    front, wrist = snap.data["observation.images.front"], snap.data["observation.images.wrist"]
    assert front.shape == wrist.shape == (96, 128, 3)
    np.testing.assert_array_equal(front, wrist)
    assert front[..., 0].mean() == pytest.approx(200, abs=1) and front[..., 2].max() > 40
    seen = len(policy.transitions)
    robot.cameras_frozen.set()
    frozen_at = time.monotonic()
    commands.wait(lambda m: any(stale for _i, _k, stale in list(policy.transitions)[seen:]), timeout=10)
    tick, kind, _ = next(t for t in list(policy.transitions)[seen:] if t[2])
    assert kind == "fallback"  # the very tick the observation went stale already commands the fallback
    n = len(commands.messages)
    time.sleep(0.3)
    held = [np.array(m.points[0].positions) for m in commands.messages[n:]]
    assert len(held) >= 3, "commands must keep flowing while holding"
    for positions in held:  # hold = the measured position when the fallback began
        np.testing.assert_allclose(positions, robot.positions, atol=1e-9)
    assert all(k == "fallback" for i, k, _ in policy.transitions if i >= tick)
    assert time.monotonic() - frozen_at < 5


@pytest.mark.parametrize("command_type", ["forward", "joint_state"])
def test_command_types_order_joints_and_compressed_camera(started, fake_robot, command_type) -> None:
    robot = fake_robot(front_compressed=True)
    msg_type, topic = {"forward": ("std_msgs/msg/Float64MultiArray", "/forward_position_controller/commands"),
                       "joint_state": ("sensor_msgs/msg/JointState", "/joint_commands")}[command_type]
    commands = listen(started, msg_type, topic)
    # the checkpoint's action columns named in reverse joint order; every observation stale -> hold
    policy = started(PolicyNode, "policy", **act_params(
        command_type=command_type, action_names=JOINTS[::-1], max_observation_age_s=1e-6,
        **{"camera.front.topic": "/front/image_raw/compressed",
           "camera.front.type": "sensor_msgs/msg/CompressedImage"}))
    msgs = commands.wait_count(3)
    if command_type == "forward":  # all joints, in `joints` order, whatever the checkpoint's order
        np.testing.assert_allclose(msgs[-1].data, robot.positions)
    else:
        assert list(msgs[-1].name) == JOINTS[::-1]
        np.testing.assert_allclose(msgs[-1].position, robot.positions[::-1])
    front = policy.buffer.snapshot().data["observation.images.front"]
    assert front.shape == (96, 128, 3) and front[..., 0].mean() == pytest.approx(200, abs=1)  # PNG, RGB order


def test_refuses_to_start_when_a_feature_has_no_source(started) -> None:
    commands = listen(started, "trajectory_msgs/msg/JointTrajectory", "/joint_trajectory")
    with pytest.raises(PolicyStartupError, match="observation.images.wrist"):
        started(PolicyNode, "policy", **act_params(cameras=["front"]))
    with pytest.raises(PolicyStartupError, match=r"action names \['gripper'\]"):
        started(PolicyNode, "policy", **act_params(joints=JOINTS[:5]))
    with pytest.raises(PolicyStartupError, match="4 names"):
        started(PolicyNode, "policy", **act_params(action_names=JOINTS[:4]))
    time.sleep(0.5)
    assert commands.messages == []  # the robot never moved


def test_services_pause_resume_stop_and_estop_passthrough(started, fake_robot) -> None:
    fake_robot()
    estops: list[bool] = []
    driver = started(None, "robot_driver")
    driver.create_service("std_srvs/srv/SetBool", "/robot_driver/estop",
                          lambda req: (estops.append(bool(req.data)),
                                       make("std_srvs/srv/SetBool_Response", success=True, message="held"))[1])
    commands = listen(started, "trajectory_msgs/msg/JointTrajectory", "/joint_trajectory")
    policy = started(PolicyNode, "policy", **act_params(estop_service="/robot_driver/estop", autostart=False))
    client = started(None, "operator")
    call = {name: client.create_client("std_srvs/srv/Trigger", f"/policy/{name}")
            for name in ("start", "stop", "pause", "resume", "reset")}
    time.sleep(0.5)
    assert commands.messages == [] and policy.state == "stopped"
    assert call["start"].call(timeout_s=5).success
    commands.wait_count(5)
    assert call["pause"].call(timeout_s=5).success
    time.sleep(0.2)
    n = len(commands.messages)
    time.sleep(0.4)
    assert len(commands.messages) == n, "a paused policy publishes nothing"
    assert not call["start"].call(timeout_s=5).message.startswith("already")
    assert call["reset"].call(timeout_s=5).success and policy.engine.episode_id >= 2
    estop = client.create_client("std_srvs/srv/SetBool", "/policy/estop")
    resp = estop.call(make("std_srvs/srv/SetBool_Request", data=True), timeout_s=5)
    assert resp.success and "held" in resp.message and estops == [True] and policy.state == "estop"
    time.sleep(0.2)
    n = len(commands.messages)
    time.sleep(0.4)
    assert len(commands.messages) == n
    assert not call["resume"].call(timeout_s=5).success  # still e-stopped
    estop.call(make("std_srvs/srv/SetBool_Request", data=False), timeout_s=5)
    assert estops == [True, False] and policy.state == "paused"
    assert call["resume"].call(timeout_s=5).success
    commands.wait_count(n + 3)
    assert call["stop"].call(timeout_s=5).success and policy.state == "stopped"


@pytest.fixture
def policy_server(zenoh_router) -> Iterator:
    """``serve(action_names=JOINTS)``: the upstream ACT fixture behind a PolicyServer on the test router."""
    from lerobot_core.inference.manifest import ModelSpec, PolicyServerManifest, ZenohSpec
    from lerobot_core.inference.server import PolicyServer

    from .conftest import ACT

    servers: list[PolicyServer] = []

    def serve(action_names: list[str] = JOINTS) -> PolicyServer:
        manifest = PolicyServerManifest(model=ModelSpec(repo_or_path=str(ACT), device="cpu"),
                                        zenoh=ZenohSpec(mode="client", connect_endpoints=[zenoh_router]),
                                        action_names=list(action_names), trained_fps=10.0, health_port=0,
                                        warmup_inferences=1)
        server = PolicyServer(manifest)
        server.load_policy()
        server.start()
        servers.append(server)
        return server

    yield serve
    for server in servers:
        server.stop()


def remote_params(zenoh_router: str, **overrides) -> dict:
    return act_params(inference="remote", **{"remote.endpoint": zenoh_router, "remote.jpeg_quality": 0},
                      request_timeout_s=1.0, reconnect_max_backoff_s=0.5, **overrides)


def test_remote_server_refusing_the_action_names_refuses_start(started, policy_server, zenoh_router) -> None:
    policy_server(action_names=[f"{j}.pos" for j in JOINTS])
    commands = listen(started, "trajectory_msgs/msg/JointTrajectory", "/joint_trajectory")
    with pytest.raises(PolicyStartupError, match="refused this robot.*mismatch"):
        started(PolicyNode, "policy", **remote_params(zenoh_router))
    time.sleep(0.3)
    assert commands.messages == []


def test_remote_server_loss_holds_and_streaming_resumes(started, fake_robot, policy_server, zenoh_router) -> None:
    robot = fake_robot()
    commands = listen(started, "trajectory_msgs/msg/JointTrajectory", "/joint_trajectory")
    server = policy_server()
    policy = started(PolicyNode, "policy", **remote_params(zenoh_router))
    commands.wait(lambda m: policy.counters["policy_ticks"] >= 5, timeout=30)
    assert policy.engine.state.value in ("STREAMING", "DEGRADED")
    server.stop()  # the server goes away
    lost = len(policy.transitions)
    commands.wait(lambda m: any(k == "fallback" for _i, k, _s in list(policy.transitions)[lost:]), timeout=15)
    time.sleep(0.3)
    n = len(commands.messages)
    time.sleep(0.3)
    held = [np.array(m.points[0].positions) for m in commands.messages[n:]]
    assert held and all(np.allclose(h, robot.positions) for h in held), "the arm must hold while the server is away"
    back = len(policy.transitions)
    policy_server()  # the server returns
    commands.wait(lambda m: any(k == "policy" for _i, k, _s in list(policy.transitions)[back:]), timeout=30)
    assert policy.engine.counters["reconnects"] >= 1
