"""Which policies a server may share between clients, and the session-open contract checks."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from lerobot_core.inference.manifest import (
    SERVING_MODE_EXCLUSIVE,
    SERVING_MODE_SHARED,
    PolicyServerManifest,
)
from lerobot_core.inference.schema import SessionOpenMsg, StatusMsg

VERIFIED_CHUNK_STATELESS = frozenset({"act", "pi0", "pi05"})
RTC_CAPABLE = frozenset({"pi0", "pi05", "smolvla"})


class ServingClass(str, enum.Enum):
    SHARED = "shared"
    EXCLUSIVE = "exclusive"
    REFUSED = "refused"


@dataclass
class PolicyClassification:
    serving_class: ServingClass
    supports_rtc: bool
    reason: str


def classify_policy(policy: Any) -> PolicyClassification:
    """shared: chunk-stateless (ACT, pi0, pi05, SmolVLA with one observation step); exclusive: keeps state
    between chunks (Diffusion's observation history) or unverified; refused: no ``predict_action_chunk``."""
    name = str(getattr(policy.config, "type", "") or getattr(policy, "name", ""))
    chunk = getattr(type(policy), "predict_action_chunk", None)
    if chunk is None or getattr(chunk, "__isabstractmethod__", False):
        return PolicyClassification(ServingClass.REFUSED, False, f"{name!r} has no predict_action_chunk")
    rtc = name in RTC_CAPABLE
    if name in VERIFIED_CHUNK_STATELESS:
        return PolicyClassification(ServingClass.SHARED, rtc, f"{name!r} is chunk-stateless")
    if name == "smolvla":
        if int(getattr(policy.config, "n_obs_steps", 1)) == 1:
            return PolicyClassification(ServingClass.SHARED, rtc, "smolvla with one observation step")
        return PolicyClassification(ServingClass.EXCLUSIVE, rtc, "smolvla with observation history")
    if name == "diffusion":
        return PolicyClassification(ServingClass.EXCLUSIVE, rtc, "diffusion keeps an observation history")
    return PolicyClassification(ServingClass.EXCLUSIVE, rtc, f"{name!r} is not verified chunk-stateless")


def resolve_serving_mode(classification: PolicyClassification, manifest: PolicyServerManifest) -> tuple[str, int]:
    """``(serving_mode, max_sessions)``; exclusive serving always caps ``max_sessions`` at 1."""
    if classification.serving_class is ServingClass.REFUSED:
        raise ValueError(f"this policy cannot be served: {classification.reason}")
    mode = manifest.serving_mode
    if mode == SERVING_MODE_SHARED and classification.serving_class is not ServingClass.SHARED:
        raise ValueError(f"serving_mode=shared is unsafe: {classification.reason}; use auto or exclusive")
    if mode not in (SERVING_MODE_SHARED, SERVING_MODE_EXCLUSIVE):
        mode = classification.serving_class.value
    return mode, (1 if mode == SERVING_MODE_EXCLUSIVE else manifest.max_sessions)


@dataclass
class ValidationResult:
    error: str = ""
    warnings: list[str] = field(default_factory=list)
    rtc_downgraded: bool = False

    @property
    def ok(self) -> bool:
        return not self.error


def validate_session_open(msg: SessionOpenMsg, caps: StatusMsg, manifest: PolicyServerManifest,
                          active_sessions: int) -> ValidationResult:
    """The session-open contract, checked in order: schema, capacity, action names and order, state dim,
    cameras, pinned task, fps, policy type, RTC."""
    res = ValidationResult()
    if not caps.min_schema_version <= msg.schema_version <= caps.max_schema_version:
        res.error = (f"schema_version {msg.schema_version} unsupported (server accepts "
                     f"{caps.min_schema_version}..{caps.max_schema_version}); upgrade the older side")
        return res
    if active_sessions >= caps.max_sessions:
        res.error = f"server full: {active_sessions}/{caps.max_sessions} sessions active"
        return res
    if caps.action_names and list(msg.action_names) != list(caps.action_names):
        res.error = (f"action feature names/order mismatch — refusing to map chunk columns to motors. "
                     f"server: {caps.action_names}, client: {list(msg.action_names)}")
        return res
    if caps.state_dim and msg.state_dim and msg.state_dim != caps.state_dim:
        res.error = f"state_dim mismatch: server policy expects {caps.state_dim}, client sends {msg.state_dim}"
        return res
    missing = sorted(set(caps.expected_cameras) - set(msg.camera_names))
    if missing:
        res.error = (f"cameras missing: the policy needs {sorted(caps.expected_cameras)}, client offers "
                     f"{sorted(msg.camera_names)} (missing {missing}); map a camera to each")
        return res
    if manifest.pin_task and msg.task and msg.task != manifest.default_task:
        res.error = f"task is pinned to {manifest.default_task!r} on this server; client asked {msg.task!r}"
        return res
    if msg.fps and caps.trained_fps and abs(msg.fps - caps.trained_fps) > 1e-6:
        text = f"fps mismatch: policy trained at {caps.trained_fps}, client runs at {msg.fps}"
        if manifest.strict_fps:
            res.error = text
            return res
        res.warnings.append(text)
    if msg.policy_type and caps.policy_type and msg.policy_type != caps.policy_type:
        res.warnings.append(f"policy_type mismatch: server {caps.policy_type!r}, client {msg.policy_type!r}")
    if msg.rtc_enabled and not caps.supports_rtc:
        res.rtc_downgraded = True
        res.warnings.append("RTC requested but this server/policy does not support it — downgrading to "
                            "chunk-append")
    return res
