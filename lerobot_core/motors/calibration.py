"""Motor calibration in upstream LeRobot's JSON format, and the explicit unit conversions built on it.

A calibration file maps motor names to ``{"id", "drive_mode", "homing_offset", "range_min", "range_max"}``
(integers, encoder ticks), exactly as upstream writes it under
``$HF_LEROBOT_HOME/calibration/{robots|teleoperators}/<type>/<id>.json`` — existing files are reused as is.

Units (``MotorNormMode``):

* ``range_m100_100`` / ``range_0_100`` — upstream's normalized joint and gripper values (datasets, policies);
* ``degrees`` — upstream's degrees, centred on the middle of the recorded range;
* ``radians`` — ROS (REP-103): 0 at the calibration pose (the encoder centre after half-turn homing).

All conversions go through encoder ticks, so every pair is invertible (up to clipping to the range).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass
from enum import Enum
from pathlib import Path

from lerobot_core.constants import hf_lerobot_home
from lerobot_core.utils.io import atomic_path


class MotorNormMode(str, Enum):
    RANGE_0_100 = "range_0_100"
    RANGE_M100_100 = "range_m100_100"
    DEGREES = "degrees"
    RADIANS = "radians"


@dataclass
class MotorCalibration:
    id: int
    drive_mode: int
    homing_offset: int
    range_min: int
    range_max: int


def calibration_path(kind: str, device_type: str, device_id: str, calibration_dir: str | os.PathLike | None = None) -> Path:
    """Upstream's location: ``<dir or $HF_LEROBOT_HOME/calibration/<kind>/<type>>/<id>.json``."""
    if kind not in ("robots", "teleoperators"):
        raise ValueError(f"calibration kind must be 'robots' or 'teleoperators', got {kind!r}")
    base = Path(calibration_dir) if calibration_dir else hf_lerobot_home() / "calibration" / kind / device_type
    return base / f"{device_id}.json"


def load_calibration(path: str | os.PathLike) -> dict[str, MotorCalibration]:
    """Read an upstream calibration JSON file; bad content raises ``ValueError`` naming the motor and field."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"calibration file {path} is not valid JSON: {e}") from e
    if not isinstance(raw, dict):
        raise ValueError(f"calibration file {path}: expected an object of motor name -> calibration")
    out = {}
    for motor, fields in raw.items():
        if not isinstance(fields, dict):
            raise ValueError(f"calibration file {path}: motor {motor!r} must be an object")
        values = {}
        for key in ("id", "drive_mode", "homing_offset", "range_min", "range_max"):
            if key not in fields:
                raise ValueError(f"calibration file {path}: motor {motor!r} lacks {key!r}; re-run calibration")
            value = fields[key]
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"calibration file {path}: {motor}.{key} must be an integer, got {value!r}")
            values[key] = value
        if values["range_max"] <= values["range_min"]:
            raise ValueError(
                f"calibration file {path}: {motor} range_max ({values['range_max']}) must exceed range_min "
                f"({values['range_min']}); re-run calibration and move the joint through its whole range"
            )
        out[motor] = MotorCalibration(**values)
    return out


def save_calibration(path: str | os.PathLike, calibration: dict[str, MotorCalibration]) -> None:
    """Write ``calibration`` in upstream's JSON layout, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps({name: asdict(c) for name, c in calibration.items()}, indent=4) + "\n")


def encoder_center(resolution: int = 4096) -> int:
    """The tick half-turn homing puts the calibration pose at (2047 for 4096-tick encoders)."""
    return (resolution - 1) // 2


def ticks_to_value(ticks: float, calib: MotorCalibration, mode: MotorNormMode, resolution: int = 4096) -> float:
    """Encoder ticks (after the motor's homing offset) -> ``mode`` units; range modes clip to the range."""
    lo, hi = calib.range_min, calib.range_max
    if mode is MotorNormMode.RADIANS:
        rad = (ticks - encoder_center(resolution)) * 2 * math.pi / resolution
        return -rad if calib.drive_mode else rad
    if mode is MotorNormMode.DEGREES:
        return (ticks - (lo + hi) / 2) * 360.0 / (resolution - 1)
    if hi <= lo:
        raise ValueError(f"motor id {calib.id}: invalid calibration range [{lo}, {hi}]")
    bounded = min(hi, max(lo, ticks))
    if mode is MotorNormMode.RANGE_M100_100:
        norm = (bounded - lo) / (hi - lo) * 200.0 - 100.0
        return -norm if calib.drive_mode else norm
    if mode is MotorNormMode.RANGE_0_100:
        norm = (bounded - lo) / (hi - lo) * 100.0
        return 100.0 - norm if calib.drive_mode else norm
    raise ValueError(f"unknown norm mode {mode!r}")


def value_to_ticks(value: float, calib: MotorCalibration, mode: MotorNormMode, resolution: int = 4096) -> float:
    """Inverse of :func:`ticks_to_value` (float ticks; round before writing to a motor)."""
    lo, hi = calib.range_min, calib.range_max
    if mode is MotorNormMode.RADIANS:
        rad = -value if calib.drive_mode else value
        return rad * resolution / (2 * math.pi) + encoder_center(resolution)
    if mode is MotorNormMode.DEGREES:
        return value * (resolution - 1) / 360.0 + (lo + hi) / 2
    if mode is MotorNormMode.RANGE_M100_100:
        v = -value if calib.drive_mode else value
        v = min(100.0, max(-100.0, v))
        return (v + 100.0) / 200.0 * (hi - lo) + lo
    if mode is MotorNormMode.RANGE_0_100:
        v = 100.0 - value if calib.drive_mode else value
        v = min(100.0, max(0.0, v))
        return v / 100.0 * (hi - lo) + lo
    raise ValueError(f"unknown norm mode {mode!r}")


def convert(value: float, calib: MotorCalibration, src: MotorNormMode, dst: MotorNormMode, resolution: int = 4096) -> float:
    """Convert one joint value between units, e.g. ROS radians -> upstream ``range_m100_100`` for a dataset."""
    return ticks_to_value(value_to_ticks(value, calib, src, resolution), calib, dst, resolution)


def radians_to_upstream(rad: float, calib: MotorCalibration, mode: MotorNormMode, resolution: int = 4096) -> float:
    return convert(rad, calib, MotorNormMode.RADIANS, mode, resolution)


def upstream_to_radians(value: float, calib: MotorCalibration, mode: MotorNormMode, resolution: int = 4096) -> float:
    return convert(value, calib, mode, MotorNormMode.RADIANS, resolution)


def calibration_from_limits(
    limits: dict[str, tuple[float, float]], ids: dict[str, int], resolution: int = 4096
) -> dict[str, MotorCalibration]:
    """A calibration whose range is given joint limits in radians (for the simulator and tests)."""
    center = encoder_center(resolution)
    scale = resolution / (2 * math.pi)
    return {
        name: MotorCalibration(ids[name], 0, 0, round(center + lo * scale), round(center + hi * scale))
        for name, (lo, hi) in limits.items()
    }
