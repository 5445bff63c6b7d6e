"""The SO-101 launch files: what they start (parsed by the launch runner), and so101_sim.launch.yaml end to end
through `lerobot-ros launch` (a subscriber gets joint states and images; a command moves the simulated arm)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from helpers.inbox import Inbox
from lerobot_ros.launch_runner import load_launch_file
from lerobot_ros.run import node_table
from lerobot_ros.runtime import QOS_DEFAULT, QOS_TRANSIENT_LOCAL, Node, make

from lerobot_core.robots.so101_model import JOINT_NAMES


def _load(repo_root: Path, name: str, **args: str):
    nodes, declared = load_launch_file(repo_root / "launch" / name, args, executables=node_table())
    return {n.label: n for n in nodes}, {a.name for a in declared}


def _param_keys(spec) -> set[str]:
    keys: set[str] = set()
    for entry in spec.params:
        if isinstance(entry, str):
            keys |= set(yaml.safe_load(Path(entry).read_text()))
    return keys


def test_so101_launch_starts_driver_cameras_teleop_and_description(repo_root: Path) -> None:
    nodes, declared = _load(repo_root, "so101.launch.yaml", teleop="true", port="/dev/ttyUSB3")
    assert {"port", "robot_id", "cameras", "teleop", "leader_port", "leader_id", "use_ros", "rviz"} <= declared
    assert sorted(nodes) == ["front", "robot_description", "robot_driver", "teleop", "wrist"]
    assert [n.exec for n in (nodes["front"], nodes["wrist"])] == ["camera", "camera"]
    for label in ("robot_driver", "front", "wrist", "teleop"):
        assert label in _param_keys(nodes[label]), f"the config file has no section for node {label}"
    assert nodes["robot_driver"].params[-1] == {"port": "/dev/ttyUSB3", "id": "my_so101_follower"}
    nodes, _ = _load(repo_root, "so101.launch.yaml", cameras="false")
    assert sorted(nodes) == ["robot_description", "robot_driver"]


def test_so101_sim_launch_nodes_and_ros_only_parts(repo_root: Path) -> None:
    nodes, declared = _load(repo_root, "so101_sim.launch.yaml", scripted_teleop="true")
    assert {"scripted_teleop", "seed", "camera_width", "camera_height", "use_ros", "rviz"} <= declared
    assert sorted(nodes) == ["robot_description", "sim"]
    assert "sim" in _param_keys(nodes["sim"])
    assert nodes["sim"].params[-1]["scripted_teleop"] is True
    # the ROS-only nodes are there for `ros2 launch ... use_ros:=true rviz:=true`, with the rviz config we ship
    text = yaml.safe_load((repo_root / "launch" / "so101_sim.launch.yaml").read_text())["launch"]
    pkgs = {e["node"]["pkg"] for e in text if "node" in e}
    assert {"robot_state_publisher", "rviz2"} <= pkgs
    rviz = yaml.safe_load((repo_root / "config" / "so101.rviz").read_text())
    topics = {d.get("Topic", d.get("Description Topic", {})).get("Value") for d in rviz["Visualization Manager"]["Displays"]
              if isinstance(d.get("Topic", d.get("Description Topic")), dict)}  # fmt: skip
    assert topics == {"/robot_description", "/front/image_raw", "/wrist/image_raw"}


@pytest.mark.e2e
def test_so101_sim_launch_runs_and_a_command_moves_the_arm(tmp_path: Path, zenoh_router: str, make_context) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("ZENOH_CONFIG_OVERRIDE", "ZENOH_SESSION_CONFIG_URI")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "lerobot_ros.cli", "launch", "lerobot_ros", "so101_sim.launch.yaml",
         "camera_width:=64", "camera_height:=48", "--router", zenoh_router, "--log-dir", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, start_new_session=True,
    )  # fmt: skip
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(line.rstrip("\n") for line in proc.stdout), daemon=True).start()
    client = Node("e2e_client", context=make_context())
    try:
        states, images, descriptions = Inbox(), Inbox(), Inbox()
        client.create_subscription("sensor_msgs/msg/JointState", "/joint_states", states, QOS_DEFAULT)
        client.create_subscription("sensor_msgs/msg/Image", "/front/image_raw", images, QOS_DEFAULT)
        client.create_subscription("std_msgs/msg/String", "/robot_description", descriptions, QOS_TRANSIENT_LOCAL)
        first = states.wait(timeout=60)
        assert list(first.name) == list(JOINT_NAMES), "\n".join(lines)
        image = images.wait(timeout=30)
        assert (image.height, image.width, image.encoding) == (48, 64, "rgb8")
        assert "<robot name=\"so101\">" in descriptions.wait(timeout=30).data
        pub = client.create_publisher("std_msgs/msg/Float64MultiArray", "/forward_position_controller/commands",
                                      QOS_DEFAULT)  # fmt: skip
        target = np.array([0.5, -1.0, 1.2, 1.3, 0.0, 0.0])  # pan 0.5 rad from the home pose
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (states.messages and abs(states.messages[-1].position[0] - 0.5) < 0.03):
            pub.publish(make("std_msgs/msg/Float64MultiArray", data=target))
            time.sleep(0.2)
        assert abs(states.messages[-1].position[0] - 0.5) < 0.03, "\n".join(lines[-30:])
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0, "\n".join(lines)
    finally:
        client.destroy()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    time.sleep(0.3)
    text = "\n".join(lines)
    assert "[INFO] [sim]: process has finished cleanly" in text
    assert "process has died" not in text and "Traceback" not in text


@pytest.mark.e2e
def test_sim_demo_reports_every_topic_flowing(zenoh_router: str) -> None:
    from lerobot_ros.nodes.sim_demo import WATCHED, run_sim_demo

    summary = run_sim_demo(duration_s=2.0, width=32, height=24, router=zenoh_router)
    assert summary["launch_exit_code"] == 0, summary
    assert summary["all_topics_flowed"], summary
    assert set(summary["topics"]) == set(WATCHED)
    assert summary["topics"]["/joint_states"]["rate_hz"] > 5
    assert "cube" in summary["task"]
