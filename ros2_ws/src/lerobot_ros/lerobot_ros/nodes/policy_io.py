"""The policy node's input/output mapping: ROS messages ⇄ the checkpoint's features (no node, no threads).

- **Names.** A checkpoint's ``config.json`` gives shapes, not names; joint names come from, in order: explicit
  ``state_names``/``action_names``, the dataset metadata (``meta/info.json`` of ``dataset``, or of the local
  dataset named in the checkpoint's ``train_config.json``), else the SO-101 joints when the dimension is 6.
  Feature names such as ``shoulder_pan.pos`` map to the joint ``shoulder_pan``.
- **Units.** ``radians`` (ROS, what our recorder writes), ``degrees`` (``np.degrees``, our recorder's
  ``degrees``), or ``upstream`` (upstream LeRobot's ``range_m100_100`` body joints and ``range_0_100`` gripper,
  through a calibration file, or the simulator's URDF-limits calibration when none is given).
- **Images.** ``sensor_msgs/Image`` (any rgb/bgr/rgba/bgra/mono encoding) and ``CompressedImage`` become RGB
  ``(H, W, 3)`` uint8 at the training shape (``cv2.INTER_AREA`` when shrinking).
- **Start-up check.** :func:`check_sources` lists every input feature without a source and every action name
  that is not a commanded joint; the node refuses to start on any.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lerobot_ros.runtime.conversions import compressed_image_to_numpy, image_to_numpy

__all__ = [
    "IMAGE_TYPES",
    "UNITS",
    "CameraSource",
    "FeatureMap",
    "ObservationBuffer",
    "PolicyStartupError",
    "UnitConverter",
    "check_sources",
    "dataset_info",
    "joint_name",
    "resize_rgb",
    "to_rgb",
]

UNITS = ("radians", "degrees", "upstream")
IMAGE_TYPES = ("sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage")
STATE_KEY = "observation.state"
IMAGE_PREFIX = "observation.images."
SO101_JOINTS = ("shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll", "gripper")


class PolicyStartupError(ValueError):
    """The checkpoint and the robot's topics do not fit: the node must not start (the robot never moves)."""


def joint_name(feature_name: str) -> str:
    """``shoulder_pan.pos`` → ``shoulder_pan`` (names without a ``.pos`` suffix are kept)."""
    return feature_name[:-4] if feature_name.endswith(".pos") else feature_name


def _flat_names(names: Any) -> list[str] | None:
    if isinstance(names, Mapping):  # older datasets: {"motors": [...]}
        out: list[str] = []
        for value in names.values():
            out.extend(_flat_names(value) or [])
        return out or None
    if isinstance(names, (list, tuple)) and all(isinstance(n, str) for n in names):
        return list(names)
    return None


def dataset_info(path: str | Path) -> dict[str, Any]:
    """``meta/info.json`` of a dataset root, or the file itself."""
    path = Path(path).expanduser()
    for candidate in (path, path / "meta" / "info.json", path / "info.json"):
        if candidate.is_file():
            return json.loads(candidate.read_text())
    raise FileNotFoundError(f"dataset metadata not found at {path} (expected a dataset root with meta/info.json "
                            "or an info.json file)")


def info_from_checkpoint(checkpoint: str | Path) -> dict[str, Any] | None:
    """The local dataset's ``info.json`` named in ``<checkpoint>/train_config.json`` (``dataset.root``), if any."""
    train_cfg = Path(checkpoint).expanduser() / "train_config.json"
    if not train_cfg.is_file():
        return None
    try:
        root = (json.loads(train_cfg.read_text()).get("dataset") or {}).get("root")
        return dataset_info(root) if root else None
    except (OSError, ValueError):
        return None


def feature_names(info: Mapping[str, Any] | None, key: str) -> list[str] | None:
    if not info:
        return None
    return _flat_names((info.get("features", {}).get(key) or {}).get("names"))


@dataclass
class CameraSource:
    """Where image feature ``key`` comes from."""

    key: str  # observation.images.<name>
    topic: str
    msg_type: str  # sensor_msgs/msg/Image | sensor_msgs/msg/CompressedImage
    height: int
    width: int


