"""SO-101 / Koch followers and leaders against the bus emulator: calibration flow, I/O, safety clip."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from lerobot_core.cameras import PatternCameraConfig
from lerobot_core.motors.emulator import ServoBusEmulator
from lerobot_core.robots.config import (
    KochFollowerConfig,
    KochLeaderConfig,
    SO101FollowerConfig,
    SO101LeaderConfig,
)
from lerobot_core.robots.factory import make_robot, make_teleoperator
from lerobot_core.robots.koch import FOLLOWER_MODELS, LEADER_MODELS
from lerobot_core.robots.safety import ensure_safe_goal_position
from lerobot_core.robots.so101_model import JOINT_NAMES

KEYS = [f"{n}.pos" for n in JOINT_NAMES]


def _register_soon(emu: ServoBusEmulator, motor_id: int, name: str, expected: int) -> int:
    """Sync writes get no reply: give the emulator thread a moment to process the packet."""
    deadline = time.monotonic() + 2.0
    while (value := emu.register(motor_id, name)) != expected and time.monotonic() < deadline:
        time.sleep(0.005)
    return value


def _scripted_user(emu: ServoBusEmulator, move):
    """A 'user' who answers prompts and, while ranges are recorded, sweeps each joint through 1000..3000."""
    prompts: list[str] = []

    def prompt(message: str) -> str:
        prompts.append(message)
        if "Press ENTER to stop" in message:
            for i in sorted(emu.motors):
                for ticks in (1000, 3000, 2047):
                    move(emu, i, ticks)
        return "c" if "calibration file" in message else ""

    return prompt, prompts


@pytest.fixture
def feetech():
    emu = ServoBusEmulator("feetech", {i: "sts3215" for i in range(1, 7)})
    for i in range(1, 7):
        emu.set_position(i, 1500 + 50 * i)  # wherever the user left the arm
    yield emu
    emu.close()


def test_so101_follower_calibrates_saves_upstream_json_and_reuses_it(feetech, tmp_path: Path, move_by_hand) -> None:
    config = SO101FollowerConfig(port=feetech.port, id="arm", calibration_dir=tmp_path)
    robot = make_robot(config)
    prompt, prompts = _scripted_user(feetech, move_by_hand)
    robot.bus.connect()
    calib = robot.calibrate(prompt=prompt)
    robot.configure()
    saved = json.loads((tmp_path / "arm.json").read_text())
    assert list(saved) == list(JOINT_NAMES)
    assert saved["elbow_flex"] == {"id": 3, "drive_mode": 0, "homing_offset": 1650 - 2047, "range_min": 1000, "range_max": 3000}
    assert calib["gripper"].range_max == 3000 and "middle" in prompts[0]
    assert robot.is_calibrated
    obs = robot.get_observation()
    assert list(obs) == KEYS
    assert obs["shoulder_pan.pos"] == pytest.approx((2047 - 1000) / 2000 * 200 - 100)
    assert obs["gripper.pos"] == pytest.approx((2047 - 1000) / 2000 * 100)
    robot.disconnect()
    assert feetech.register(1, "Torque_Enable") == 0

    # A second session finds the file; ENTER reuses it without recording anything.
    again = make_robot(config)
    assert again.calibration == calib
    answers: list[str] = []
    again.connect(prompt=lambda msg: answers.append(msg) or "")
    assert len(answers) == 0 or "calibration file" in answers[0]
    assert again.is_calibrated
    again.disconnect()


def _connected_follower(emu, tmp_path: Path, move_by_hand, **kwargs):
    config = SO101FollowerConfig(port=emu.port, id="f", calibration_dir=tmp_path, **kwargs)
    robot = make_robot(config)
    prompt, _ = _scripted_user(emu, move_by_hand)
    robot.connect(prompt=prompt)
    return robot


def test_send_action_moves_the_arm_and_max_relative_target_clips(feetech, tmp_path: Path, move_by_hand) -> None:
    robot = _connected_follower(feetech, tmp_path, move_by_hand, max_relative_target={"shoulder_pan": 10.0})
    start = robot.get_observation()
    sent = robot.send_action({"shoulder_pan.pos": start["shoulder_pan.pos"] + 40.0, "elbow_flex.pos": 30.0})
    assert sent["shoulder_pan.pos"] == pytest.approx(start["shoulder_pan.pos"] + 10.0, abs=0.15)
    assert sent["elbow_flex.pos"] == pytest.approx(30.0)  # no cap configured for this joint
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        obs = robot.get_observation()
        if abs(obs["elbow_flex.pos"] - 30.0) < 0.2:
            break
        time.sleep(0.01)
    assert obs["elbow_flex.pos"] == pytest.approx(30.0, abs=0.2)
    assert obs["shoulder_pan.pos"] == pytest.approx(sent["shoulder_pan.pos"], abs=0.2)
    with pytest.raises(KeyError, match="unknown joints"):
        robot.send_action({"elbow.pos": 1.0})
    robot.disconnect()


def test_radians_units_and_cameras_in_the_observation(feetech, tmp_path: Path, move_by_hand) -> None:
    cams = {"front": PatternCameraConfig(fps=60, width=64, height=48)}
    robot = _connected_follower(feetech, tmp_path, move_by_hand, units="radians", cameras=cams, max_relative_target=0.1)
    obs = robot.get_observation()
    assert obs["front"].shape == (48, 64, 3)
    assert obs["wrist_flex.pos"] == pytest.approx(0.0, abs=1e-9)  # the calibration pose is 0 rad
    sent = robot.send_action({"wrist_flex.pos": 1.0})
    assert sent["wrist_flex.pos"] == pytest.approx(0.1)
    assert robot.observation_features["front"] == (48, 64, 3)
    robot.disconnect()


def test_so101_leader_reads_hand_motion_and_accepts_feedback(feetech, tmp_path: Path, move_by_hand) -> None:
    leader = make_teleoperator(SO101LeaderConfig(port=feetech.port, id="l", calibration_dir=tmp_path))
    prompt, _ = _scripted_user(feetech, move_by_hand)
    leader.connect(prompt=prompt)
    assert (tmp_path / "l.json").is_file()
    assert feetech.register(2, "Torque_Enable") == 0  # passive, moved by hand
    feetech.set_position(2, 2547)
    action = leader.get_action()
    assert list(action) == KEYS
    assert action["shoulder_lift.pos"] == pytest.approx((2547 - 1000) / 2000 * 200 - 100)
    leader.enable_torque()
    leader.send_feedback({"shoulder_lift.pos": 0.0})
    assert _register_soon(feetech, 2, "Goal_Position", 2000) == 2000
    leader.disconnect()


def test_koch_follower_and_leader_on_dynamixel(tmp_path: Path, move_by_hand) -> None:
    for config_cls, models, factory in (
        (KochFollowerConfig, FOLLOWER_MODELS, make_robot),
        (KochLeaderConfig, LEADER_MODELS, make_teleoperator),
    ):
        emu = ServoBusEmulator("dynamixel", dict(enumerate(models, 1)))
        try:
            arm = factory(config_cls(port=emu.port, id="k", calibration_dir=tmp_path / config_cls.__name__))
            prompt, _ = _scripted_user(emu, move_by_hand)
            arm.connect(prompt=prompt)
            assert emu.register(1, "Operating_Mode") == 4  # extended position
            assert emu.register(6, "Operating_Mode") == 5  # current-based position gripper
            if factory is make_robot:
                assert emu.register(3, "Position_P_Gain") == 1500
                arm.send_action({"wrist_roll.pos": 20.0})
                assert _register_soon(emu, 5, "Goal_Position", 2200) == round(1000 + 120 / 200 * 2000)
                assert list(arm.get_observation()) == KEYS
            else:
                assert emu.register(6, "Torque_Enable") == 1
                assert emu.register(6, "Goal_Position") == 2000  # gripper_open_pos 50 %
                assert list(arm.get_action()) == KEYS
            arm.disconnect()
        finally:
            emu.close()


def test_ensure_safe_goal_position() -> None:
    safe = ensure_safe_goal_position({"a": (10.0, 0.0), "b": (-10.0, 0.0), "c": (1.0, 0.0)}, 5.0)
    assert safe == {"a": 5.0, "b": -5.0, "c": 1.0}
    assert ensure_safe_goal_position({"a": (10.0, 0.0), "b": (10.0, 0.0)}, {"a": 2.0}) == {"a": 2.0, "b": 10.0}
    with pytest.raises(ValueError, match=">= 0"):
        ensure_safe_goal_position({"a": (1.0, 0.0)}, -1.0)


def test_unknown_robot_types_and_units_are_rejected() -> None:
    with pytest.raises(ValueError, match="units must be one of"):
        SO101FollowerConfig(units="ticks")
