"""``lerobot-core policy-server`` configuration (draccus): one process serves one
(model, revision, dtype, device). Every field is a flag (``--model.repo_or_path=...``) or comes from
``--manifest server.yaml``."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

SERVING_MODE_AUTO = "auto"
SERVING_MODE_SHARED = "shared"
SERVING_MODE_EXCLUSIVE = "exclusive"
SERVING_MODES = (SERVING_MODE_AUTO, SERVING_MODE_SHARED, SERVING_MODE_EXCLUSIVE)


@dataclass
class ModelSpec:
    repo_or_path: str = ""  # checkpoint directory or hub repo id (required)
    revision: str = "main"
    dtype: str | None = None  # cast after load, e.g. "bfloat16"; None keeps the saved dtype
    device: str = "cpu"


@dataclass
class ZenohSpec:
    mode: str = "client"  # "client" (through a router) or "peer"
    connect_endpoints: list[str] = field(default_factory=list)
    listen_endpoints: list[str] = field(default_factory=list)
    # PEM paths for tls/ endpoints: all three or none.
    tls_root_ca_certificate: str | None = None
    tls_connect_certificate: str | None = None
    tls_connect_private_key: str | None = None
    extra_config_json: str | None = None  # strict JSON object {"a/b/c": value, ...} inserted last

    def validate(self) -> None:
        if self.mode not in ("client", "peer"):
            raise ValueError(f"zenoh.mode={self.mode!r}: expected 'client' or 'peer'")
        if self.mode == "client" and not self.connect_endpoints:
            raise ValueError("zenoh.mode=client needs zenoh.connect_endpoints (e.g. '[\"tcp/router:7447\"]'), "
                             "or use zenoh.mode=peer with zenoh.listen_endpoints")
        tls = [self.tls_root_ca_certificate, self.tls_connect_certificate, self.tls_connect_private_key]
        if any(tls) and not all(tls):
            raise ValueError("zenoh TLS needs all three of tls_root_ca_certificate, tls_connect_certificate, "
                             "tls_connect_private_key (or none)")


@dataclass
class DebugSpec:
    capture_dir: str | None = None  # write request/reply bytes here (ring of capture_max files)
    capture_max: int = 256


@dataclass
class RTCSpec:
    enabled: bool = True
    execution_horizon: int = 10


@dataclass
class PolicyServerManifest:
    model: ModelSpec = field(default_factory=ModelSpec)
    zenoh: ZenohSpec = field(default_factory=ZenohSpec)
    default_task: str = ""
    pin_task: bool = False  # refuse sessions whose task differs from default_task
    service_name: str = ""  # overrides the task segment of the key prefix (default: default_task)
    serving_mode: str = SERVING_MODE_AUTO  # auto | shared | exclusive
    max_sessions: int = 5
    warmup_inferences: int = 2
    trained_fps: float = 30.0
    strict_fps: bool = False
    action_names: list[str] = field(default_factory=list)  # the checkpoint's action names, in order
    rtc: RTCSpec = field(default_factory=RTCSpec)
    session_idle_timeout_s: float = 300.0
    health_port: int = 9100  # /healthz + /metrics; 0 disables, -1 picks a free port
    health_host: str = "0.0.0.0"
    audit_log: str | None = None  # JSON-lines file (the logger lerobot.policy_server.audit always gets them)
    debug: DebugSpec = field(default_factory=DebugSpec)

    def __post_init__(self) -> None:
        if self.serving_mode not in SERVING_MODES:
            raise ValueError(f"serving_mode={self.serving_mode!r}: expected one of {SERVING_MODES}")
        if self.max_sessions < 1:
            raise ValueError(f"max_sessions={self.max_sessions}: must be >= 1")

    def check_ready(self) -> None:
        """Checks that need the whole manifest (run before serving)."""
        if not self.model.repo_or_path:
            raise ValueError("model.repo_or_path is required: --model.repo_or_path=<checkpoint dir or hub id>")
        self.__post_init__()
        self.zenoh.validate()


def build_zenoh_config(spec: ZenohSpec) -> Any:
    """A ``zenoh.Config`` for ``spec`` (multicast scouting always off, TLS paths passed through)."""
    import zenoh

    spec.validate()
    config = zenoh.Config()
    for key, value in zenoh_config_entries(spec).items():
        config.insert_json5(key, json.dumps(value))
    return config


def zenoh_config_entries(spec: ZenohSpec) -> dict[str, Any]:
    """The ``key path → JSON value`` entries :func:`build_zenoh_config` inserts (testable without zenoh)."""
    entries: dict[str, Any] = {"mode": spec.mode, "scouting/multicast/enabled": False}
    if spec.connect_endpoints:
        entries["connect/endpoints"] = list(spec.connect_endpoints)
    if spec.listen_endpoints:
        entries["listen/endpoints"] = list(spec.listen_endpoints)
    if spec.tls_root_ca_certificate:
        entries["transport/link/tls/root_ca_certificate"] = spec.tls_root_ca_certificate
        entries["transport/link/tls/connect_certificate"] = spec.tls_connect_certificate
        entries["transport/link/tls/connect_private_key"] = spec.tls_connect_private_key
        if spec.listen_endpoints:
            entries["transport/link/tls/listen_certificate"] = spec.tls_connect_certificate
            entries["transport/link/tls/listen_private_key"] = spec.tls_connect_private_key
            entries["transport/link/tls/enable_mtls"] = True
    if spec.extra_config_json:
        try:
            extra = json.loads(spec.extra_config_json)
        except json.JSONDecodeError as exc:
            raise ValueError(f"zenoh.extra_config_json is not valid JSON: {exc}") from None
        if not isinstance(extra, dict):
            raise ValueError("zenoh.extra_config_json must be a JSON object of 'key/path': value")
        entries.update(extra)
    return entries