@dataclass
class FeatureMap:
    """The checkpoint's inputs and outputs bound to topics and joints."""

    state_key: str | None
    state_names: list[str]  # the dataset's names (e.g. shoulder_pan.pos), checkpoint order
    action_names: list[str]
    commanded_joints: list[str]  # what the robot takes (JointState names / Float64MultiArray order)
    cameras: dict[str, CameraSource] = field(default_factory=dict)
    other_inputs: list[str] = field(default_factory=list)  # input features nothing here can feed

    @property
    def state_joints(self) -> list[str]:
        return [joint_name(n) for n in self.state_names]

    @property
    def action_joints(self) -> list[str]:
        return [joint_name(n) for n in self.action_names]


def resolve_names(explicit: Sequence[str], info: Mapping[str, Any] | None, key: str, dim: int,
                  what: str) -> list[str]:  # fmt: skip
    """Explicit names, else the dataset's, else the SO-101 joints for 6 values; the count must be ``dim``."""
    names = list(explicit) or feature_names(info, key)
    source = "the parameter" if explicit else "the dataset metadata"
    if names is None:
        if dim != len(SO101_JOINTS):
            raise PolicyStartupError(
                f"{key} has {dim} values and no names: set the {what}_names parameter or `dataset` (a dataset "
                "root whose meta/info.json names them)")
        names, source = [f"{j}.pos" for j in SO101_JOINTS], "the SO-101 default"
    if len(names) != dim:
        raise PolicyStartupError(f"{key}: {len(names)} names from {source} ({names}) but the checkpoint has {dim} "
                                 f"values; fix {what}_names or `dataset`")
    return names


def check_sources(input_features: Mapping[str, Any], fmap: FeatureMap, *, command_type: str) -> None:
    """Raise :class:`PolicyStartupError` listing every input without a source and every action/joint mismatch."""
    problems: list[str] = []
    for key in input_features:
        if key == STATE_KEY:
            continue
        if key.startswith(IMAGE_PREFIX):
            if key not in fmap.cameras:
                cam = key[len(IMAGE_PREFIX):]
                problems.append(f"input feature {key!r} has no camera: add {cam!r} to `cameras` (topic "
                                f"camera.{cam}.topic, default /{cam}/image_raw)")
            continue
        problems.append(f"input feature {key!r} has no source (the policy node maps {STATE_KEY} and "
                        f"{IMAGE_PREFIX}<camera>)")  # fmt: skip
    extra = sorted(set(fmap.cameras) - set(input_features))
    if extra:
        problems.append(f"cameras {extra} are not inputs of this checkpoint (it takes "
                        f"{sorted(k for k in input_features if k.startswith(IMAGE_PREFIX))})")
    joints = fmap.action_joints
    unknown = [j for j in joints if j not in fmap.commanded_joints]
    if unknown:
        problems.append(f"action names {unknown} are not commanded joints {fmap.commanded_joints}; set `joints` to "
                        "the robot's joints or action_names to match them")
    if len(set(joints)) != len(joints):
        problems.append(f"duplicate action joints {joints}")
    if command_type == "forward" and sorted(joints) != sorted(fmap.commanded_joints):
        problems.append(f"command_type forward needs an action for every joint {fmap.commanded_joints}, the "
                        f"checkpoint commands {joints}")
    if problems:
        raise PolicyStartupError("the checkpoint does not fit this robot, refusing to start:\n  - "
                                 + "\n  - ".join(problems))  # fmt: skip


