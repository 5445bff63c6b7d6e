"""How ROS topics become dataset features: the mapping shared by the recorder node and the bag converter.

A mapping is a plain nested dict (a YAML file, or the recorder node's ``ros__parameters`` block)::

    fps: 30
    state: {topic: /joint_states, joints: [shoulder_pan, ...], units: radians}
    action: {topic: /joint_commands, type: sensor_msgs/msg/JointState, joints: [...]}
    cameras:
      - {key: front, topic: /front/image_raw, type: sensor_msgs/msg/Image, resize: [480, 640]}
    task: "Pick up the cube"          # or task_topic: /task
    dataset: {repo_id: local/so101, root: data/so101, robot_type: so101_follower}

``RecordingConfig.from_dict`` checks every field and names the field, the expectation and the fix on error.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "ACTION_TYPES",
    "CAMERA_TYPES",
    "UNITS",
    "ActionConfig",
    "CameraConfig",
    "DatasetConfig",
    "RecordingConfig",
    "StateConfig",
    "load_mapping",
]

JOINT_STATE = "sensor_msgs/msg/JointState"
ACTION_TYPES = (JOINT_STATE, "trajectory_msgs/msg/JointTrajectory", "std_msgs/msg/Float64MultiArray")
CAMERA_TYPES = ("sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage")
UNITS = ("radians", "degrees", "upstream", "upstream_degrees")
STAMPS = ("header", "receive")
SO101_JOINTS = ["shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll", "gripper"]


def _typename(value: str, where: str, allowed: tuple[str, ...]) -> str:
    """Accept ``pkg/msg/Name`` or ``pkg/Name``; refuse anything not in ``allowed``."""
    text = str(value).strip()
    parts = text.split("/")
    if len(parts) == 2:
        text = f"{parts[0]}/msg/{parts[1]}"
    if text not in allowed:
        raise ValueError(f"{where}: message type {value!r} is not supported; use one of {', '.join(allowed)}")
    return text


def _check_keys(data: dict[str, Any], cls: type, where: str) -> None:
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}; expected some of {sorted(known)}")


@dataclass
class StateConfig:
    """``observation.state`` from a JointState topic, joints in ``joints`` order."""

    topic: str = "/joint_states"
    joints: list[str] = field(default_factory=lambda: list(SO101_JOINTS))
    units: str = "radians"  # radians (ROS SI), degrees, upstream / upstream_degrees (needs `calibration`)
    calibration: str = ""  # upstream calibration JSON (units upstream*): radians -> range_m100_100 / degrees
    gripper: str = "gripper"  # the joint recorded in range_0_100 with upstream units
    tolerance_s: float = 0.0  # max staleness at a tick (0: the recording's tolerance_s)


@dataclass
class ActionConfig:
    """``action`` from a leader JointState, a JointTrajectory (first point) or a Float64MultiArray."""

    topic: str = "/joint_commands"
    type: str = JOINT_STATE
    joints: list[str] = field(default_factory=list)  # empty: the state's joints
    tolerance_s: float = 0.0  # 0: no limit (a command stays in force until the next one)


@dataclass
class CameraConfig:
    """One camera: ``observation.images.<key>`` from an Image or CompressedImage topic."""

    key: str = ""
    topic: str = ""
    type: str = "sensor_msgs/msg/Image"
    resize: list[int] = field(default_factory=list)  # [height, width]; empty: as published
    height: int = 0  # expected size when not resized (0: taken from the first message)
    width: int = 0
    info_topic: str = ""  # CameraInfo stored in meta/ (default: <topic's parent>/camera_info)
    tolerance_s: float = 0.0  # 0: the recording's tolerance_s

    @property
    def feature_key(self) -> str:
        return f"observation.images.{self.key}"

    def camera_info_topic(self) -> str:
        if self.info_topic:
            return self.info_topic
        parent = self.topic.rsplit("/", 1)[0]
        if parent.endswith("/image_raw"):  # .../image_raw/compressed
            parent = parent.rsplit("/", 1)[0]
        return f"{parent}/camera_info"


@dataclass
class DatasetConfig:
    repo_id: str = "local/recording"
    root: str = ""  # empty: $HF_LEROBOT_HOME/<repo_id>
    robot_type: str = ""
    resume: bool = False  # append to an existing dataset at root
    use_videos: bool = True  # false: cameras stored as lossless PNG images in parquet
    vcodec: str = "libsvtav1"
    crf: int = 30
    g: int = 2
    preset: int = -1  # -1: the codec's default
    encoder_queue_maxsize: int = 60
    encoder_threads: int = 0  # 0: the codec's default
    encoder_nice: int = 10  # Linux: encoder threads this much lower in priority than reception and the clock
    push_to_hub: bool = False
    private: bool = False

    def encoder(self) -> Any:
        from lerobot_core.datasets import VideoEncoderConfig

        return VideoEncoderConfig(vcodec=self.vcodec, crf=self.crf, g=self.g,
                                  preset=None if self.preset < 0 else self.preset)  # fmt: skip


@dataclass
class RecordingConfig:
    """Everything the synchronizer and the dataset writer need (see the module docstring)."""

    fps: int = 30
    state: StateConfig = field(default_factory=StateConfig)
    action: ActionConfig | None = field(default_factory=ActionConfig)
    cameras: list[CameraConfig] = field(default_factory=list)
    task: str = "Pick up the red cube and place it in the blue bin."
    task_topic: str = ""  # std_msgs/String; overrides `task` once a message arrived
    stamp: str = "header"  # header stamps, or receive time
    tolerance_s: float = 0.0  # max staleness of a stream at a tick (0: one period, 1/fps)
    latency_s: float = 0.2  # a tick is evaluated this long after its time, so late messages still count
    episode_time_s: float = 30.0
    reset_time_s: float = 5.0
    num_episodes: int = 0  # automatic mode: stop after this many saved episodes (0: until `finish`)
    split_gap_s: float = 1.0  # converter: a gap this long in the state stream starts a new episode (0: never)
    split_on_task: bool = True  # converter: a task change starts a new episode
    dataset: DatasetConfig = field(default_factory=DatasetConfig)

    def __post_init__(self) -> None:
        if not isinstance(self.fps, int) or self.fps <= 0:
            raise ValueError(f"fps: expected a positive integer, got {self.fps!r}")
        if self.stamp not in STAMPS:
            raise ValueError(f"stamp: expected one of {STAMPS}, got {self.stamp!r}")
        if self.state.units not in UNITS:
            raise ValueError(f"state.units: expected one of {UNITS}, got {self.state.units!r}")
        if self.state.units.startswith("upstream") and not self.state.calibration:
            raise ValueError(f"state.calibration: units {self.state.units!r} need the arm's upstream calibration JSON "
                             "(e.g. ~/.cache/huggingface/lerobot/calibration/robots/so101_follower/<id>.json)")
        if not self.state.joints:
            raise ValueError("state.joints: list the joint names in dataset order, e.g. [shoulder_pan, ...]")
        keys = [c.key for c in self.cameras]
        if len(set(keys)) != len(keys):
            raise ValueError(f"cameras: keys must be unique, got {keys}")
        for i, cam in enumerate(self.cameras):
            if not cam.key or not cam.topic:
                raise ValueError(f"cameras[{i}]: `key` and `topic` are required, got key={cam.key!r} topic={cam.topic!r}")
            if cam.resize and (len(cam.resize) != 2 or min(cam.resize) <= 0):
                raise ValueError(f"cameras[{i}].resize: expected [height, width] > 0, got {cam.resize}")
        for name in ("tolerance_s", "latency_s", "episode_time_s", "reset_time_s", "split_gap_s"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or value < 0 or math.isnan(value):
                raise ValueError(f"{name}: expected a number >= 0, got {value!r}")

    # -------------------------------------------------------------------------------------------- parsing
    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RecordingConfig:
        """Build from a nested dict; a ``<node>: {ros__parameters: {...}}`` wrapper is unwrapped."""
        data = _unwrap_ros_parameters(dict(data or {}))
        _check_keys({k: v for k, v in data.items() if k != "camera"}, cls, "mapping")
        kwargs: dict[str, Any] = dict(data)
        if "fps" in kwargs:
            kwargs["fps"] = _as_int(kwargs["fps"], "fps")
        state = dict(data.get("state") or {})
        _check_keys(state, StateConfig, "state")
        kwargs["state"] = StateConfig(**state)
        if "action" in data and not data["action"]:
            kwargs["action"] = None
        else:
            action = dict(data.get("action") or {})
            _check_keys(action, ActionConfig, "action")
            if "type" in action:
                action["type"] = _typename(action["type"], "action.type", ACTION_TYPES)
            kwargs["action"] = ActionConfig(**action)
        kwargs["cameras"] = _parse_cameras(data.get("cameras") or [], data.get("camera") or {})
        kwargs.pop("camera", None)
        ds = dict(data.get("dataset") or {})
        _check_keys(ds, DatasetConfig, "dataset")
        kwargs["dataset"] = DatasetConfig(**ds)
        return cls(**kwargs)

    @classmethod
    def from_yaml(cls, path: str | Path) -> RecordingConfig:
        return cls.from_dict(load_mapping(path))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    # -------------------------------------------------------------------------------------------- derived
    @property
    def period_s(self) -> float:
        return 1.0 / self.fps

    @property
    def action_joints(self) -> list[str]:
        if self.action is None:
            return []
        return list(self.action.joints or self.state.joints)

    def stream_tolerance_s(self, own: float) -> float:
        return own or self.tolerance_s or self.period_s

    def features(self, camera_shapes: dict[str, tuple[int, int]]) -> dict[str, dict[str, Any]]:
        """Dataset features; ``camera_shapes`` gives (height, width) per camera key as recorded."""
        names = [f"{j}.pos" for j in self.state.joints]
        feats: dict[str, dict[str, Any]] = {
            "observation.state": {"dtype": "float32", "shape": (len(names),), "names": names},
        }
        if self.action is not None:
            anames = [f"{j}.pos" for j in self.action_joints]
            feats["action"] = {"dtype": "float32", "shape": (len(anames),), "names": anames}
        for cam in self.cameras:
            h, w = camera_shapes[cam.key]
            feats[cam.feature_key] = {"dtype": "video" if self.dataset.use_videos else "image", "shape": (h, w, 3), "names": ["height", "width", "channels"]}
        return feats

    def camera_shape(self, cam: CameraConfig) -> tuple[int, int] | None:
        """The recorded (height, width) if the mapping fixes it, else None (taken from the first frame)."""
        if cam.resize:
            return int(cam.resize[0]), int(cam.resize[1])
        if cam.height and cam.width:
            return cam.height, cam.width
        return None


def _as_int(value: Any, where: str) -> int:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{where}: expected an integer, got {value!r}")
    return value


def _parse_cameras(cameras: Any, by_key: dict[str, Any]) -> list[CameraConfig]:
    """``cameras`` is a list of dicts, or a list of keys with ``camera.<key>`` dicts (ROS parameters)."""
    if not isinstance(cameras, list):
        raise ValueError(f"cameras: expected a list of {{key, topic, type, resize}}, got {type(cameras).__name__}")
    out = []
    for i, item in enumerate(cameras):
        if isinstance(item, str):
            entry = {"key": item, **dict(by_key.get(item) or {})}
        elif isinstance(item, dict):
            entry = dict(item)
        else:
            raise ValueError(f"cameras[{i}]: expected a mapping or a camera key, got {item!r}")
        _check_keys(entry, CameraConfig, f"cameras[{i}]")
        if "type" in entry:
            entry["type"] = _typename(entry["type"], f"cameras[{i}].type", CAMERA_TYPES)
        if "resize" in entry:
            entry["resize"] = [int(v) for v in entry["resize"] or []]
        out.append(CameraConfig(**entry))
    return out


def _unwrap_ros_parameters(data: dict[str, Any]) -> dict[str, Any]:
    if "ros__parameters" in data:
        return dict(data["ros__parameters"])
    if len(data) == 1:
        (only,) = data.values()
        if isinstance(only, dict) and "ros__parameters" in only:
            return dict(only["ros__parameters"])
    return data


def load_mapping(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"mapping file {path} not found (write a starter one with `lerobot-core dataset inspect-bag BAG`)")
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a YAML mapping at the top level")
    return _unwrap_ros_parameters(data)
