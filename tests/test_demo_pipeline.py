"""The README's main job: record in simulation → train ACT → the policy drives the simulated arm."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from lerobot_core.datasets import LeRobotDataset


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
@pytest.mark.e2e
def test_demo_records_trains_and_drives_the_simulated_arm(tmp_path: Path) -> None:
    root, out = tmp_path / "data" / "sim", tmp_path / "outputs" / "act"
    cmd = [sys.executable, "-m", "lerobot_ros.cli", "demo", f"--root={root}", f"--output-dir={out}",
           "--episodes=1", "--episode-time-s=3", "--steps=2", "--batch-size=2", "--run-seconds=3",
           f"--router=tcp/127.0.0.1:{_free_port()}"]  # fmt: skip
    env = {**os.environ, "MUJOCO_GL": os.environ.get("MUJOCO_GL", "osmesa")}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=480, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    summary = json.loads(proc.stdout[proc.stdout.index("{") : proc.stdout.rindex("}") + 1])
    assert summary["record"]["episodes"] == 1 and summary["record"]["frames"] >= 60
    assert summary["train"]["steps"] == 2
    assert summary["run"]["commands"] > 10 and summary["run"]["command_rate_hz"] > 15
    dataset = LeRobotDataset("local/sim", root=root)
    assert dataset.num_episodes == 1 and set(dataset.meta.camera_keys) >= {"observation.images.front"}
    assert (out / "checkpoints" / "last" / "pretrained_model" / "model.safetensors").is_file()
    assert "lerobot-core train" in proc.stdout  # tells the user how to go further

    # Re-running keeps the recorded data and the checkpoint (never overwritten) and still drives the arm.
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=480, env=env, cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert '"skipped"' in again.stdout and LeRobotDataset("local/sim", root=root).num_episodes == 1
