"""ROS message objects (rosbags dataclasses, as both the node runtime and the bag reader produce) → numpy.

A small subset of cv_bridge's semantics, enough for recording: images come out RGB ``uint8`` HWC.
``lerobot_core`` cannot import ``lerobot_ros.runtime.conversions``, hence this module.
"""

from __future__ import annotations

import math
import struct
from typing import Any

import numpy as np

__all__ = ["UnitConverter", "cdr_header_stamp_ns", "decode_image", "header_stamp_ns", "joint_vector", "resize_image"]

_CHANNELS = {"rgb8": 3, "bgr8": 3, "rgba8": 4, "bgra8": 4, "mono8": 1, "8UC1": 1, "8UC3": 3, "8UC4": 4}


def header_stamp_ns(msg: Any) -> int | None:
    header = getattr(msg, "header", None)
    if header is None:
        return None
    return int(header.stamp.sec) * 1_000_000_000 + int(header.stamp.nanosec)


def cdr_header_stamp_ns(cdr: bytes) -> int:
    """The ``header.stamp`` of a serialized message whose first field is a ``std_msgs/Header`` (no full decode)."""
    little = cdr[1] == 1
    sec, nanosec = struct.unpack_from("<iI" if little else ">iI", cdr, 4)
    return sec * 1_000_000_000 + nanosec


def joint_vector(msg: Any, msgtype: str, joints: list[str], where: str) -> np.ndarray:
    """Positions in ``joints`` order (radians/metres as published) from JointState, JointTrajectory or
    Float64MultiArray (whose ``data`` must already be in ``joints`` order)."""
    if msgtype.endswith("Float64MultiArray"):
        data = np.asarray(msg.data, dtype=np.float64)
        if data.shape != (len(joints),):
            raise ValueError(f"{where}: Float64MultiArray has {data.size} values, the mapping lists {len(joints)} "
                             f"joints {joints}")  # fmt: skip
        return data
    if msgtype.endswith("JointTrajectory"):
        if not msg.points:
            raise ValueError(f"{where}: JointTrajectory without points")
        names, positions = list(msg.joint_names), msg.points[0].positions
    else:
        names, positions = list(msg.name), msg.position
    index = {n: i for i, n in enumerate(names)}
    missing = [j for j in joints if j not in index]
    if missing or len(positions) < len(names):
        raise ValueError(f"{where}: joint(s) {missing or names} missing from the message (it has {names} with "
                         f"{len(positions)} positions); fix the mapping's joint list")  # fmt: skip
    return np.array([positions[index[j]] for j in joints], dtype=np.float64)


class UnitConverter:
    """Radians (ROS) → the dataset's units: ``radians``, ``degrees``, or upstream LeRobot's normalized values
    (``upstream``: ``range_m100_100``, the gripper ``range_0_100``; ``upstream_degrees``: degrees, gripper
    ``range_0_100``) through the arm's upstream calibration file (``lerobot_core.motors.calibration``)."""

    def __init__(self, units: str, calibration: str = "", gripper: str = "gripper") -> None:
        self.units = units
        self.gripper = gripper
        self.calibration = {}
        if units.startswith("upstream"):
            from lerobot_core.motors.calibration import load_calibration

            self.calibration = load_calibration(calibration)

    def __call__(self, values: np.ndarray, joints: list[str]) -> np.ndarray:
        if self.units == "radians":
            return values
        if self.units == "degrees":
            return np.degrees(values)
        from lerobot_core.motors.calibration import MotorNormMode, radians_to_upstream

        body = MotorNormMode.DEGREES if self.units == "upstream_degrees" else MotorNormMode.RANGE_M100_100
        out = np.empty(len(joints), np.float64)
        for i, (joint, value) in enumerate(zip(joints, values.tolist())):
            if joint not in self.calibration:
                raise ValueError(f"state.calibration: joint {joint!r} is not in the calibration file (it has "
                                 f"{sorted(self.calibration)})")  # fmt: skip
            mode = MotorNormMode.RANGE_0_100 if joint == self.gripper else body
            out[i] = radians_to_upstream(value, self.calibration[joint], mode)
        return out


def decode_image(msg: Any, msgtype: str) -> np.ndarray:
    """RGB ``uint8`` (H, W, 3) from ``sensor_msgs/Image`` (8-bit rgb/bgr/rgba/bgra/mono) or ``CompressedImage``."""
    if msgtype.endswith("CompressedImage"):
        return _decode_compressed(bytes(msg.data))
    encoding = msg.encoding
    channels = _CHANNELS.get(encoding)
    if channels is None:
        raise ValueError(f"Image encoding {encoding!r} is not supported for recording; publish one of "
                         f"{sorted(_CHANNELS)}")  # fmt: skip
    h, w, step = int(msg.height), int(msg.width), int(msg.step)
    data = np.frombuffer(memoryview(msg.data), dtype=np.uint8)
    if data.size < h * step:
        raise ValueError(f"Image {w}x{h} {encoding}: {data.size} bytes, expected {h * step}")
    rows = data[: h * step].reshape(h, step)[:, : w * channels].reshape(h, w, channels)
    if channels == 1:
        return np.repeat(rows, 3, axis=2)
    if encoding.startswith("bgr"):
        return np.ascontiguousarray(rows[:, :, 2::-1])
    return np.ascontiguousarray(rows[:, :, :3])


def _decode_compressed(data: bytes) -> np.ndarray:
    try:
        import cv2
    except ImportError:
        import io

        from PIL import Image

        return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError("CompressedImage: the data is not a decodable JPEG/PNG")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def resize_image(image: np.ndarray, height: int, width: int) -> np.ndarray:
    if image.shape[:2] == (height, width):
        return image
    try:
        import cv2
    except ImportError:
        from PIL import Image

        return np.asarray(Image.fromarray(image).resize((width, height), Image.BILINEAR))
    shrink = height * width < image.shape[0] * image.shape[1]
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def finite(values: np.ndarray) -> bool:
    return all(math.isfinite(v) for v in values.tolist())
