"""ACT: upstream checkpoint compatibility, fast path == exact path, queues, ensembling, loss, save/load."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from tiny_policies import random_batch, tiny_features

from lerobot_core.policies import ACTConfig, ACTPolicy, make_pre_post_processors
from lerobot_core.policies.act.inference import linear
from lerobot_core.policies.act.modeling_act import ACTTemporalEnsembler


def tiny_act(**kw) -> ACTPolicy:
    inputs, outputs = tiny_features()
    args = dict(input_features=inputs, output_features=outputs, device="cpu", pretrained_backbone_weights=None,
                dim_model=32, n_heads=2, dim_feedforward=64, n_encoder_layers=2, n_vae_encoder_layers=1,
                latent_dim=4, chunk_size=6, n_action_steps=4)
    args.update(kw)
    torch.manual_seed(0)
    return ACTPolicy(ACTConfig(**args))


@pytest.fixture(scope="module")
def upstream_act(upstream_fixtures: Path):
    d = upstream_fixtures / "act" / "pretrained_model"
    policy = ACTPolicy.from_pretrained(d)
    pre, post = make_pre_post_processors(policy.config, pretrained_path=d)
    return d, policy, pre, post, load_file(upstream_fixtures / "act" / "reference.safetensors")


def test_upstream_checkpoint_reproduces_reference(upstream_act) -> None:
    _, policy, pre, post, ref = upstream_act
    for j in range(3):
        batch = pre({k[len(f"in{j}."):]: v[0] for k, v in ref.items() if k.startswith(f"in{j}.")})
        policy.fast_inference = False
        chunk = policy.predict_action_chunk(batch)
        torch.testing.assert_close(chunk, ref[f"out{j}.chunk_normalized"], atol=1e-5, rtol=0)
        torch.testing.assert_close(post(chunk), ref[f"out{j}.chunk"], atol=1e-5, rtol=0)
        policy.fast_inference = True
        fast = policy.predict_action_chunk(batch)
        torch.testing.assert_close(fast, chunk, atol=1e-4, rtol=0)
        torch.testing.assert_close(post(fast), ref[f"out{j}.chunk"], atol=1e-4, rtol=0)
    policy.fast_inference = False


def test_save_matches_upstream_layout(upstream_act, tmp_path: Path) -> None:
    d, policy, pre, post, _ = upstream_act
    policy.save_pretrained(tmp_path)
    pre.save_pretrained(tmp_path)
    post.save_pretrained(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in d.iterdir())
    assert json.loads((tmp_path / "config.json").read_text()) == json.loads((d / "config.json").read_text())
    ours, theirs = load_file(tmp_path / "model.safetensors"), load_file(d / "model.safetensors")
    assert ours.keys() == theirs.keys()
    assert all(torch.equal(ours[k], theirs[k]) for k in ours)


def test_fast_path_equals_exact_path() -> None:
    policy = tiny_act(dropout=0.0)
    batch = random_batch(policy.config, 2, horizon=6)
    policy.fast_inference = False
    exact = policy.predict_action_chunk(batch)
    policy.fast_inference = True
    fast = policy.predict_action_chunk(batch)
    torch.testing.assert_close(fast, exact, atol=1e-4, rtol=0)
    with torch.no_grad():  # outside inference mode too (caches built under inference mode stay usable)
        torch.testing.assert_close(policy.model(policy._with_image_list(batch), fast=True)[0], fast)
    # Training: same loss and gradients (same RNG draws for the VAE sample).
    policy.train()
    results = []
    for fast_training in (False, True):
        policy.fast_training = fast_training
        policy.zero_grad()
        torch.manual_seed(1)
        loss, _ = policy.forward(batch)
        loss.backward()
        results.append((loss.detach(), {n: p.grad.clone() for n, p in policy.named_parameters() if p.grad is not None}))
    torch.testing.assert_close(results[0][0], results[1][0], atol=1e-5, rtol=1e-5)
    assert results[0][1].keys() == results[1][1].keys()
    for name, grad in results[0][1].items():
        torch.testing.assert_close(results[1][1][name], grad, atol=1e-4, rtol=1e-3, msg=name)


def test_fast_path_default_size_model_matches_exact_path() -> None:
    """Default ACT (resnet18, dim 512, 4+1 layers, chunk 100) on small images: the fast path (Winograd
    convolutions, packed oneDNN linears, cached decoder queries) stays within 1e-4 of the exact path."""
    inputs, outputs = tiny_features(image_hw=(64, 96), state_dim=6, action_dim=6)
    torch.manual_seed(0)
    policy = ACTPolicy(ACTConfig(input_features=inputs, output_features=outputs, device="cpu",
                                 pretrained_backbone_weights=None))
    batch = random_batch(policy.config, 1)
    policy.fast_inference = False
    exact = policy.predict_action_chunk(batch)
    policy.fast_inference = True
    fast = policy.predict_action_chunk(batch)
    policy.model._folded_backbone._winograd.strip_bytes = 64 << 10  # as full-size images: convs in strips
    fast_strips = policy.predict_action_chunk(batch)
    assert fast.shape == exact.shape == (1, 100, 6)
    torch.testing.assert_close(fast, exact, atol=1e-4, rtol=0)
    torch.testing.assert_close(fast_strips, exact, atol=1e-4, rtol=0)


def test_fast_path_follows_weight_updates() -> None:
    """The fast path's caches (folded/Winograd conv weights, packed linears, decoder queries) are rebuilt
    when parameters change in place, as an optimizer step does."""
    policy = tiny_act(dropout=0.0)
    batch = random_batch(policy.config, 2)
    policy.fast_inference = True
    before = policy.predict_action_chunk(batch)
    with torch.no_grad():
        for p in policy.parameters():
            p.add_(0.05 * torch.randn_like(p))
    after = policy.predict_action_chunk(batch)
    policy.fast_inference = False
    exact = policy.predict_action_chunk(batch)
    assert not torch.allclose(after, before, atol=1e-3)
    torch.testing.assert_close(after, exact, atol=1e-4, rtol=0)


def test_packed_linear_matches_f_linear() -> None:
    gen = torch.Generator().manual_seed(0)
    x, w, b = torch.randn(7, 2, 16, generator=gen), torch.randn(24, 16, generator=gen), torch.randn(24, generator=gen)
    rows = slice(8, 16)
    with torch.inference_mode():
        torch.testing.assert_close(linear(x, w, b, relu=True), F.linear(x, w, b).relu(), atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(linear(x, w, b, rows=rows), F.linear(x, w[rows], b[rows]), atol=1e-5, rtol=1e-5)
    x.requires_grad_(True)
    y = linear(x, w, b, rows=rows)  # with autograd: plain F.linear, bit for bit
    assert y.requires_grad and torch.equal(y, F.linear(x, w[rows], b[rows]))


def test_forward_loss_dict_and_backward() -> None:
    policy = tiny_act()
    policy.train()
    loss, loss_dict = policy.forward(random_batch(policy.config, 3, horizon=6))
    assert set(loss_dict) == {"l1_loss", "kld_loss"}
    assert loss.item() == pytest.approx(loss_dict["l1_loss"] + 10.0 * loss_dict["kld_loss"], rel=1e-5)
    loss.backward()
    groups = policy.get_optim_params()
    assert groups[1]["lr"] == policy.config.optimizer_lr_backbone and len(groups[1]["params"]) > 0
    optimizer = policy.config.get_optimizer_preset().build(groups)
    assert isinstance(optimizer, torch.optim.AdamW)
    optimizer.step()
    no_vae = tiny_act(use_vae=False)
    no_vae.train()
    assert set(no_vae.forward(random_batch(no_vae.config, 2, horizon=6))[1]) == {"l1_loss"}


def test_select_action_uses_queue() -> None:
    policy = tiny_act()
    batch = random_batch(policy.config, 2)
    calls = []
    original = policy.predict_action_chunk
    policy.predict_action_chunk = lambda b: calls.append(1) or original(b)
    chunk = original(batch)
    actions = [policy.select_action(batch) for _ in range(5)]
    assert len(calls) == 2  # n_action_steps=4: a new chunk on the 1st and 5th call
    torch.testing.assert_close(torch.stack(actions[:4], dim=1), chunk[:, :4])
    assert actions[0].shape == (2, 3)
    policy.reset()
    policy.select_action(batch)
    assert len(calls) == 3


def test_temporal_ensembler_matches_weighted_average() -> None:
    coeff, chunk = 0.1, 4
    ens = ACTTemporalEnsembler(coeff, chunk)
    chunks = [torch.randn(1, chunk, 2) for _ in range(6)]
    for t, c in enumerate(chunks):
        got = ens.update(c)
        # predictions for step t: chunk s predicted it at index t - s (oldest first gets weight exp(0)).
        preds = [chunks[s][:, t - s] for s in range(max(0, t - chunk + 1), t + 1)]
        w = torch.exp(-coeff * torch.arange(len(preds), dtype=torch.float32))
        expected = sum(wi * p for wi, p in zip(w, preds)) / w.sum()
        torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    policy = tiny_act(temporal_ensemble_coeff=0.01, n_action_steps=1)
    assert policy.select_action(random_batch(policy.config, 1)).shape == (1, 3)


def test_round_trip_identical_outputs(tmp_path: Path) -> None:
    policy = tiny_act()
    batch = random_batch(policy.config, 2)
    before = policy.predict_action_chunk(batch)
    policy.save_pretrained(tmp_path)
    loaded = ACTPolicy.from_pretrained(tmp_path)
    assert loaded.config == policy.config
    assert torch.equal(loaded.predict_action_chunk(batch), before)


def test_config_validation() -> None:
    inputs, outputs = tiny_features()
    with pytest.raises(ValueError, match="n_action_steps"):
        ACTConfig(input_features=inputs, output_features=outputs, chunk_size=5, n_action_steps=6)
    with pytest.raises(ValueError, match="temporal"):
        ACTConfig(temporal_ensemble_coeff=0.01, n_action_steps=10)
    state_only = {"observation.state": inputs["observation.state"]}
    with pytest.raises(ValueError, match="at least one image"):
        ACTPolicy(ACTConfig(input_features=state_only, output_features=outputs, pretrained_backbone_weights=None))
    with pytest.raises(ValueError, match="'action'"):
        ACTPolicy(ACTConfig(input_features=inputs, output_features={}, pretrained_backbone_weights=None))
