"""The simulated SO-101 (sim node, scripted teleop) + recorder in automatic mode over the native backend, and
the `lerobot-ros record-demo` one-liner. A listener in the test keeps what the simulation published: every
recorded state, image and action is traced back to the messages published at those stamps."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import yaml
from lerobot_ros.runtime import QOS_DEFAULT, Node
from lerobot_ros.runtime.conversions import image_to_numpy, stamp_to_ns

from lerobot_core.datasets import LeRobotDataset
from lerobot_core.recording import REPORT_PATH

from .conftest import start_node, stop

W, H = 64, 48
JOINTS = ["shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll", "gripper"]


class Listener:
    def __init__(self, ctx):
        self.node = Node("sim_listener", context=ctx, enable_rosout=False)
        self.lock = threading.Lock()
        self.states: dict[bytes, list[int]] = {}  # float32 positions -> stamps (the arm may rest)
        self.images: dict[str, dict[int, np.ndarray]] = {"front": {}, "wrist": {}}
        self.commands: list[tuple[int, np.ndarray]] = []
        self.node.create_subscription("sensor_msgs/msg/JointState", "/joint_states", self.on_state, QOS_DEFAULT)
        self.node.create_subscription("sensor_msgs/msg/JointState", "/joint_commands", self.on_command, QOS_DEFAULT)
        for cam in self.images:
            self.node.create_subscription("sensor_msgs/msg/Image", f"/{cam}/image_raw", self.on_image(cam), QOS_DEFAULT)

    def on_state(self, msg):
        with self.lock:
            key = np.asarray(msg.position, np.float32).tobytes()
            self.states.setdefault(key, []).append(stamp_to_ns(msg.header.stamp))

    def on_command(self, msg):
        with self.lock:
            self.commands.append((stamp_to_ns(msg.header.stamp), np.asarray(msg.position, np.float32)))

    def on_image(self, cam):
        def cb(msg):
            with self.lock:
                self.images[cam][stamp_to_ns(msg.header.stamp)] = image_to_numpy(msg).copy()
        return cb


@pytest.mark.e2e
@pytest.mark.slow
def test_sim_scripted_teleop_recorder_auto_mode(tmp_path, router_env, make_context):
    listener = Listener(make_context())
    sim = start_node("sim", {"scripted_teleop": True, "auto_reset": False, "episode_time_s": 3600.0,
                             "camera_width": W, "camera_height": H}, tmp_path, router_env)  # fmt: skip
    root = tmp_path / "ds"
    rec = start_node("recorder", {
        "auto": True, "num_episodes": 2, "episode_time_s": 1.5, "reset_time_s": 0.5, "reset_service": "/sim/reset",
        "state.joints": JOINTS, "cameras": ["front", "wrist"], "camera.front.topic": "/front/image_raw",
        "camera.wrist.topic": "/wrist/image_raw", "task_topic": "/task", "dataset.repo_id": "test/sim",
        "dataset.root": str(root), "dataset.use_videos": False, "dataset.robot_type": "so101_follower"},
        tmp_path, router_env)  # fmt: skip
    try:
        assert rec.wait(120) == 0, (tmp_path / "recorder.log").read_text()
    finally:
        stop(rec)
        stop(sim)
        listener.node.destroy()
    ds = LeRobotDataset("test/sim", root=root)
    assert ds.num_episodes == 2 and ds.fps == 30 and ds.meta.robot_type == "so101_follower"
    reports = json.loads((root / REPORT_PATH).read_text())["episodes"]
    assert [r["ticks"] for r in reports] == [45, 45]
    assert [ds.meta.episodes[i]["length"] for i in range(2)] == [r["length"] for r in reports]
    assert all(r["length"] + r["dropped_ticks"] + r["queue_full_drops"] == 45 for r in reports)
    assert set(json.loads((root / "meta" / "camera_info.json").read_text())) == {"front", "wrist"}
    commands = sorted(listener.commands, key=lambda c: c[0])
    aligned = 0
    stamps = []
    for i in range(len(ds)):
        item = ds[i]
        assert item["task"] == "Pick up the red cube and place it in the blue bin."
        assert float(item["timestamp"]) == pytest.approx(int(item["frame_index"]) / 30, abs=1e-6)
        candidates = listener.states[item["observation.state"].numpy().tobytes()]  # states the sim published
        images = {cam: (item[f"observation.images.{cam}"].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
                  for cam in ("front", "wrist")}  # fmt: skip
        # lossless: exactly the frames the sim rendered at the stamp of that state
        matching = [s for s in candidates if all(np.array_equal(images[c], listener.images[c][s]) for c in images)]
        assert matching, f"row {i}: no published state+images with these values"
        after = [s for s in matching if not stamps or s > stamps[-1]]
        stamp = after[0] if after else matching[-1]
        stamps.append(stamp)
        action = item["action"].numpy()
        assert any(np.array_equal(action, c) for _, c in commands)  # a command the teleop sent
        latest = [c for s, c in commands if s <= stamp][-1]  # the command in force at that state
        aligned += np.array_equal(action, latest)
    assert aligned >= 0.9 * len(ds)
    # frames advance with time, one per period except counted drops
    for e, report in enumerate(reports):
        start = ds.meta.episodes[e]["dataset_from_index"]
        steps = np.diff(stamps[start:start + report["length"]]) / (1e9 / 30)
        assert np.all(steps > 0.5) and round(float(steps.sum())) <= 44


@pytest.mark.e2e
@pytest.mark.slow
def test_record_demo_one_liner(tmp_path, zenoh_router):
    root = tmp_path / "data" / "so101_sim_demo"
    cmd = [sys.executable, "-m", "lerobot_ros.cli", "record-demo", "--episodes", "2", "--episode-time-s", "1",
           "--reset-time-s", "0.2", "--width", "32", "--height", "24", "--root", str(root), "--router", zenoh_router,
           "--quiet"]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=240, cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"lerobot-core dataset info {root}" in out.stdout and "--policy.type=act" in out.stdout
    ds = LeRobotDataset("local/so101_sim_demo", root=root)
    assert ds.num_episodes == 2 and ds.num_frames > 40
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert again.returncode == 2 and "--resume" in again.stderr  # never records over a dataset by accident


def test_record_launch_file_starts_sim_description_and_recorder(repo_root):
    from lerobot_ros.launch_runner import load_launch_file
    from lerobot_ros.run import node_table

    nodes, declared = load_launch_file(repo_root / "launch" / "so101_sim_record.launch.yaml",
                                       {"num_episodes": "3", "root": "data/x"}, executables=node_table())
    nodes = {n.label: n for n in nodes}
    assert sorted(nodes) == ["recorder", "robot_description", "sim"]
    assert {"num_episodes", "episode_time_s", "reset_time_s", "root", "repo_id", "resume"} <= {a.name for a in declared}
    inline = nodes["recorder"].params[-1]
    assert inline["num_episodes"] == 3 and inline["dataset.root"] == "data/x"
    files = [p for p in nodes["recorder"].params if isinstance(p, str)]
    assert [Path(f).name for f in files] == ["recorder.yaml", "recorder_sim_demo.yaml"]
    demo = yaml.safe_load(Path(files[1]).read_text())["recorder"]["ros__parameters"]
    assert demo["auto"] is True and demo["reset_service"] == "/sim/reset"
    assert nodes["sim"].params[-1]["scripted_teleop"] is True
