"""Local backend: the upstream ACT fixture and a tiny ACT driven through the engine; observation preparation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from lerobot_core.inference import (
    ChunkRequest,
    EngineConfig,
    InferenceEngine,
    LocalPolicyBackend,
    compute_chunk,
    prepare_observation,
)
from lerobot_core.inference.policy_runner import fit_prefix, supports_rtc

from .conftest import make_observation, tiny_act_policy


@pytest.fixture(scope="module")
def upstream_backend(upstream_fixtures: Path) -> LocalPolicyBackend:
    return LocalPolicyBackend.from_pretrained(upstream_fixtures / "act" / "pretrained_model")


def test_upstream_fixture_chunk_matches_reference(upstream_backend, upstream_fixtures: Path) -> None:
    ref = load_file(upstream_fixtures / "act" / "reference.safetensors")
    inputs = {k[len("in0."):]: v[0] for k, v in ref.items() if k.startswith("in0.")}
    # the engine's input format: uint8 HWC RGB images (the reference frames are float CHW in [0, 1])
    obs = {}
    for key, value in inputs.items():
        if key.startswith("observation.images."):
            obs[key] = (value.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        else:
            obs[key] = value.numpy()
    reply = upstream_backend.infer(ChunkRequest(observation=obs), timeout_s=1.0)
    assert reply.chunk_robot.shape == (10, 6) and reply.chunk_model.shape == (10, 6)
    # the reference frames are decoded 8-bit video, so the uint8 round trip is exact
    np.testing.assert_allclose(reply.chunk_robot, ref["out0.chunk"][0].numpy(), atol=1e-5, rtol=0)
    np.testing.assert_allclose(reply.chunk_model, ref["out0.chunk_normalized"][0].numpy(), atol=1e-5, rtol=0)


def test_engine_with_upstream_fixture(upstream_backend) -> None:
    engine = InferenceEngine(upstream_backend, upstream_backend.action_dim,
                             EngineConfig(fps=30, max_observation_age_s=30.0))
    rng = np.random.default_rng(0)
    engine.notify_observation({"observation.state": rng.normal(size=6).astype(np.float32),
                               "observation.images.front": rng.integers(0, 255, (480, 640, 3), dtype=np.uint8),
                               "observation.images.wrist": rng.integers(0, 255, (96, 128, 3), dtype=np.uint8)})
    assert engine.run_once()
    popped = engine.pop_action()
    assert popped.kind == "policy" and popped.values.shape == (6,) and np.isfinite(popped.values).all()


def test_images_are_resized_to_the_training_shape_and_kept_rgb() -> None:
    policy, _, _ = tiny_act_policy()
    obs = make_observation(hw=(96, 128))
    red = np.zeros((96, 128, 3), np.uint8)
    red[..., 0] = 255
    obs["observation.images.front"] = red
    batch = prepare_observation(obs, policy.config)
    front = batch["observation.images.front"]
    assert front.shape == (3, 24, 32) and front.dtype == torch.float32
    assert torch.allclose(front[0], torch.ones(24, 32)) and front[1:].abs().max() == 0  # channel 0 is R


def test_bgr_swap_changes_the_actions() -> None:
    policy, pre, post = tiny_act_policy()
    obs = make_observation(3)
    swapped = dict(obs, **{k: v[..., ::-1].copy() for k, v in obs.items() if k.startswith("observation.images")})
    a = compute_chunk(policy, pre, post, ChunkRequest(observation=obs)).chunk_robot
    b = compute_chunk(policy, pre, post, ChunkRequest(observation=swapped)).chunk_robot
    assert not np.allclose(a, b)


@pytest.mark.parametrize("bad,match", [
    ({"observation.state": np.zeros(5)}, "expected shape"),
    ({"observation.images.front": np.zeros((24, 32), np.uint8)}, "RGB image"),
    ({"observation.images.front": np.zeros((24, 32, 3), np.float32)}, "uint8"),
])
def test_bad_observations_name_the_key(bad, match) -> None:
    policy, _, _ = tiny_act_policy()
    obs = make_observation()
    obs.update(bad)
    with pytest.raises(ValueError, match=match):
        prepare_observation(obs, policy.config)
    obs = make_observation()
    del obs["observation.images.wrist"]
    with pytest.raises(ValueError, match="missing 'observation.images.wrist'"):
        prepare_observation(obs, policy.config)


def test_rtc_prefix_is_passed_to_policies_that_take_it() -> None:
    policy, pre, post = tiny_act_policy()
    assert not supports_rtc(policy)
    seen = {}

    class RTCPolicy(type(policy)):
        def predict_action_chunk(self, batch, inference_delay=0, prev_chunk_left_over=None):
            seen["delay"], seen["prefix"] = inference_delay, prev_chunk_left_over
            return super().predict_action_chunk(batch)

    rtc = RTCPolicy(policy.config)
    backend = LocalPolicyBackend(rtc, pre, post, rtc_horizon=4)
    prefix = np.arange(6, dtype=np.float32).reshape(2, 3)
    backend.infer(ChunkRequest(observation=make_observation(), delay_steps=2, prefix_model=prefix), 1.0)
    assert seen["delay"] == 2 and seen["prefix"].shape == (4, 3)
    assert seen["prefix"][:2].numpy().tolist() == prefix.tolist() and seen["prefix"][2:].abs().max() == 0
    assert fit_prefix(np.ones((9, 3)), 4, 3).shape == (4, 3)


def test_joint_order_from_dataset_features(upstream_fixtures: Path) -> None:
    import json

    from lerobot_core.inference.policy_runner import feature_names, ordered_vector

    features = json.loads((upstream_fixtures / "dataset_v30" / "meta" / "info.json").read_text())["features"]
    names = feature_names(features, "observation.state")
    assert names[0] == "shoulder_pan" and names[-1] == "gripper"
    assert feature_names({"action": {"names": {"motors": ["a", "b"]}}}, "action") == ["a", "b"]
    joints = {n: float(i) for i, n in enumerate(reversed(names))}  # JointState order differs
    joints["extra"] = 99.0
    assert ordered_vector(joints, names).tolist() == [5.0, 4.0, 3.0, 2.0, 1.0, 0.0]
    del joints["gripper"]
    with pytest.raises(ValueError, match="no value for \\['gripper'\\]"):
        ordered_vector(joints, names)
    with pytest.raises(ValueError, match="no list of names"):
        feature_names(features, "timestamp")
