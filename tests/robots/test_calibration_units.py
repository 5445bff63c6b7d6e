"""Upstream calibration JSON, and the unit conversions (ticks, radians, upstream normalized, degrees)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lerobot_core.motors.calibration import (
    MotorCalibration,
    MotorNormMode,
    calibration_from_limits,
    calibration_path,
    convert,
    load_calibration,
    radians_to_upstream,
    save_calibration,
    ticks_to_value,
    upstream_to_radians,
    value_to_ticks,
)
from lerobot_core.robots.so101_model import joint_limits

# A real SO-101 follower file as upstream writes it (values from a calibrated arm).
UPSTREAM_FILE = {
    "shoulder_pan": {"id": 1, "drive_mode": 0, "homing_offset": -1470, "range_min": 758, "range_max": 3292},
    "shoulder_lift": {"id": 2, "drive_mode": 0, "homing_offset": 157, "range_min": 612, "range_max": 3401},
    "elbow_flex": {"id": 3, "drive_mode": 0, "homing_offset": 1105, "range_min": 909, "range_max": 3096},
    "wrist_flex": {"id": 4, "drive_mode": 0, "homing_offset": -2061, "range_min": 808, "range_max": 3239},
    "wrist_roll": {"id": 5, "drive_mode": 0, "homing_offset": -323, "range_min": 0, "range_max": 4095},
    "gripper": {"id": 6, "drive_mode": 0, "homing_offset": 1195, "range_min": 2029, "range_max": 3473},
}
M = MotorNormMode


def test_upstream_calibration_file_round_trips_unchanged(tmp_path: Path) -> None:
    src = tmp_path / "in.json"
    src.write_text(json.dumps(UPSTREAM_FILE, indent=4))
    calib = load_calibration(src)
    assert calib["gripper"] == MotorCalibration(6, 0, 1195, 2029, 3473)
    out = tmp_path / "sub" / "out.json"
    save_calibration(out, calib)
    assert json.loads(out.read_text()) == UPSTREAM_FILE
    assert list(json.loads(out.read_text())["shoulder_pan"]) == ["id", "drive_mode", "homing_offset", "range_min", "range_max"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[1]", "expected an object"),
        ('{"a": {"id": 1}}', "lacks 'drive_mode'"),
        ('{"a": {"id": 1, "drive_mode": 0, "homing_offset": 0, "range_min": 5, "range_max": 5}}', "must exceed"),
        ('{"a": {"id": "1", "drive_mode": 0, "homing_offset": 0, "range_min": 0, "range_max": 5}}', "a.id must be an integer"),
        ("{", "not valid JSON"),
    ],
)
def test_bad_calibration_files_are_rejected_clearly(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "c.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=message):
        load_calibration(path)


def test_calibration_path_follows_upstream_layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_LEROBOT_HOME", str(tmp_path))
    assert calibration_path("robots", "so101_follower", "arm1") == tmp_path / "calibration/robots/so101_follower/arm1.json"
    assert calibration_path("teleoperators", "so101_leader", "x", tmp_path / "c") == tmp_path / "c/x.json"
    with pytest.raises(ValueError, match="kind"):
        calibration_path("robot", "so101_follower", "x")


def test_known_values_of_each_unit() -> None:
    c = MotorCalibration(1, 0, 0, 1000, 3000)
    assert ticks_to_value(2047, c, M.RADIANS) == 0.0
    assert ticks_to_value(2047 + 1024, c, M.RADIANS) == pytest.approx(math.pi / 2)
    assert ticks_to_value(2000, c, M.RANGE_M100_100) == 0.0
    assert ticks_to_value(1000, c, M.RANGE_M100_100) == -100.0
    assert ticks_to_value(3000, c, M.RANGE_0_100) == 100.0
    assert ticks_to_value(4000, c, M.RANGE_0_100) == 100.0  # clipped to the range
    assert ticks_to_value(2000 + 4095 / 4, c, M.DEGREES) == pytest.approx(90.0)
    flipped = MotorCalibration(1, 1, 0, 1000, 3000)
    assert ticks_to_value(1500, flipped, M.RANGE_M100_100) == 50.0
    assert ticks_to_value(1500, flipped, M.RANGE_0_100) == 75.0
    assert ticks_to_value(2047 + 1024, flipped, M.RADIANS) == pytest.approx(-math.pi / 2)


@settings(deadline=None)  # busy CI machines: no per-example time limit
@given(
    ticks=st.floats(min_value=1000, max_value=3000),
    drive_mode=st.sampled_from([0, 1]),
    mode=st.sampled_from(list(M)),
)
def test_ticks_to_units_and_back(ticks: float, drive_mode: int, mode: MotorNormMode) -> None:
    c = MotorCalibration(1, drive_mode, 0, 1000, 3000)
    assert value_to_ticks(ticks_to_value(ticks, c, mode), c, mode) == pytest.approx(ticks, abs=1e-6)


@settings(deadline=None)
@given(rad=st.floats(min_value=-1.5, max_value=1.5), mode=st.sampled_from([M.RANGE_M100_100, M.RANGE_0_100, M.DEGREES]))
def test_radians_to_upstream_and_back(rad: float, mode: MotorNormMode) -> None:
    c = MotorCalibration(3, 0, 0, 2047 - 1100, 2047 + 1100)  # ±1.69 rad
    value = radians_to_upstream(rad, c, mode)
    assert upstream_to_radians(value, c, mode) == pytest.approx(rad, abs=1e-9)
    assert convert(value, c, mode, M.RADIANS) == pytest.approx(rad, abs=1e-9)


def test_sim_calibration_maps_urdf_limits_to_the_full_upstream_range() -> None:
    limits = joint_limits()
    calib = calibration_from_limits(limits, {n: i for i, n in enumerate(limits, 1)})
    for name, (lo, hi) in limits.items():
        mode = M.RANGE_0_100 if name == "gripper" else M.RANGE_M100_100
        low_end = 0.0 if name == "gripper" else -100.0
        assert radians_to_upstream(lo, calib[name], mode) == pytest.approx(low_end, abs=0.1)
        assert radians_to_upstream(hi, calib[name], mode) == pytest.approx(100.0, abs=0.1)
