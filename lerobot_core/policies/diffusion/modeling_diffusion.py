"""Diffusion Policy with upstream LeRobot's module layout and parameter names.

Observation encoder: ResNet (batch norm replaced by group norm) → spatial softmax keypoints → linear;
its features for every camera and observation step, with the robot state, form the global conditioning of
a 1-D temporal UNet whose residual blocks are FiLM-modulated. Sampling runs a diffusers DDPM/DDIM
scheduler; every random draw can come from one ``torch.Generator`` (initial noise first, then each step's
noise, in diffusers' order).
"""

from __future__ import annotations

import math
from collections import deque
from itertools import pairwise
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lerobot_core.constants import ACTION, OBS_ENV_STATE, OBS_IMAGES, OBS_STATE
from lerobot_core.policies.diffusion.configuration_diffusion import DiffusionConfig
from lerobot_core.policies.pretrained import PreTrainedPolicy, should_load_backbone_weights
from lerobot_core.policies.resnet import build_resnet, load_backbone_weights


def populate_queues(queues: dict[str, deque], batch: dict[str, Tensor]) -> dict[str, deque]:
    """Append each batch entry to its queue; an empty queue is filled with copies of the first frame."""
    for key, value in batch.items():
        if key not in queues:
            continue
        queue = queues[key]
        if len(queue) != queue.maxlen:
            while len(queue) != queue.maxlen:
                queue.append(value)
        else:
            queue.append(value)
    return queues


