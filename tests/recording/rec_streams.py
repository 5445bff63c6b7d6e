"""Deterministic synthetic robot streams (joint states, leader commands, two cameras, task) as rosbags messages.

Frame ``k`` is fully identified by its content: joint positions ``0.001 * k + 0.1 * j`` and images whose pixels
encode ``k``, so a recorded row can be traced back to the message it came from.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore

TYPESTORE = get_typestore(Stores.ROS2_HUMBLE)
JOINTS = ["shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll", "gripper"]
T = TYPESTORE.types


def stamp(ns: int):
    return T["builtin_interfaces/msg/Time"](sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000)


def header(ns: int, frame_id: str = ""):
    return T["std_msgs/msg/Header"](stamp=stamp(ns), frame_id=frame_id)


def state_positions(k: int) -> np.ndarray:
    return 0.001 * k + 0.1 * np.arange(len(JOINTS), dtype=np.float64)


def command_positions(k: int) -> np.ndarray:
    return -0.002 * k - 0.1 * np.arange(len(JOINTS), dtype=np.float64)


def joint_state(ns: int, positions: np.ndarray):
    return T["sensor_msgs/msg/JointState"](header=header(ns), name=list(JOINTS), position=np.asarray(positions, float),
                                           velocity=np.zeros(0), effort=np.zeros(0))


def frame_image(k: int, cam: int, height: int, width: int) -> np.ndarray:
    """RGB frame: flat colour blocks from k (robust to lossy encoding) plus a per-camera gradient."""
    img = np.empty((height, width, 3), np.uint8)
    img[..., 0] = (k * 37 + cam * 90) % 256
    img[..., 1] = (k * 11) % 256
    img[..., 2] = np.linspace(0, 255, width, dtype=np.uint8)[None, :]
    return img


def image_msg(ns: int, rgb: np.ndarray, frame_id: str = "cam"):
    h, w = rgb.shape[:2]
    return T["sensor_msgs/msg/Image"](header=header(ns, frame_id), height=h, width=w, encoding="rgb8",
                                      is_bigendian=0, step=w * 3, data=rgb.reshape(-1).copy())


def string_msg(text: str):
    return T["std_msgs/msg/String"](data=text)


def serialize(msg, msgtype: str) -> bytes:
    return bytes(TYPESTORE.serialize_cdr(msg, msgtype))


def stream_messages(n: int, fps: int, t0_ns: int, *, height: int = 24, width: int = 32, tasks=("pick",),
                    task_every: int = 0, drop_camera: set[int] = frozenset(), latency_ns: int = 2_000_000):
    """(topic, msgtype, log_ns, cdr) in log-time order for ``n`` frames at ``fps``."""
    period = round(1e9 / fps)
    out = []
    task_index = -1
    for k in range(n):
        ns = t0_ns + k * period
        if (task_every and k % task_every == 0) or (not task_every and k == 0):
            task_index += 1
            out.append(("/task", "std_msgs/msg/String", ns, serialize(string_msg(tasks[task_index % len(tasks)]),
                                                                      "std_msgs/msg/String")))
        out.append(("/joint_commands", "sensor_msgs/msg/JointState", ns,
                    serialize(joint_state(ns, command_positions(k)), "sensor_msgs/msg/JointState")))
        out.append(("/joint_states", "sensor_msgs/msg/JointState", ns + latency_ns // 2,
                    serialize(joint_state(ns, state_positions(k)), "sensor_msgs/msg/JointState")))
        for cam, name in enumerate(("front", "wrist")):
            if k in drop_camera and cam == 0:
                continue
            out.append((f"/{name}/image_raw", "sensor_msgs/msg/Image", ns + latency_ns,
                        serialize(image_msg(ns, frame_image(k, cam, height, width)), "sensor_msgs/msg/Image")))
    return out


def write_bag(path: Path, messages, storage: str = "mcap") -> Path:
    plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
    conns = {}
    with Writer(path, version=9, storage_plugin=plugin) as writer:
        for topic, msgtype, log_ns, cdr in messages:
            if topic not in conns:
                conns[topic] = writer.add_connection(topic, msgtype, typestore=TYPESTORE)
            writer.write(conns[topic], log_ns, cdr)
    return path


def mapping_dict(root: Path, fps: int = 30, *, use_videos: bool = True, **extra) -> dict:
    return {
        "fps": fps,
        "state": {"topic": "/joint_states", "joints": list(JOINTS)},
        "action": {"topic": "/joint_commands", "type": "sensor_msgs/msg/JointState"},
        "cameras": [{"key": "front", "topic": "/front/image_raw", },
                    {"key": "wrist", "topic": "/wrist/image_raw"}],
        "task_topic": "/task",
        "dataset": {"repo_id": "test/rec", "root": str(root), "robot_type": "so101_follower",
                    "use_videos": use_videos},
        **extra,
    }
