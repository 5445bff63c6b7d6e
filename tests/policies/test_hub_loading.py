"""Policies and processors load from a hub repo id (a real local Hub server, no internet)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from helpers.hf_hub_server import HubServer, hub_env
from tiny_policies import random_batch, tiny_features

from lerobot_core.policies import ACTConfig, PreTrainedConfig, make_policy, make_pre_post_processors


def test_policy_and_processors_from_repo_id(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    inputs, outputs = tiny_features()
    cfg = ACTConfig(input_features=inputs, output_features=outputs, device="cpu", pretrained_backbone_weights=None,
                    dim_model=16, n_heads=2, dim_feedforward=32, n_encoder_layers=1, n_vae_encoder_layers=1,
                    latent_dim=4, chunk_size=4, n_action_steps=4)
    policy = make_policy(cfg)
    stats = {k: {"mean": torch.zeros(ft.shape[0]).tolist(), "std": torch.ones(ft.shape[0]).tolist()}
             for k, ft in {**inputs, **outputs}.items()}
    pre, post = make_pre_post_processors(cfg, dataset_stats=stats)
    local = tmp_path / "ckpt"
    for obj in (policy, pre, post):
        obj.save_pretrained(local)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "cache"))
    batch = random_batch(cfg, 1)
    expected = post(policy.predict_action_chunk(batch))
    with HubServer(tmp_path / "hub") as server, hub_env(server.url):
        server.seed_repo("user/tiny_act", {p.name: p.read_bytes() for p in local.iterdir()}, repo_type="model")
        remote_cfg = PreTrainedConfig.from_pretrained("user/tiny_act")
        remote_cfg.pretrained_path = "user/tiny_act"
        remote = make_policy(remote_cfg)
        remote_pre, remote_post = make_pre_post_processors(remote_cfg, pretrained_path="user/tiny_act")
        got = remote_post(remote.predict_action_chunk(remote_pre({k: v[0] for k, v in batch.items()})))
    assert remote_cfg == cfg.__class__(**{**vars(cfg), "pretrained_path": "user/tiny_act"})
    assert torch.equal(got, expected)
