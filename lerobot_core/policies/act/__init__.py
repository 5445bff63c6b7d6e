"""ACT (Action Chunking with Transformers), parameter-compatible with upstream LeRobot."""

from lerobot_core.policies.act.configuration_act import ACTConfig
from lerobot_core.policies.act.modeling_act import ACTPolicy, ACTTemporalEnsembler

__all__ = ["ACTConfig", "ACTPolicy", "ACTTemporalEnsembler"]
