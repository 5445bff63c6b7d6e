"""Local inference backend: a :class:`PreTrainedPolicy` and its processors in this process."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lerobot_core.inference.policy_runner import ChunkReply, ChunkRequest, compute_chunk, supports_rtc


class LocalPolicyBackend:
    """Runs :func:`compute_chunk` in the engine's worker thread.

    ``rtc_horizon`` > 0 passes the previous chunk's remaining prefix (``execution_horizon`` steps) to
    policies whose ``predict_action_chunk`` accepts ``inference_delay`` / ``prev_chunk_left_over``;
    it is ignored for the others (ACT, Diffusion).
    """

    def __init__(self, policy: Any, preprocessor: Any, postprocessor: Any, *, rtc_horizon: int = 0) -> None:
        self.policy = policy
        self.preprocessor = preprocessor
        self.postprocessor = postprocessor
        self.rtc_horizon = rtc_horizon if supports_rtc(policy) else 0
        policy.eval()

    @classmethod
    def from_pretrained(cls, path: str | Path, *, device: str | None = None, revision: str | None = None,
                        rtc_horizon: int = 0) -> LocalPolicyBackend:
        """Load a checkpoint directory or hub repo id (ours or upstream's) with its processors."""
        from lerobot_core.policies import PreTrainedConfig, make_policy, make_pre_post_processors

        kwargs = {"revision": revision} if revision else {}
        cfg = PreTrainedConfig.from_pretrained(path, **kwargs)
        if device:
            cfg.device = device
        cfg.pretrained_path = str(path)
        policy = make_policy(cfg)
        pre, post = make_pre_post_processors(cfg, pretrained_path=path)
        return cls(policy, pre, post, rtc_horizon=rtc_horizon)

    @property
    def action_dim(self) -> int:
        return int(self.policy.config.action_feature.shape[0])

    def connect(self) -> None:
        pass

    def alive(self) -> bool:
        return True

    def infer(self, request: ChunkRequest, timeout_s: float) -> ChunkReply:
        if request.episode_start:
            self._reset_pipelines()
        return compute_chunk(self.policy, self.preprocessor, self.postprocessor, request,
                             rtc_horizon=self.rtc_horizon)

    def _reset_pipelines(self) -> None:
        self.policy.reset()
        self.preprocessor.reset()
        self.postprocessor.reset()

    def reset(self, episode_id: int) -> None:
        self._reset_pipelines()

    def disconnect(self) -> None:
        pass

    def close(self) -> None:
        pass
