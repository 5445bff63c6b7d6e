"""Diffusion Policy config: upstream LeRobot's ``DiffusionConfig`` fields, order and defaults."""

from __future__ import annotations

from dataclasses import dataclass, field

from lerobot_core.policies.config import PreTrainedConfig
from lerobot_core.policies.optim import AdamConfig, DiffuserSchedulerConfig
from lerobot_core.processor.features import NormalizationMode


@PreTrainedConfig.register_subclass("diffusion")
@dataclass
class DiffusionConfig(PreTrainedConfig):
    """Observations from ``n_obs_steps`` frames condition a 1-D UNet that denoises ``horizon`` actions;
    ``n_action_steps`` of them (starting at the current step) are executed."""

    n_obs_steps: int = 2
    horizon: int = 16
    n_action_steps: int = 8
    normalization_mapping: dict[str, NormalizationMode] = field(
        default_factory=lambda: {
            "VISUAL": NormalizationMode.MEAN_STD,
            "STATE": NormalizationMode.MIN_MAX,
            "ACTION": NormalizationMode.MIN_MAX,
        }
    )
    # The original implementation does not sample the last 7 frames of an episode.
    drop_n_last_frames: int = 7
    # Vision backbone.
    vision_backbone: str = "resnet18"
    resize_shape: tuple[int, int] | None = None
    crop_ratio: float = 1.0
    crop_shape: tuple[int, int] | None = (84, 84)
    crop_is_random: bool = True
    pretrained_backbone_weights: str | None = None
    use_group_norm: bool = True
    spatial_softmax_num_keypoints: int = 32
    use_separate_rgb_encoder_per_camera: bool = False
    # UNet.
    down_dims: tuple[int, ...] = (512, 1024, 2048)
    kernel_size: int = 5
    n_groups: int = 8
    diffusion_step_embed_dim: int = 128
    use_film_scale_modulation: bool = True
    # Noise scheduler.
    noise_scheduler_type: str = "DDPM"
    num_train_timesteps: int = 100
    beta_schedule: str = "squaredcos_cap_v2"
    beta_start: float = 0.0001
    beta_end: float = 0.02
    prediction_type: str = "epsilon"
    clip_sample: bool = True
    clip_sample_range: float = 1.0
    # Inference.
    num_inference_steps: int | None = None
    # Optimization.
    compile_model: bool = False
    compile_mode: str = "reduce-overhead"
    # Loss.
    do_mask_loss_for_padding: bool = False
    # Training presets.
    optimizer_lr: float = 1e-4
    optimizer_betas: tuple = (0.95, 0.999)
    optimizer_eps: float = 1e-8
    optimizer_weight_decay: float = 1e-6
    scheduler_name: str = "cosine"
    scheduler_warmup_steps: int = 500

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.vision_backbone.startswith("resnet"):
            raise ValueError(f"vision_backbone must be a ResNet variant, got {self.vision_backbone!r}")
        if self.prediction_type not in ("epsilon", "sample"):
            raise ValueError(f"prediction_type must be 'epsilon' or 'sample', got {self.prediction_type!r}")
        if self.noise_scheduler_type not in ("DDPM", "DDIM"):
            raise ValueError(f"noise_scheduler_type must be 'DDPM' or 'DDIM', got {self.noise_scheduler_type!r}")
        factor = 2 ** len(self.down_dims)
        if self.horizon % factor:
            raise ValueError(
                f"horizon ({self.horizon}) must be a multiple of 2**len(down_dims) = {factor} (UNet downsampling)"
            )
        if self.resize_shape is not None and (len(self.resize_shape) != 2 or min(self.resize_shape) <= 0):
            raise ValueError(f"resize_shape must be two positive integers, got {self.resize_shape}")
        if not 0 < self.crop_ratio <= 1.0:
            raise ValueError(f"crop_ratio must be in (0, 1], got {self.crop_ratio}")
        if self.resize_shape is not None:
            if self.crop_ratio < 1.0:
                self.crop_shape = (int(self.resize_shape[0] * self.crop_ratio),
                                   int(self.resize_shape[1] * self.crop_ratio))
            else:
                self.crop_shape = None
        if self.crop_shape is not None:
            self.crop_shape = tuple(self.crop_shape)
            if min(self.crop_shape) <= 0:
                raise ValueError(f"crop_shape must be positive, got {self.crop_shape}")
        if self.use_group_norm and self.pretrained_backbone_weights:
            raise ValueError(
                "use_group_norm replaces batch norm, so pretrained_backbone_weights cannot be used with it; "
                "set one of them off"
            )

    def get_optimizer_preset(self) -> AdamConfig:
        return AdamConfig(lr=self.optimizer_lr, betas=tuple(self.optimizer_betas), eps=self.optimizer_eps,
                          weight_decay=self.optimizer_weight_decay)

    def get_scheduler_preset(self) -> DiffuserSchedulerConfig:
        return DiffuserSchedulerConfig(name=self.scheduler_name, num_warmup_steps=self.scheduler_warmup_steps)

    def validate_features(self) -> None:
        self.require_features()
        if self.robot_state_feature is None:
            raise ValueError(
                f"Diffusion Policy needs observation.state among input_features; got {sorted(self.input_features)}"
            )
        if not self.image_features and self.env_state_feature is None:
            raise ValueError(
                "Diffusion Policy needs at least one image (observation.images.*) or "
                f"observation.environment_state among input_features; got {sorted(self.input_features)}"
            )
        if self.resize_shape is None and self.crop_shape is not None:
            for key, ft in self.image_features.items():
                if self.crop_shape[0] > ft.shape[1] or self.crop_shape[1] > ft.shape[2]:
                    raise ValueError(
                        f"crop_shape {tuple(self.crop_shape)} does not fit in {key} of shape {tuple(ft.shape)}; "
                        "lower --policy.crop_shape"
                    )
        shapes = {k: tuple(ft.shape) for k, ft in self.image_features.items()}
        if len(set(shapes.values())) > 1:
            raise ValueError(f"Diffusion Policy needs all cameras to have the same shape; got {shapes}")

    @property
    def observation_delta_indices(self) -> list[int]:
        return list(range(1 - self.n_obs_steps, 1))

    @property
    def action_delta_indices(self) -> list[int]:
        return list(range(1 - self.n_obs_steps, 1 - self.n_obs_steps + self.horizon))

    @property
    def reward_delta_indices(self) -> None:
        return None
