"""Smooth hand-over helpers on the simulated follower and an emulated SO-101 leader."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import pytest

from lerobot_core.motors.calibration import MotorCalibration, save_calibration
from lerobot_core.motors.emulator import ServoBusEmulator
from lerobot_core.robots.config import SO101LeaderConfig
from lerobot_core.robots.factory import make_teleoperator
from lerobot_core.robots.handover import (
    follower_smooth_move_to,
    teleop_smooth_move_to,
    teleop_supports_feedback,
)
from lerobot_core.robots.so101_model import JOINT_NAMES
from lerobot_core.sim.env import SO101Sim, SO101SimConfig


def test_follower_smooth_move_reaches_the_target_without_jumps() -> None:
    sim = SO101Sim(SO101SimConfig(cameras=[]))
    current = {f"{n}.pos": float(v) for n, v in zip(JOINT_NAMES, sim.joint_positions())}
    target = dict(current, **{"shoulder_pan.pos": 0.6, "elbow_flex.pos": 0.8})
    commands = []
    original = sim.send_action

    def record(action):
        commands.append(action["shoulder_pan.pos"])
        return original(action)

    sim.send_action = record
    follower_smooth_move_to(sim, current, target, duration_s=1.0, fps=30, sleep=lambda _: sim.step())
    for _ in range(15):
        sim.step()
    assert len(commands) == 31 and commands[-1] == pytest.approx(0.6)
    assert max(abs(b - a) for a, b in itertools.pairwise(commands)) < 0.03  # small steps
    assert sim.joint_positions()[0] == pytest.approx(0.6, abs=0.02)
    sim.close()


def test_teleop_smooth_move_drives_an_actuated_leader(tmp_path: Path) -> None:
    emu = ServoBusEmulator("feetech", {i: "sts3215" for i in range(1, 7)})
    try:
        save_calibration(tmp_path / "l.json", {n: MotorCalibration(i, 0, 0, 1000, 3000) for i, n in enumerate(JOINT_NAMES, 1)})
        leader = make_teleoperator(SO101LeaderConfig(port=emu.port, id="l", calibration_dir=tmp_path))
        leader.connect(prompt=lambda message: "")
        assert teleop_supports_feedback(leader)
        teleop_smooth_move_to(leader, {"gripper.pos": 90.0}, duration_s=0.2, fps=50, sleep=lambda _: None)
        assert emu.register(6, "Torque_Enable") == 1
        deadline = time.monotonic() + 2.0
        while emu.register(6, "Goal_Position") != 2800 and time.monotonic() < deadline:
            time.sleep(0.005)
        assert emu.register(6, "Goal_Position") == 2800  # 90 % of 1000..3000
        leader.disconnect()
    finally:
        emu.close()
