"""Inference fixtures: an in-process Zenoh router on a free port, a tiny ACT checkpoint, server factories."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.zenoh_router import open_router

from lerobot_core.inference.manifest import ModelSpec, PolicyServerManifest, ZenohSpec
from lerobot_core.inference.server import PolicyServer
from lerobot_core.policies import ACTConfig, ACTPolicy, make_pre_post_processors
from lerobot_core.processor import FeatureType, PolicyFeature

ACTION_NAMES = ["shoulder_pan.pos", "shoulder_lift.pos", "gripper.pos"]
CAMERAS = ["observation.images.front", "observation.images.wrist"]
STATE_DIM = 4
IMAGE_HW = (24, 32)


@pytest.fixture(scope="session")
def zenoh_router() -> Iterator[str]:
    with open_router() as endpoint:
        yield endpoint


def tiny_act_policy() -> tuple[ACTPolicy, object, object]:
    inputs = {"observation.state": PolicyFeature(FeatureType.STATE, (STATE_DIM,))}
    for cam in CAMERAS:
        inputs[cam] = PolicyFeature(FeatureType.VISUAL, (3, *IMAGE_HW))
    outputs = {"action": PolicyFeature(FeatureType.ACTION, (len(ACTION_NAMES),))}
    cfg = ACTConfig(input_features=inputs, output_features=outputs, device="cpu", pretrained_backbone_weights=None,
                    dim_model=32, n_heads=2, dim_feedforward=64, n_encoder_layers=1, n_decoder_layers=1,
                    n_vae_encoder_layers=1, latent_dim=4, chunk_size=12, n_action_steps=12)
    torch.manual_seed(0)
    policy = ACTPolicy(cfg)
    stats = {"observation.state": {"mean": np.zeros(STATE_DIM), "std": np.ones(STATE_DIM)},
             "action": {"mean": np.array([10.0, -5.0, 50.0]), "std": np.array([20.0, 10.0, 25.0])}}
    for cam in CAMERAS:
        stats[cam] = {"mean": np.full((3, 1, 1), 0.5), "std": np.full((3, 1, 1), 0.25)}
    pre, post = make_pre_post_processors(cfg, dataset_stats=stats)
    return policy, pre, post


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("tiny_act")
    policy, pre, post = tiny_act_policy()
    policy.save_pretrained(out)
    pre.save_pretrained(out)
    post.save_pretrained(out)
    return out


def make_observation(seed: int = 0, hw: tuple[int, int] = (48, 64)) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    obs = {"observation.state": rng.normal(size=STATE_DIM).astype(np.float32)}
    for cam in CAMERAS:
        obs[cam] = rng.integers(0, 256, size=(*hw, 3), dtype=np.uint8)
    return obs


@pytest.fixture
def make_server(zenoh_router: str, tiny_checkpoint: Path) -> Iterator[Callable[..., PolicyServer]]:
    servers: list[PolicyServer] = []

    def factory(start: bool = True, **overrides) -> PolicyServer:
        manifest = PolicyServerManifest(
            model=ModelSpec(repo_or_path=str(tiny_checkpoint), device="cpu"),
            zenoh=ZenohSpec(mode="client", connect_endpoints=[zenoh_router]),
            default_task="stack", action_names=list(ACTION_NAMES), health_port=-1, health_host="127.0.0.1",
            warmup_inferences=1, **overrides)
        server = PolicyServer(manifest)
        server.load_policy()
        if start:
            server.start()
        servers.append(server)
        return server

    yield factory
    for server in servers:
        server.stop()