class DiffusionPolicy(PreTrainedPolicy):
    config_class = DiffusionConfig
    name = "diffusion"

    def __init__(self, config: DiffusionConfig, **kwargs: Any):
        super().__init__(config)
        config.validate_features()
        self.config: DiffusionConfig = config
        self.diffusion = DiffusionModel(config)
        self.fast_inference = False
        self.reset()

    @property
    def fast_inference(self) -> bool:
        """Inference with the UNet's convolutions as GEMMs (equal up to float32 rounding; off by default so
        upstream checkpoints give upstream's numbers exactly)."""
        return self._fast_inference

    @fast_inference.setter
    def fast_inference(self, value: bool) -> None:
        self._fast_inference = bool(value)
        for module in self.modules():
            if isinstance(module, DiffusionConv1dBlock):
                module.fast = self._fast_inference

    def get_optim_params(self):
        return self.diffusion.parameters()

    def reset(self) -> None:
        """Clear the observation history and the action queue (call at the start of every episode)."""
        self._queues: dict[str, deque] = {
            OBS_STATE: deque(maxlen=self.config.n_obs_steps),
            ACTION: deque(maxlen=self.config.n_action_steps),
        }
        if self.config.image_features:
            self._queues[OBS_IMAGES] = deque(maxlen=self.config.n_obs_steps)
        if self.config.env_state_feature:
            self._queues[OBS_ENV_STATE] = deque(maxlen=self.config.n_obs_steps)

    def _stack_images(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        if not self.config.image_features:
            return batch
        missing = [k for k in self.config.image_features if k not in batch]
        if missing:
            raise KeyError(f"Diffusion batch lacks camera features {missing}; got keys {sorted(batch)}")
        batch = dict(batch)
        batch[OBS_IMAGES] = torch.stack([batch[k] for k in self.config.image_features], dim=-4)
        return batch

    def _generate_from_queues(self, noise: Tensor | None, generator: torch.Generator | None) -> Tensor:
        stacked = {k: torch.stack(list(q), dim=1) for k, q in self._queues.items() if k != ACTION}
        return self.diffusion.generate_actions(stacked, noise=noise, generator=generator)

    @torch.no_grad()
    def predict_action_chunk(self, batch: dict[str, Tensor], noise: Tensor | None = None,
                             generator: torch.Generator | None = None) -> Tensor:
        """``(B, n_action_steps, action_dim)`` normalized actions.

        ``batch`` holds either one frame per key (it is pushed to the observation history first) or
        ``n_obs_steps`` stacked frames (``observation.state`` of shape ``(B, n_obs_steps, D)``).
        """
        self.eval()
        batch = {k: v for k, v in batch.items() if k != ACTION}
        if batch[OBS_STATE].dim() == 3:
            return self.diffusion.generate_actions(self._stack_images(batch), noise=noise, generator=generator)
        populate_queues(self._queues, self._stack_images(batch))
        return self._generate_from_queues(noise, generator)

    @torch.no_grad()
    def select_action(self, batch: dict[str, Tensor], noise: Tensor | None = None,
                      generator: torch.Generator | None = None) -> Tensor:
        """One ``(B, action_dim)`` action per call; a new chunk is sampled when the action queue is empty."""
        self.eval()
        batch = self._stack_images({k: v for k, v in batch.items() if k != ACTION})
        populate_queues(self._queues, batch)
        if len(self._queues[ACTION]) == 0:
            actions = self._generate_from_queues(noise, generator)
            self._queues[ACTION].extend(actions.transpose(0, 1))
        return self._queues[ACTION].popleft()

    def forward(self, batch: dict[str, Tensor]) -> tuple[Tensor, dict[str, float]]:
        """Training loss: MSE between the UNet output and the noise (or the clean actions)."""
        loss = self.diffusion.compute_loss(self._stack_images(batch))
        return loss, {"loss": loss.item()}


def _make_noise_scheduler(name: str, **kwargs: Any):
    from diffusers import DDIMScheduler, DDPMScheduler

    if name == "DDPM":
        return DDPMScheduler(**kwargs)
    if name == "DDIM":
        return DDIMScheduler(**kwargs)
    raise ValueError(f"unsupported noise scheduler {name!r}; use DDPM or DDIM")


class DiffusionModel(nn.Module):
    def __init__(self, config: DiffusionConfig):
        super().__init__()
        self.config = config
        global_cond_dim = config.robot_state_feature.shape[0]
        if config.image_features:
            n_cams = len(config.image_features)
            if config.use_separate_rgb_encoder_per_camera:
                encoders = [DiffusionRgbEncoder(config) for _ in range(n_cams)]
                self.rgb_encoder = nn.ModuleList(encoders)
                global_cond_dim += encoders[0].feature_dim * n_cams
            else:
                self.rgb_encoder = DiffusionRgbEncoder(config)
                global_cond_dim += self.rgb_encoder.feature_dim * n_cams
        if config.env_state_feature:
            global_cond_dim += config.env_state_feature.shape[0]
        self.unet = DiffusionConditionalUnet1d(config, global_cond_dim=global_cond_dim * config.n_obs_steps)
        self.noise_scheduler = _make_noise_scheduler(
            config.noise_scheduler_type,
            num_train_timesteps=config.num_train_timesteps,
            beta_start=config.beta_start,
            beta_end=config.beta_end,
            beta_schedule=config.beta_schedule,
            clip_sample=config.clip_sample,
            clip_sample_range=config.clip_sample_range,
            prediction_type=config.prediction_type,
        )
        self.num_inference_steps = config.num_inference_steps or self.noise_scheduler.config.num_train_timesteps

    def conditional_sample(self, batch_size: int, global_cond: Tensor | None = None,
                           generator: torch.Generator | None = None, noise: Tensor | None = None) -> Tensor:
        """Denoise a full ``(B, horizon, action_dim)`` trajectory from Gaussian noise."""
        param = next(self.parameters())
        sample = noise if noise is not None else torch.randn(
            (batch_size, self.config.horizon, self.config.action_feature.shape[0]),
            dtype=param.dtype, device=param.device, generator=generator,
        )
        self.noise_scheduler.set_timesteps(self.num_inference_steps)
        for t in self.noise_scheduler.timesteps:
            timestep = torch.full(sample.shape[:1], t, dtype=torch.long, device=sample.device)
            model_output = self.unet(sample, timestep, global_cond=global_cond)
            sample = self.noise_scheduler.step(model_output, t, sample, generator=generator).prev_sample
        return sample

    def _prepare_global_conditioning(self, batch: dict[str, Tensor]) -> Tensor:
        """``(B, n_obs_steps * per-step features)``: state, camera features, env state per step."""
        batch_size, n_obs_steps = batch[OBS_STATE].shape[:2]
        feats = [batch[OBS_STATE]]
        if self.config.image_features:
            images = batch[OBS_IMAGES]  # (B, S, N, C, H, W)
            if self.config.use_separate_rgb_encoder_per_camera:
                per_cam = images.permute(2, 0, 1, 3, 4, 5).flatten(1, 2)  # (N, B*S, C, H, W)
                out = torch.cat([enc(x) for enc, x in zip(self.rgb_encoder, per_cam)])  # (N*B*S, F)
                out = out.reshape(len(self.rgb_encoder), batch_size, n_obs_steps, -1).permute(1, 2, 0, 3)
                img_feats = out.reshape(batch_size, n_obs_steps, -1)
            else:
                out = self.rgb_encoder(images.flatten(0, 2))  # (B*S*N, F)
                img_feats = out.reshape(batch_size, n_obs_steps, -1)
            feats.append(img_feats)
        if self.config.env_state_feature:
            feats.append(batch[OBS_ENV_STATE])
        return torch.cat(feats, dim=-1).flatten(start_dim=1)

    def generate_actions(self, batch: dict[str, Tensor], noise: Tensor | None = None,
                         generator: torch.Generator | None = None) -> Tensor:
        batch_size, n_obs_steps = batch[OBS_STATE].shape[:2]
        if n_obs_steps != self.config.n_obs_steps:
            raise ValueError(f"expected {self.config.n_obs_steps} observation steps, got {n_obs_steps}")
        global_cond = self._prepare_global_conditioning(batch)
        actions = self.conditional_sample(batch_size, global_cond=global_cond, generator=generator, noise=noise)
        start = n_obs_steps - 1
        return actions[:, start : start + self.config.n_action_steps]

    def compute_loss(self, batch: dict[str, Tensor]) -> Tensor:
        for key in (OBS_STATE, ACTION, "action_is_pad"):
            if key not in batch:
                raise KeyError(f"Diffusion training batch needs {key!r}; got keys {sorted(batch)}")
        n_obs_steps, horizon = batch[OBS_STATE].shape[1], batch[ACTION].shape[1]
        if horizon != self.config.horizon or n_obs_steps != self.config.n_obs_steps:
            raise ValueError(
                f"batch has {n_obs_steps} observation steps and {horizon} actions; the config needs "
                f"{self.config.n_obs_steps} and {self.config.horizon} (set delta_timestamps from the config)"
            )
        global_cond = self._prepare_global_conditioning(batch)
        trajectory = batch[ACTION]
        eps = torch.randn(trajectory.shape, device=trajectory.device)
        timesteps = torch.randint(0, self.noise_scheduler.config.num_train_timesteps, (trajectory.shape[0],),
                                  device=trajectory.device).long()
        noisy = self.noise_scheduler.add_noise(trajectory, eps, timesteps)
        pred = self.unet(noisy, timesteps, global_cond=global_cond)
        target = eps if self.config.prediction_type == "epsilon" else trajectory
        loss = F.mse_loss(pred, target, reduction="none")
        if self.config.do_mask_loss_for_padding:
            loss = loss * (~batch["action_is_pad"]).unsqueeze(-1)
        return loss.mean()


class SpatialSoftmax(nn.Module):
    """Keypoints as the softmax-weighted mean (x, y) in [-1, 1] of each (1×1-conv projected) channel."""

    def __init__(self, input_shape: tuple[int, int, int], num_kp: int | None = None):
        super().__init__()
        self._in_c, self._in_h, self._in_w = input_shape
        if num_kp is not None:
            self.nets = nn.Conv2d(self._in_c, num_kp, kernel_size=1)
            self._out_c = num_kp
        else:
            self.nets = None
            self._out_c = self._in_c
        pos_x, pos_y = np.meshgrid(np.linspace(-1.0, 1.0, self._in_w), np.linspace(-1.0, 1.0, self._in_h))
        pos_x = torch.from_numpy(pos_x.reshape(-1, 1)).float()
        pos_y = torch.from_numpy(pos_y.reshape(-1, 1)).float()
        self.register_buffer("pos_grid", torch.cat([pos_x, pos_y], dim=1))

    def forward(self, features: Tensor) -> Tensor:
        if self.nets is not None:
            features = self.nets(features)
        attention = F.softmax(features.reshape(-1, self._in_h * self._in_w), dim=-1)
        return (attention @ self.pos_grid).view(-1, self._out_c, 2)


def center_crop(x: Tensor, size: tuple[int, int]) -> Tensor:
    """torchvision ``CenterCrop`` for a crop no larger than the image."""
    h, w = x.shape[-2:]
    top, left = round((h - size[0]) / 2.0), round((w - size[1]) / 2.0)
    return x[..., top : top + size[0], left : left + size[1]]


def random_crop(x: Tensor, size: tuple[int, int]) -> Tensor:
    """torchvision ``RandomCrop`` (one offset for the whole batch, drawn from torch's global RNG)."""
    h, w = x.shape[-2:]
    top = int(torch.randint(0, h - size[0] + 1, size=(1,)).item())
    left = int(torch.randint(0, w - size[1] + 1, size=(1,)).item())
    return x[..., top : top + size[0], left : left + size[1]]


class DiffusionRgbEncoder(nn.Module):
    """Image → feature vector: optional resize and crop, ResNet trunk, spatial softmax, linear + ReLU."""

    def __init__(self, config: DiffusionConfig):
        super().__init__()
        self.resize_shape = tuple(config.resize_shape) if config.resize_shape is not None else None
        self.crop_shape = tuple(config.crop_shape) if config.crop_shape is not None else None
        self.crop_is_random = config.crop_is_random
        norm_layer = (lambda c: nn.GroupNorm(num_groups=c // 16, num_channels=c)) if config.use_group_norm else None
        resnet = build_resnet(config.vision_backbone, norm_layer=norm_layer)
        if config.pretrained_backbone_weights and should_load_backbone_weights():
            load_backbone_weights(resnet, config.pretrained_backbone_weights)
        children = list(resnet.children())[:-2]  # drop avgpool and fc: names become 0..7 as upstream
        self.backbone = nn.Sequential(*children)
        image_shape = next(iter(config.image_features.values())).shape
        if self.crop_shape is not None:
            hw = self.crop_shape
        elif self.resize_shape is not None:
            hw = self.resize_shape
        else:
            hw = tuple(image_shape[1:])
        with torch.no_grad():
            fmap = self.backbone(torch.zeros(1, image_shape[0], *hw)).shape[1:]
        self.pool = SpatialSoftmax(tuple(fmap), num_kp=config.spatial_softmax_num_keypoints)
        self.feature_dim = config.spatial_softmax_num_keypoints * 2
        self.out = nn.Linear(config.spatial_softmax_num_keypoints * 2, self.feature_dim)
        self.relu = nn.ReLU()

    def forward(self, x: Tensor) -> Tensor:
        if self.resize_shape is not None:
            x = F.interpolate(x, size=self.resize_shape, mode="bilinear", align_corners=False, antialias=True)
        if self.crop_shape is not None:
            x = random_crop(x, self.crop_shape) if self.training and self.crop_is_random else center_crop(
                x, self.crop_shape)
        x = torch.flatten(self.pool(self.backbone(x)), start_dim=1)
        return self.relu(self.out(x))


class DiffusionSinusoidalPosEmb(nn.Module):
    """Sinusoidal embedding of the diffusion timestep: ``[sin(t·f), cos(t·f)]``."""

    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim

    def forward(self, x: Tensor) -> Tensor:
        half = self.dim // 2
        freq = torch.exp(torch.arange(half, device=x.device) * -(math.log(10000) / (half - 1)))
        emb = x.unsqueeze(-1) * freq.unsqueeze(0)
        return torch.cat((emb.sin(), emb.cos()), dim=-1)


def conv1d_as_gemm(x: Tensor, conv: nn.Conv1d) -> Tensor:
    """``conv(x)`` for a stride-1 "same" Conv1d as one matrix product over unfolded windows.

    On CPU the action horizon is short (4-16 steps), so PyTorch's Conv1d takes a slow im2col path; a GEMM
    against the ``(out, in*k)`` weight view streams the (large) weights once. Equal up to float32 rounding.
    """
    b, c, length = x.shape
    k = conv.kernel_size[0]
    pad = conv.padding[0]
    cols = F.pad(x, (pad, pad)).unfold(2, k, 1).permute(0, 2, 1, 3).reshape(b, length, c * k)
    out = torch.matmul(cols, conv.weight.reshape(conv.out_channels, c * k).t())
    if conv.bias is not None:
        out = out + conv.bias
    return out.transpose(1, 2)


class DiffusionConv1dBlock(nn.Module):
    """Conv1d → GroupNorm → Mish."""

    def __init__(self, inp_channels: int, out_channels: int, kernel_size: int, n_groups: int = 8):
        super().__init__()
        self.block = nn.Sequential(
            nn.Conv1d(inp_channels, out_channels, kernel_size, padding=kernel_size // 2),
            nn.GroupNorm(n_groups, out_channels),
            nn.Mish(),
        )
        #: Run the convolution as a GEMM (set by ``DiffusionPolicy.fast_inference`` for inference).
        self.fast = False

    def forward(self, x: Tensor) -> Tensor:
        if not self.fast or torch.is_grad_enabled():
            return self.block(x)
        conv, norm, act = self.block
        return act(norm(conv1d_as_gemm(x, conv)))


class DiffusionConditionalResidualBlock1d(nn.Module):
    """Two conv blocks with FiLM conditioning (scale and bias, or bias only) in between, plus a residual."""

    def __init__(self, in_channels: int, out_channels: int, cond_dim: int, kernel_size: int = 3,
                 n_groups: int = 8, use_film_scale_modulation: bool = False):
        super().__init__()
        self.use_film_scale_modulation = use_film_scale_modulation
        self.out_channels = out_channels
        self.conv1 = DiffusionConv1dBlock(in_channels, out_channels, kernel_size, n_groups=n_groups)
        cond_channels = out_channels * 2 if use_film_scale_modulation else out_channels
        self.cond_encoder = nn.Sequential(nn.Mish(), nn.Linear(cond_dim, cond_channels))
        self.conv2 = DiffusionConv1dBlock(out_channels, out_channels, kernel_size, n_groups=n_groups)
        self.residual_conv = nn.Conv1d(in_channels, out_channels, 1) if in_channels != out_channels else nn.Identity()

    def forward(self, x: Tensor, cond: Tensor) -> Tensor:
        out = self.conv1(x)
        cond_embed = self.cond_encoder(cond).unsqueeze(-1)
        if self.use_film_scale_modulation:
            out = cond_embed[:, : self.out_channels] * out + cond_embed[:, self.out_channels :]
        else:
            out = out + cond_embed
        out = self.conv2(out)
        return out + self.residual_conv(x)


class DiffusionConditionalUnet1d(nn.Module):
    """1-D convolutional UNet over the action horizon, conditioned on timestep + observation features."""

    def __init__(self, config: DiffusionConfig, global_cond_dim: int):
        super().__init__()
        self.config = config
        e = config.diffusion_step_embed_dim
        self.diffusion_step_encoder = nn.Sequential(
            DiffusionSinusoidalPosEmb(e), nn.Linear(e, e * 4), nn.Mish(), nn.Linear(e * 4, e),
        )
        cond_dim = e + global_cond_dim
        dims = list(config.down_dims)
        in_out = [(config.action_feature.shape[0], dims[0]), *pairwise(dims)]
        kw = {"cond_dim": cond_dim, "kernel_size": config.kernel_size, "n_groups": config.n_groups,
              "use_film_scale_modulation": config.use_film_scale_modulation}
        self.down_modules = nn.ModuleList()
        for i, (dim_in, dim_out) in enumerate(in_out):
            is_last = i >= len(in_out) - 1
            self.down_modules.append(nn.ModuleList([
                DiffusionConditionalResidualBlock1d(dim_in, dim_out, **kw),
                DiffusionConditionalResidualBlock1d(dim_out, dim_out, **kw),
                nn.Conv1d(dim_out, dim_out, 3, 2, 1) if not is_last else nn.Identity(),
            ]))
        self.mid_modules = nn.ModuleList([
            DiffusionConditionalResidualBlock1d(dims[-1], dims[-1], **kw),
            DiffusionConditionalResidualBlock1d(dims[-1], dims[-1], **kw),
        ])
        self.up_modules = nn.ModuleList()
        for i, (dim_out, dim_in) in enumerate(reversed(in_out[1:])):
            is_last = i >= len(in_out) - 1
            self.up_modules.append(nn.ModuleList([
                DiffusionConditionalResidualBlock1d(dim_in * 2, dim_out, **kw),
                DiffusionConditionalResidualBlock1d(dim_out, dim_out, **kw),
                nn.ConvTranspose1d(dim_out, dim_out, 4, 2, 1) if not is_last else nn.Identity(),
            ]))
        self.final_conv = nn.Sequential(
            DiffusionConv1dBlock(dims[0], dims[0], kernel_size=config.kernel_size),
            nn.Conv1d(dims[0], config.action_feature.shape[0], 1),
        )

    def forward(self, x: Tensor, timestep: Tensor | int, global_cond: Tensor | None = None) -> Tensor:
        """``x``: (B, T, action_dim) → the same shape."""
        x = x.transpose(1, 2)
        if not torch.is_tensor(timestep):
            timestep = torch.full((x.shape[0],), int(timestep), dtype=torch.long, device=x.device)
        t_emb = self.diffusion_step_encoder(timestep)
        feature = torch.cat([t_emb, global_cond], dim=-1) if global_cond is not None else t_emb
        skips = []
        for block1, block2, down in self.down_modules:
            x = block2(block1(x, feature), feature)
            skips.append(x)
            x = down(x)
        for block in self.mid_modules:
            x = block(x, feature)
        for block1, block2, up in self.up_modules:
            x = torch.cat((x, skips.pop()), dim=1)
            x = up(block2(block1(x, feature), feature))
        return self.final_conv(x).transpose(1, 2)
