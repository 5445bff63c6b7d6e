"""Inference: the action-chunk queue/merge engine shared by local and remote inference, the remote policy
server (``lerobot-core policy-server``) and its client backend. See ``docs/inference.md``."""

from lerobot_core.inference.action_queue import (
    ActionQueue,
    FallbackMode,
    LatencyTracker,
    MergeMode,
    delay_steps,
)
from lerobot_core.inference.engine import (
    BackendUnavailable,
    ContractError,
    EngineConfig,
    EngineState,
    InferenceBackend,
    InferenceEngine,
    PoppedAction,
)
from lerobot_core.inference.local import LocalPolicyBackend
from lerobot_core.inference.policy_runner import ChunkReply, ChunkRequest, compute_chunk, prepare_observation

__all__ = [
    "ActionQueue",
    "BackendUnavailable",
    "ChunkReply",
    "ChunkRequest",
    "ContractError",
    "EngineConfig",
    "EngineState",
    "FallbackMode",
    "InferenceBackend",
    "InferenceEngine",
    "LatencyTracker",
    "LocalPolicyBackend",
    "MergeMode",
    "PoppedAction",
    "compute_chunk",
    "delay_steps",
    "prepare_observation",
]
