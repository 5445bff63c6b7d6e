"""Tiny policy features and random batches shared by the policy tests."""

from __future__ import annotations

import torch

from lerobot_core.processor import FeatureType, PolicyFeature


def tiny_features(image_hw=(32, 40), cams=("front", "wrist"), state_dim=4, action_dim=3):
    inputs = {"observation.state": PolicyFeature(FeatureType.STATE, (state_dim,))}
    for cam in cams:
        inputs[f"observation.images.{cam}"] = PolicyFeature(FeatureType.VISUAL, (3, *image_hw))
    return inputs, {"action": PolicyFeature(FeatureType.ACTION, (action_dim,))}


def random_batch(cfg, batch_size: int, obs_steps: int | None = None, horizon: int | None = None, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    lead = (batch_size,) if obs_steps is None else (batch_size, obs_steps)
    batch = {k: torch.randn(*lead, *ft.shape, generator=gen) for k, ft in cfg.input_features.items()}
    if horizon is not None:
        batch["action"] = torch.randn(batch_size, horizon, cfg.action_feature.shape[0], generator=gen)
        pad = torch.zeros(batch_size, horizon, dtype=torch.bool)
        pad[0, -2:] = True
        batch["action_is_pad"] = pad
    return batch