class UnitConverter:
    """Radians (ROS) ⇄ the checkpoint's joint units for an ordered list of joints."""

    def __init__(self, units: str, joints: Sequence[str], calibration: Mapping[str, Any] | None = None) -> None:
        if units not in UNITS:
            raise PolicyStartupError(f"units: expected one of {UNITS}, got {units!r}")
        self.units, self.joints = units, list(joints)
        self._calib: list[tuple[Any, Any]] = []
        if units == "upstream":
            from lerobot_core.motors.calibration import MotorNormMode, calibration_from_limits
            from lerobot_core.robots.so101_model import joint_limits

            if calibration is None:  # the simulator's virtual calibration: URDF limits = the full range
                limits = joint_limits()
                calibration = calibration_from_limits(limits, {j: i for i, j in enumerate(limits, 1)})
            missing = [j for j in self.joints if j not in calibration]
            if missing:
                raise PolicyStartupError(f"units upstream: the calibration has no joints {missing}")
            self._calib = [(calibration[j], MotorNormMode.RANGE_0_100 if j == "gripper"
                            else MotorNormMode.RANGE_M100_100) for j in self.joints]  # fmt: skip

    def to_policy(self, radians: np.ndarray) -> np.ndarray:
        rad = np.asarray(radians, np.float64)
        if self.units == "radians":
            return rad.astype(np.float32)
        if self.units == "degrees":
            return np.degrees(rad).astype(np.float32)
        from lerobot_core.motors.calibration import radians_to_upstream

        return np.array([radians_to_upstream(float(v), c, m) for v, (c, m) in zip(rad, self._calib)], np.float32)

    def to_radians(self, values: np.ndarray) -> np.ndarray:
        vals = np.asarray(values, np.float64)
        if self.units == "radians":
            return vals.copy()
        if self.units == "degrees":
            return np.radians(vals)
        from lerobot_core.motors.calibration import upstream_to_radians

        return np.array([upstream_to_radians(float(v), c, m) for v, (c, m) in zip(vals, self._calib)])


def to_rgb(msg: Any, msg_type: str) -> np.ndarray:
    """An ``Image``/``CompressedImage`` as RGB ``(H, W, 3)`` uint8, whatever its encoding."""
    if msg_type.endswith("CompressedImage"):
        return np.ascontiguousarray(compressed_image_to_numpy(msg, "rgb8"))
    image = image_to_numpy(msg, "rgb8")
    if image.dtype != np.uint8 or image.ndim != 3:
        raise ValueError(f"image encoding {msg.encoding!r} cannot be converted to rgb8")
    return image


def resize_rgb(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """``image`` at ``height × width`` (area averaging when shrinking, bilinear when enlarging)."""
    if image.shape[:2] == (height, width):
        return image
    import cv2

    shrink = image.shape[0] >= height and image.shape[1] >= width
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


@dataclass
class Snapshot:
    data: dict[str, np.ndarray]
    oldest: float  # monotonic receive time of the oldest part
    seq: int  # changes whenever any part changes
    positions: dict[str, float]  # latest measured joint positions (radians)


class ObservationBuffer:
    """The latest value of every input, stamped with the monotonic time it arrived (thread-safe)."""

    def __init__(self, keys: Sequence[str]) -> None:
        self.keys = list(keys)
        self._lock = threading.Lock()
        self._values: dict[str, np.ndarray] = {}
        self._stamps: dict[str, float] = {}
        self._positions: dict[str, float] = {}
        self._seq = 0

    def put(self, key: str, value: np.ndarray, stamp: float) -> None:
        with self._lock:
            self._values[key], self._stamps[key] = value, stamp
            self._seq += 1

    def put_positions(self, positions: Mapping[str, float]) -> None:
        with self._lock:
            self._positions.update(positions)

    def missing(self) -> list[str]:
        with self._lock:
            return [k for k in self.keys if k not in self._values]

    def positions(self) -> dict[str, float]:
        with self._lock:
            return dict(self._positions)

    def snapshot(self) -> Snapshot | None:
        """Every input's latest value, or None while one has never arrived."""
        with self._lock:
            if any(k not in self._values for k in self.keys):
                return None
            return Snapshot({k: self._values[k] for k in self.keys}, min(self._stamps[k] for k in self.keys),
                            self._seq, dict(self._positions))  # fmt: skip

    def clear(self) -> None:
        with self._lock:
            self._values.clear()
            self._stamps.clear()
            self._seq += 1
