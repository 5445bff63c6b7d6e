"""The policy launch files: what they start, and so101_sim_policy.launch.yaml end to end through
`lerobot-ros launch` (sim + policy node with the upstream ACT fixture: commands flow, clean shutdown)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml
from helpers.inbox import Inbox
from lerobot_ros.launch_runner import load_launch_file
from lerobot_ros.run import node_table
from lerobot_ros.runtime import QOS_DEFAULT, Node

from .conftest import ACT, DATASET

REPO = Path(__file__).resolve().parents[2]


def _load(name: str, **args: str):
    nodes, declared = load_launch_file(REPO / "launch" / name, args, executables=node_table())
    return {n.label: n for n in nodes}, {a.name for a in declared}


def test_policy_launch_files_start_robot_cameras_and_policy() -> None:
    nodes, declared = _load("so101_policy.launch.yaml", policy_path="user/act_so101", port="/dev/ttyUSB0")
    assert {"policy_path", "units", "command_type", "inference", "remote_endpoint", "autostart", "port",
            "params_file"} <= declared
    assert sorted(nodes) == ["front", "policy", "robot_description", "robot_driver", "wrist"]
    params = nodes["policy"].params
    assert params[0].endswith("config/policy.yaml") and params[-1]["policy_path"] == "user/act_so101"
    assert yaml.safe_load(Path(params[0]).read_text())["policy"]["ros__parameters"]["estop_service"] == \
        "/robot_driver/estop"
    nodes, _ = _load("so101_sim_policy.launch.yaml", policy_path="ckpt", inference="remote")
    assert sorted(nodes) == ["policy", "robot_description", "sim"]
    params = nodes["policy"].params
    assert params[-1]["inference"] == "remote" and params[-1]["remote.endpoint"] == "tcp/localhost:7447"
    assert yaml.safe_load(Path(params[0]).read_text())["policy"]["ros__parameters"]["estop_service"] == "/sim/estop"


@pytest.mark.e2e
def test_sim_policy_launch_drives_the_arm(tmp_path: Path, zenoh_router: str, make_context) -> None:
    config = yaml.safe_load((REPO / "config" / "policy_sim.yaml").read_text())
    config["policy"]["ros__parameters"].update(dataset=str(DATASET), fps=10.0, diagnostics_period_s=0.5)
    params_file = tmp_path / "policy.yaml"
    params_file.write_text(yaml.safe_dump(config))
    env = {k: v for k, v in os.environ.items() if k not in ("ZENOH_CONFIG_OVERRIDE", "ZENOH_SESSION_CONFIG_URI")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "lerobot_ros.cli", "launch", "lerobot_ros", "so101_sim_policy.launch.yaml",
         f"policy_path:={ACT}", "units:=degrees", f"params_file:={params_file}", "camera_width:=64",
         "camera_height:=48", "--router", zenoh_router, "--log-dir", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, start_new_session=True,
    )  # fmt: skip
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(line.rstrip("\n") for line in proc.stdout), daemon=True).start()
    client = Node("e2e_client", context=make_context())
    try:
        commands, diags = Inbox(), Inbox()
        client.create_subscription("trajectory_msgs/msg/JointTrajectory", "/joint_trajectory", commands, QOS_DEFAULT)
        client.create_subscription("diagnostic_msgs/msg/DiagnosticArray", "/diagnostics", diags, QOS_DEFAULT)
        commands.wait_count(10, timeout=90)
        status = diags.wait(lambda m: m.status[0].name.endswith("policy") and any(
            kv.key == "merges" and int(kv.value) > 0 for kv in m.status[0].values), timeout=60).status[0]
        assert status.name == "/policy: policy"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0, "\n".join(lines)
    finally:
        client.destroy()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    text = "\n".join(lines)
    assert "[INFO] [policy]: process has finished cleanly" in text, text
    assert "Traceback" not in text, text
