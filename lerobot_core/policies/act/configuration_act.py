"""ACT config: upstream LeRobot's ``ACTConfig`` fields, order and defaults (``"type": "act"``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from lerobot_core.policies.config import PreTrainedConfig
from lerobot_core.policies.optim import AdamWConfig
from lerobot_core.processor.features import NormalizationMode


@PreTrainedConfig.register_subclass("act")
@dataclass
class ACTConfig(PreTrainedConfig):
    """ACT hyper-parameters. ``chunk_size`` actions are predicted per forward pass and the first
    ``n_action_steps`` are executed (or all chunks are blended with ``temporal_ensemble_coeff``)."""

    n_obs_steps: int = 1
    chunk_size: int = 100
    n_action_steps: int = 100
    normalization_mapping: dict[str, NormalizationMode] = field(
        default_factory=lambda: {
            "VISUAL": NormalizationMode.MEAN_STD,
            "STATE": NormalizationMode.MEAN_STD,
            "ACTION": NormalizationMode.MEAN_STD,
        }
    )
    # Backbone.
    vision_backbone: str = "resnet18"
    pretrained_backbone_weights: str | None = "ResNet18_Weights.IMAGENET1K_V1"
    replace_final_stride_with_dilation: bool = False
    # Transformer.
    pre_norm: bool = False
    dim_model: int = 512
    n_heads: int = 8
    dim_feedforward: int = 3200
    feedforward_activation: str = "relu"
    n_encoder_layers: int = 4
    # Upstream's original ACT only ever used the first decoder layer; keep 1 for parity.
    n_decoder_layers: int = 1
    # VAE.
    use_vae: bool = True
    latent_dim: int = 32
    n_vae_encoder_layers: int = 4
    # Inference.
    temporal_ensemble_coeff: float | None = None
    # Training and loss.
    dropout: float = 0.1
    kl_weight: float = 10.0
    # Training presets.
    optimizer_lr: float = 1e-5
    optimizer_weight_decay: float = 1e-4
    optimizer_lr_backbone: float = 1e-5

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.vision_backbone.startswith("resnet"):
            raise ValueError(f"vision_backbone must be a ResNet variant, got {self.vision_backbone!r}")
        if self.temporal_ensemble_coeff is not None and self.n_action_steps > 1:
            raise ValueError(
                "n_action_steps must be 1 with temporal ensembling (the chunk is re-predicted every step); "
                f"got n_action_steps={self.n_action_steps}"
            )
        if self.n_action_steps > self.chunk_size:
            raise ValueError(
                f"n_action_steps ({self.n_action_steps}) cannot exceed chunk_size ({self.chunk_size})"
            )
        if self.n_obs_steps != 1:
            raise ValueError(f"ACT handles one observation step; got n_obs_steps={self.n_obs_steps}")
        if self.feedforward_activation not in ("relu", "gelu", "glu"):
            raise ValueError(f"feedforward_activation must be relu, gelu or glu, got {self.feedforward_activation!r}")
        if self.dim_model % self.n_heads:
            raise ValueError(f"dim_model ({self.dim_model}) must be divisible by n_heads ({self.n_heads})")

    def get_optimizer_preset(self) -> AdamWConfig:
        return AdamWConfig(lr=self.optimizer_lr, weight_decay=self.optimizer_weight_decay)

    def get_scheduler_preset(self) -> None:
        return None

    def validate_features(self) -> None:
        self.require_features()
        if not self.image_features and self.env_state_feature is None:
            raise ValueError(
                "ACT needs at least one image (observation.images.*) or observation.environment_state among "
                f"input_features; got {sorted(self.input_features)}"
            )

    @property
    def observation_delta_indices(self) -> None:
        return None

    @property
    def action_delta_indices(self) -> list[int]:
        return list(range(self.chunk_size))

    @property
    def reward_delta_indices(self) -> None:
        return None
