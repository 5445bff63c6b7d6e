"""Remote-inference wire schema (transport-free): the attachment header, messages and key expressions.

Every data-plane sample carries a 27-byte little-endian attachment ``<HBQIqI``: ``schema_version u16,
msg_type u8, seq_id u64, episode_id u32, client_mono_ns i64, session_epoch u32``. ``client_mono_ns`` is an
opaque client token echoed by the server: instants never cross machines, servers report durations only.
Message bodies are msgpack maps (:mod:`~lerobot_core.inference.codec`); evolution is additive only
(unknown keys are ignored, missing keys take their defaults).
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field

import numpy as np

SCHEMA_VERSION = 1
MIN_SUPPORTED_SCHEMA_VERSION = 1

_HEADER = struct.Struct("<HBQIqI")
HEADER_SIZE = _HEADER.size  # 27
MSG_TYPE_OBS = 1
MSG_TYPE_CHUNK = 2
MSG_TYPE_EVENT = 3

KEY_ROOT = "@lerobot"
RESERVED_SEGMENTS = frozenset({"status", "session", "server", "obs", "action", "reset", "alive"})


@dataclass
class MsgHeader:
    schema_version: int = SCHEMA_VERSION
    msg_type: int = MSG_TYPE_OBS
    seq_id: int = 0
    episode_id: int = 0
    client_mono_ns: int = 0
    session_epoch: int = 0

    def pack(self) -> bytes:
        return _HEADER.pack(self.schema_version, self.msg_type, self.seq_id, self.episode_id,
                            self.client_mono_ns, self.session_epoch)

    @classmethod
    def unpack(cls, data: bytes) -> MsgHeader:
        if len(data) != HEADER_SIZE:
            raise ValueError(f"Bad header length {len(data)}: the attachment must be {HEADER_SIZE} bytes")
        return cls(*_HEADER.unpack(data))


# -- data plane --------------------------------------------------------------------------------------------
@dataclass
class ObservationMsg:
    state: np.ndarray | None = None  # float32 [state_dim]
    images: dict[str, np.ndarray] = field(default_factory=dict)  # uint8 (H, W, 3) RGB
    task: str = ""
    inference_delay_steps: int = 0
    prefix_model: np.ndarray | None = None  # float32 [T, A]
    prefix_robot: np.ndarray | None = None
    episode_start: bool = False
    jpeg_quality: int = 90  # encoder setting (not sent: each image carries its codec); 0 = raw


@dataclass
class ActionChunkMsg:
    seq_id_echo: int = 0
    client_mono_ns_echo: int = 0
    episode_id_echo: int = 0
    chunk_model: np.ndarray | None = None  # float32 [H, A], before the post-processor
    chunk_robot: np.ndarray | None = None  # float32 [H, A], post-processed
    queue_wait_ms: float = 0.0
    inference_ms: float = 0.0
    superseded_seqs: int = 0
    server_load: float = 0.0


# -- control plane -----------------------------------------------------------------------------------------
@dataclass
class SessionOpenMsg:
    op: str = "open"
    client_uuid: str = ""
    robot_type: str = ""
    policy_type: str = ""
    fps: float = 0.0
    action_names: list[str] = field(default_factory=list)  # names AND order are a hard contract
    camera_names: list[str] = field(default_factory=list)  # canonical policy keys
    state_dim: int = 0
    schema_version: int = SCHEMA_VERSION
    rtc_enabled: bool = False
    task: str = ""
    tags: dict[str, str] = field(default_factory=dict)


@dataclass
class SessionAckMsg:
    accepted: bool = False
    error: str = ""
    warnings: list[str] = field(default_factory=list)
    session_id: str = ""
    model_repo: str = ""
    model_revision: str = ""
    policy_type: str = ""
    action_names: list[str] = field(default_factory=list)
    expected_cameras: list[str] = field(default_factory=list)
    state_dim: int = 0
    chunk_size: int = 0
    trained_fps: float = 0.0
    supports_rtc: bool = False
    rtc_execution_horizon: int = 0
    serving_mode: str = ""
    warmed_up: bool = False
    schema_version: int = SCHEMA_VERSION
    server_load: float = 0.0


@dataclass
class StatusMsg:
    model_repo: str = ""
    model_revision: str = ""
    policy_type: str = ""
    action_names: list[str] = field(default_factory=list)
    expected_cameras: list[str] = field(default_factory=list)
    state_dim: int = 0
    chunk_size: int = 0
    trained_fps: float = 0.0
    supports_rtc: bool = False
    rtc_execution_horizon: int = 0
    serving_mode: str = ""
    warmed_up: bool = False
    min_schema_version: int = MIN_SUPPORTED_SCHEMA_VERSION
    max_schema_version: int = SCHEMA_VERSION
    active_sessions: int = 0
    max_sessions: int = 0


@dataclass
class ResetMsg:
    client_uuid: str = ""
    episode_id: int = 0


@dataclass
class ResetAckMsg:
    ok: bool = True
    error: str = ""


@dataclass
class SessionCloseMsg:
    op: str = "close"
    client_uuid: str = ""
    session_id: str = ""


# -- key expressions ---------------------------------------------------------------------------------------
def sanitize_key_segment(text: str) -> str:
    """A safe single key-expression segment (``[A-Za-z0-9_.-]``); empty or reserved results raise."""
    seg = re.sub(r"[^A-Za-z0-9_.\-]+", "-", str(text).strip()).strip("-.")
    if not seg:
        raise ValueError(f"key segment {text!r} is empty after sanitizing; use letters, digits, '_', '.', '-'")
    if seg in RESERVED_SEGMENTS:
        raise ValueError(f"key segment {seg!r} is reserved ({sorted(RESERVED_SEGMENTS)}); pick another name")
    return seg


def service_prefix(model_id: str, revision: str = "main", task: str = "") -> str:
    """``@lerobot/<model>/<revision>/<task>``: the namespace a server and its clients share."""
    return "/".join([KEY_ROOT, sanitize_key_segment(model_id), sanitize_key_segment(revision or "main"),
                     sanitize_key_segment(task or "default")])


def obs_key(prefix: str, uuid: str) -> str:
    return f"{prefix}/{uuid}/obs"


def action_key(prefix: str, uuid: str) -> str:
    return f"{prefix}/{uuid}/action"


def reset_key(prefix: str, uuid: str) -> str:
    return f"{prefix}/{uuid}/reset"


def client_alive_key(prefix: str, uuid: str) -> str:
    return f"{prefix}/{uuid}/alive"


def status_key(prefix: str) -> str:
    return f"{prefix}/status"


def session_key(prefix: str) -> str:
    return f"{prefix}/session"


def server_alive_key(prefix: str) -> str:
    return f"{prefix}/server/alive"


def obs_wildcard(prefix: str) -> str:
    return f"{prefix}/*/obs"


def reset_wildcard(prefix: str) -> str:
    return f"{prefix}/*/reset"


def client_alive_wildcard(prefix: str) -> str:
    return f"{prefix}/*/alive"


def client_uuid_from_key(key: str) -> str:
    parts = str(key).split("/")
    if len(parts) < 2:
        raise ValueError(f"key {key!r} has no client segment")
    return parts[-2]
