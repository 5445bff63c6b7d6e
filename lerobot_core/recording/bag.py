"""rosbag2 (sqlite3 or MCAP, read through ``rosbags``) → LeRobot v3.0 dataset, and bag inspection.

The converter drives the same :class:`DatasetRecorder` (and synchronizer) as the ``recorder`` node, with the
bag's log time as the clock. Episodes are split per bag, when the task topic changes (``split_on_task``) and
when the reference stream pauses longer than ``split_gap_s``.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import yaml

from lerobot_core.recording.decode import cdr_header_stamp_ns
from lerobot_core.recording.mapping import CAMERA_TYPES, RecordingConfig
from lerobot_core.recording.recorder import DatasetRecorder, message_to_dict

__all__ = ["convert_bags", "inspect_bag", "starter_mapping"]

HEADER_TYPES = {"sensor_msgs/msg/JointState", "sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage",
                "trajectory_msgs/msg/JointTrajectory", "sensor_msgs/msg/CameraInfo"}  # fmt: skip


@contextlib.contextmanager
def open_bag(path: str | Path) -> Iterator[Any]:
    """An open ``rosbags.highlevel.AnyReader`` on one rosbag2 directory (sqlite3 or MCAP) or ``.mcap`` file."""
    from rosbags.highlevel import AnyReader
    from rosbags.typesys import Stores, get_typestore

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"bag {path} not found (a rosbag2 directory with metadata.yaml, or a .mcap file)")
    reader = AnyReader([path], default_typestore=get_typestore(Stores.ROS2_HUMBLE))
    reader.open()
    try:
        yield reader
    finally:
        reader.close()


def inspect_bag(path: str | Path, rates: bool = True) -> dict[str, Any]:
    """Topics with type, message count and rate (from each topic's first and last log time); duration."""
    with open_bag(path) as reader:
        topics: dict[str, dict[str, Any]] = {}
        for conn in reader.connections:
            entry = topics.setdefault(conn.topic, {"type": conn.msgtype, "count": 0})
            entry["count"] += conn.msgcount
        span: dict[str, list[int]] = {}
        if rates:
            for conn, log_ns, _raw in reader.messages():
                s = span.setdefault(conn.topic, [log_ns, log_ns])
                s[0], s[1] = min(s[0], log_ns), max(s[1], log_ns)
        for topic, entry in topics.items():
            first, last = span.get(topic, (0, 0))
            entry["rate_hz"] = round((entry["count"] - 1) / ((last - first) / 1e9), 2) if last > first else 0.0
        duration_s = (reader.end_time - reader.start_time) / 1e9 if reader.message_count else 0.0
        return {"path": str(path), "duration_s": round(duration_s, 3), "messages": reader.message_count,
                "start_ns": reader.start_time, "topics": dict(sorted(topics.items()))}  # fmt: skip


def starter_mapping(info: dict[str, Any], fps: int | None = None) -> dict[str, Any]:
    """A mapping guessed from the topics of ``inspect_bag`` (review it before converting)."""
    topics = info["topics"]
    by_type: dict[str, list[str]] = {}
    for name, t in topics.items():
        by_type.setdefault(t["type"], []).append(name)
    joint_topics = by_type.get("sensor_msgs/msg/JointState", [])
    state = next((t for t in joint_topics if t.endswith("joint_states")), joint_topics[0] if joint_topics else "/joint_states")
    action_candidates = [t for t in joint_topics if t != state] + by_type.get("trajectory_msgs/msg/JointTrajectory", []) \
        + by_type.get("std_msgs/msg/Float64MultiArray", [])  # fmt: skip
    action = next(iter(action_candidates), None)
    cameras = []
    for msgtype in CAMERA_TYPES:
        for topic in by_type.get(msgtype, []):
            parts = [p for p in topic.split("/") if p and p not in ("image_raw", "compressed", "image", "color")]
            key = parts[-1] if parts else f"cam{len(cameras)}"
            if any(c["key"] == key for c in cameras):
                continue  # the same camera raw and compressed: keep the first
            cameras.append({"key": key, "topic": topic, "type": msgtype})
    rate = topics.get(cameras[0]["topic"] if cameras else state, {}).get("rate_hz", 30.0)
    mapping: dict[str, Any] = {
        "fps": fps or max(1, round(rate or 30.0)),
        "state": {"topic": state, "joints": [], "units": "radians"},
        "action": {"topic": action, "type": topics[action]["type"], "joints": []} if action else None,
        "cameras": cameras,
        "task": "describe the task here",
        "task_topic": next((t for t in by_type.get("std_msgs/msg/String", []) if "task" in t), ""),
        "dataset": {"repo_id": "local/from_bag", "root": "", "robot_type": ""},
    }
    return mapping


def _joint_names(path: str | Path, topic: str) -> list[str]:
    with open_bag(path) as reader:
        conns = [c for c in reader.connections if c.topic == topic]
        for conn, _t, raw in reader.messages(connections=conns):
            msg = reader.deserialize(raw, conn.msgtype)
            return list(getattr(msg, "name", None) or getattr(msg, "joint_names", []))
    return []


def write_starter_mapping(path: str | Path, out: str | Path) -> dict[str, Any]:
    info = inspect_bag(path)
    mapping = starter_mapping(info)
    joints = _joint_names(path, mapping["state"]["topic"]) if mapping["state"]["topic"] in info["topics"] else []
    mapping["state"]["joints"] = joints
    if mapping["action"] and mapping["action"]["type"] == "std_msgs/msg/Float64MultiArray":
        mapping["action"]["joints"] = joints
    Path(out).write_text("# Starter mapping written by `lerobot-core dataset inspect-bag`; review every field.\n"
                         + yaml.safe_dump(mapping, sort_keys=False))  # fmt: skip
    return mapping


def convert_bags(paths: Sequence[str | Path], config: RecordingConfig, *, root: str | Path | None = None,
                 progress: bool = True, log: Any = None) -> dict[str, Any]:  # fmt: skip
    """Convert bags into one dataset (episodes split as configured); returns a summary with the reports."""
    from tqdm import tqdm

    recorder: DatasetRecorder | None = None
    total = 0
    infos = [inspect_bag(p, rates=False) for p in paths]
    for info in infos:
        total += info["messages"]
    bar = tqdm(total=total, unit="msg", desc="from-bag", disable=not progress)
    try:
        for path in paths:
            with open_bag(path) as reader:
                if recorder is None:
                    recorder = DatasetRecorder(config, deserialize=reader.deserialize, log=log, root=root)
                recorder.deserialize = reader.deserialize
                _convert_one(reader, recorder, config, bar)
        if recorder is None:
            raise ValueError("no bag given")
        recorder.finish(push=config.dataset.push_to_hub)
    finally:
        bar.close()
    return {"root": str(recorder.root), "episodes": len(recorder.reports), "reports": recorder.reports,
            "frames": sum(r["length"] for r in recorder.reports)}  # fmt: skip


def _convert_one(reader: Any, recorder: DatasetRecorder, config: RecordingConfig, bar: Any) -> None:
    topic_streams: dict[str, list[str]] = {}
    for stream, topic, msgtype in recorder.topics():
        topic_streams.setdefault(topic, []).append(stream)
        found = [c.msgtype for c in reader.connections if c.topic == topic]
        if not found and stream != "task":
            raise ValueError(f"mapping: topic {topic} ({stream}) is not in the bag; its topics are "
                             f"{sorted({c.topic for c in reader.connections})}")  # fmt: skip
        if found and found[0] != msgtype:
            raise ValueError(f"mapping: {stream} expects {msgtype} on {topic}, the bag has {found[0]}")
    meta_topics = {cam.camera_info_topic(): cam.key for cam in config.cameras}
    meta_topics.update({"/robot_description": "urdf", "/tf_static": "tf"})
    wanted = [c for c in reader.connections if c.topic in topic_streams or c.topic in meta_topics]
    reference = recorder.sync.reference
    gap_ns = round(config.split_gap_s * 1e9)
    latency_ns = recorder.sync.latency_ns
    camera_infos: dict[str, Any] = {}
    tf: dict[str, Any] = {}
    last_ref: int | None = None
    task: str | None = None
    started = False
    for conn, log_ns, raw in reader.messages(connections=wanted):
        bar.update(1)
        if conn.topic in meta_topics:
            _store_meta(recorder, reader, conn, raw, meta_topics[conn.topic], camera_infos, tf)
            if conn.topic not in topic_streams:
                continue
        stamp = cdr_header_stamp_ns(raw) if conn.msgtype in HEADER_TYPES and config.stamp == "header" else log_ns
        for stream in topic_streams[conn.topic]:
            split = None
            if stream == "task":
                text = reader.deserialize(raw, conn.msgtype).data
                if config.split_on_task and task is not None and text != task:
                    split = "task"
                task = text
            if gap_ns and last_ref is not None and stamp - last_ref > gap_ns:
                split = "gap"
            if split is not None and started:
                if split == "task":
                    recorder.advance(stamp + latency_ns - 1)  # the ticks before the change
                else:
                    recorder.flush()  # up to the tick of the last reference sample before the gap
                recorder.save_episode()
                recorder.start_episode(stamp)
                last_ref = None
            if not started:
                recorder.start_episode(stamp if stream == reference else None)
                started = True
            if stream == reference:
                last_ref = stamp
            recorder.push(stream, stamp, raw, log_ns)
        recorder.advance(log_ns)
    if started:
        recorder.flush()
        recorder.save_episode()


def _store_meta(recorder: DatasetRecorder, reader: Any, conn: Any, raw: bytes, what: str,
                camera_infos: dict[str, Any], tf: dict[str, Any]) -> None:  # fmt: skip
    msg = reader.deserialize(raw, conn.msgtype)
    if what == "urdf" and conn.msgtype == "std_msgs/msg/String":
        recorder.store_meta("robot.urdf", msg.data)
    elif what == "tf" and conn.msgtype == "tf2_msgs/msg/TFMessage":
        for t in msg.transforms:
            tf[t.child_frame_id] = message_to_dict(t)
        recorder.store_meta("tf_static.json", list(tf.values()))
    elif conn.msgtype == "sensor_msgs/msg/CameraInfo" and what not in camera_infos:
        camera_infos[what] = message_to_dict(msg)
        recorder.store_meta("camera_info.json", dict(camera_infos))


def format_inspection(info: dict[str, Any]) -> str:
    width = max((len(t) for t in info["topics"]), default=5)
    lines = [f"bag {info['path']}: {info['messages']} messages over {info['duration_s']:.2f} s", ""]
    lines.append(f"{'topic'.ljust(width)}  {'type':40}  {'count':>7}  {'rate Hz':>8}")
    for topic, t in info["topics"].items():
        lines.append(f"{topic.ljust(width)}  {t['type']:40}  {t['count']:>7}  {t['rate_hz']:>8.2f}")
    return "\n".join(lines)


def to_json(obj: Any) -> str:
    return json.dumps(obj, indent=2, default=str)
