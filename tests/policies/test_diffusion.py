"""Diffusion Policy: upstream checkpoint compatibility (seeded sampling), queues, loss, DDIM, save/load."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from tiny_policies import random_batch, tiny_features

from lerobot_core.policies import DiffusionConfig, DiffusionPolicy, make_pre_post_processors


def tiny_diffusion(**kw) -> DiffusionPolicy:
    inputs, outputs = tiny_features()
    args = dict(input_features=inputs, output_features=outputs, device="cpu", crop_shape=(28, 32),
                spatial_softmax_num_keypoints=4, down_dims=(16, 32), diffusion_step_embed_dim=16, n_groups=4,
                horizon=8, n_action_steps=4, num_inference_steps=3)
    args.update(kw)
    torch.manual_seed(0)
    return DiffusionPolicy(DiffusionConfig(**args))


@pytest.fixture(scope="module")
def upstream_diffusion(upstream_fixtures: Path):
    d = upstream_fixtures / "diffusion" / "pretrained_model"
    policy = DiffusionPolicy.from_pretrained(d)
    _, post = make_pre_post_processors(policy.config, pretrained_path=d)
    return d, policy, post, load_file(upstream_fixtures / "diffusion" / "reference.safetensors")


def test_upstream_checkpoint_reproduces_reference(upstream_diffusion) -> None:
    _, policy, post, ref = upstream_diffusion
    for j, seed in enumerate((1234, 1235)):
        batch = policy._stack_images({k[len(f"in{j}."):]: v for k, v in ref.items() if k.startswith(f"in{j}.")})
        with torch.no_grad():
            global_cond = policy.diffusion._prepare_global_conditioning(batch)
            actions = policy.diffusion.conditional_sample(
                1, global_cond=global_cond, generator=torch.Generator().manual_seed(seed))
        torch.testing.assert_close(global_cond, ref[f"out{j}.global_cond"], atol=1e-4, rtol=0)
        torch.testing.assert_close(actions, ref[f"out{j}.actions_normalized"], atol=1e-4, rtol=0)
        torch.testing.assert_close(post(actions), ref[f"out{j}.actions"], atol=1e-4, rtol=0)
        # The public API gives the executed slice [n_obs_steps - 1, + n_action_steps) of the same sample.
        chunk = policy.predict_action_chunk({k[len(f"in{j}."):]: v for k, v in ref.items() if k.startswith(f"in{j}.")},
                                            generator=torch.Generator().manual_seed(seed))
        torch.testing.assert_close(chunk, actions[:, 1:9], atol=1e-4, rtol=0)
        policy.fast_inference = True  # UNet convolutions as GEMMs: same samples up to float32 rounding
        fast = policy.predict_action_chunk({k[len(f"in{j}."):]: v for k, v in ref.items() if k.startswith(f"in{j}.")},
                                           generator=torch.Generator().manual_seed(seed))
        policy.fast_inference = False
        torch.testing.assert_close(fast, chunk, atol=1e-4, rtol=0)


def test_save_matches_upstream_layout(upstream_diffusion, tmp_path: Path) -> None:
    d, policy, _, _ = upstream_diffusion
    policy.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "config.json").read_text()) == json.loads((d / "config.json").read_text())
    ours, theirs = load_file(tmp_path / "model.safetensors"), load_file(d / "model.safetensors")
    assert ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours)


def test_observation_queue_and_action_queue() -> None:
    policy = tiny_diffusion()
    frames = [random_batch(policy.config, 2, seed=s) for s in range(6)]
    gen = torch.Generator().manual_seed(0)
    first = policy.select_action(frames[0], generator=gen)
    assert first.shape == (2, 3)
    # The first observation fills the whole history (copies), as upstream.
    assert len(policy._queues["observation.state"]) == 2
    assert torch.equal(policy._queues["observation.state"][0], policy._queues["observation.state"][1])
    for f in frames[1:4]:
        policy.select_action(f, generator=gen)
    assert len(policy._queues["action"]) == 0
    assert torch.equal(policy._queues["observation.state"][-1], frames[3]["observation.state"])
    policy.select_action(frames[4], generator=gen)  # queue empty: a new chunk is sampled
    assert len(policy._queues["action"]) == 3
    policy.reset()
    assert len(policy._queues["observation.state"]) == 0


def test_seeded_sampling_is_reproducible_and_ddim_works() -> None:
    policy = tiny_diffusion()
    batch = random_batch(policy.config, 2, obs_steps=2)
    a = policy.predict_action_chunk(batch, generator=torch.Generator().manual_seed(7))
    b = policy.predict_action_chunk(batch, generator=torch.Generator().manual_seed(7))
    assert torch.equal(a, b) and a.shape == (2, 4, 3)
    assert a.abs().max() <= 1.0  # clip_sample
    ddim = tiny_diffusion(noise_scheduler_type="DDIM")
    assert ddim.predict_action_chunk(batch).shape == (2, 4, 3)


def test_forward_loss_and_training_step() -> None:
    policy = tiny_diffusion(crop_is_random=True, do_mask_loss_for_padding=True)
    policy.train()
    batch = random_batch(policy.config, 3, obs_steps=2, horizon=8)
    loss, loss_dict = policy.forward(batch)
    assert loss.ndim == 0 and loss_dict["loss"] == pytest.approx(loss.item())
    optimizer = policy.config.get_optimizer_preset().build(policy.get_optim_params())
    scheduler = policy.config.get_scheduler_preset().build(optimizer, num_training_steps=10)
    loss.backward()
    optimizer.step()
    scheduler.step()
    with pytest.raises(ValueError, match="observation steps"):
        policy.forward(random_batch(policy.config, 1, obs_steps=1, horizon=8))


def test_round_trip_and_separate_encoders(tmp_path: Path) -> None:
    policy = tiny_diffusion(use_separate_rgb_encoder_per_camera=True, resize_shape=(24, 30), crop_ratio=0.9)
    assert policy.config.crop_shape == (21, 27)
    batch = random_batch(policy.config, 1, obs_steps=2)
    before = policy.predict_action_chunk(batch, generator=torch.Generator().manual_seed(3))
    policy.save_pretrained(tmp_path)
    loaded = DiffusionPolicy.from_pretrained(tmp_path)
    after = loaded.predict_action_chunk(batch, generator=torch.Generator().manual_seed(3))
    assert torch.equal(before, after)


def test_config_validation() -> None:
    inputs, outputs = tiny_features(image_hw=(32, 40))
    with pytest.raises(ValueError, match="crop_shape"):
        DiffusionPolicy(DiffusionConfig(input_features=inputs, output_features=outputs, crop_shape=(64, 64)))
    with pytest.raises(ValueError, match="horizon"):
        DiffusionConfig(horizon=10, down_dims=(8, 16))
    with pytest.raises(ValueError, match="prediction_type"):
        DiffusionConfig(prediction_type="v")
