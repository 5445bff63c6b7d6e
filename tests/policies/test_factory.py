"""Factory, config serialization/registry, processors built from stats, ResNet naming and weights."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from tiny_policies import random_batch

from lerobot_core.policies import (
    ACTConfig,
    ACTPolicy,
    DiffusionConfig,
    PreTrainedConfig,
    get_policy_class,
    make_policy,
    make_policy_config,
    make_pre_post_processors,
)
from lerobot_core.policies.resnet import FrozenBatchNorm2d, build_resnet, load_backbone_weights
from lerobot_core.processor import dataset_to_policy_features

DATASET_FEATURES = {
    "observation.state": {"dtype": "float32", "shape": [4], "names": None},
    "observation.images.front": {"dtype": "video", "shape": [32, 40, 3], "names": ["height", "width", "channels"]},
    "action": {"dtype": "float32", "shape": [3], "names": None},
    "timestamp": {"dtype": "float32", "shape": [1], "names": None},
    "index": {"dtype": "int64", "shape": [1], "names": None},
}
STATS = {
    "observation.state": {"mean": [0.0] * 4, "std": [2.0] * 4, "min": [-1.0] * 4, "max": [1.0] * 4},
    "observation.images.front": {"mean": [[[0.5]]] * 3, "std": [[[0.25]]] * 3},
    "action": {"mean": [1.0] * 3, "std": [3.0] * 3, "min": [-2.0] * 3, "max": [4.0] * 3},
}


class _Meta:
    features = DATASET_FEATURES


def _tiny_act_cfg(**kw) -> ACTConfig:
    args = dict(device="cpu", pretrained_backbone_weights=None, dim_model=16, n_heads=2, dim_feedforward=32,
                n_encoder_layers=1, n_vae_encoder_layers=1, latent_dim=4, chunk_size=5, n_action_steps=5)
    return ACTConfig(**{**args, **kw})


def test_dataset_to_policy_features() -> None:
    feats = dataset_to_policy_features(DATASET_FEATURES)
    assert set(feats) == {"observation.state", "observation.images.front", "action"}
    assert feats["observation.images.front"].shape == (3, 32, 40)
    assert feats["observation.images.front"].type.value == "VISUAL"


def test_make_policy_from_dataset_meta_and_processors(tmp_path: Path) -> None:
    cfg = _tiny_act_cfg()
    policy = make_policy(cfg, ds_meta=_Meta())
    assert isinstance(policy, ACTPolicy)
    assert set(cfg.input_features) == {"observation.state", "observation.images.front"}
    pre, post = make_pre_post_processors(cfg, dataset_stats=STATS)
    frame = {"observation.state": torch.full((4,), 2.0), "observation.images.front": torch.full((3, 32, 40), 0.75),
             "task": "t"}
    batch = pre(frame)
    torch.testing.assert_close(batch["observation.state"], torch.ones(1, 4))
    torch.testing.assert_close(batch["observation.images.front"], torch.ones(1, 3, 32, 40))
    chunk = policy.predict_action_chunk(batch)
    torch.testing.assert_close(post(chunk), chunk * 3.0 + 1.0)
    # Saved and reloaded: identical processors and policy.
    policy.save_pretrained(tmp_path)
    pre.save_pretrained(tmp_path)
    post.save_pretrained(tmp_path)
    cfg2 = PreTrainedConfig.from_pretrained(tmp_path)
    cfg2.pretrained_path = str(tmp_path)
    policy2 = make_policy(cfg2)
    pre2, post2 = make_pre_post_processors(cfg2, pretrained_path=tmp_path)
    assert torch.equal(post2(policy2.predict_action_chunk(pre2(frame))), post(chunk))


def test_dataset_mismatch_is_a_clear_error() -> None:
    cfg = _tiny_act_cfg(input_features=dataset_to_policy_features(
        {**DATASET_FEATURES, "observation.images.wrist": DATASET_FEATURES["observation.images.front"]}))
    with pytest.raises(ValueError, match="'observation.images.wrist' is missing"):
        make_policy(cfg, ds_meta=_Meta())
    bad = {**DATASET_FEATURES, "observation.state": {"dtype": "float32", "shape": [7], "names": None}}
    cfg = _tiny_act_cfg()
    make_policy(cfg, features=DATASET_FEATURES)
    with pytest.raises(ValueError, match=r"shape \(7,\) in the dataset"):
        make_policy(cfg, features=bad)
    with pytest.raises(ValueError, match="no input/output features"):
        make_policy(_tiny_act_cfg())


def test_config_registry_and_unknown_type(tmp_path: Path) -> None:
    assert get_policy_class("diffusion").name == "diffusion"
    assert isinstance(make_policy_config("diffusion", horizon=32), DiffusionConfig)
    with pytest.raises(ValueError, match="unknown policy type 'nope'"):
        get_policy_class("nope")
    (tmp_path / "config.json").write_text(json.dumps({"type": "nope"}))
    with pytest.raises(ValueError, match="unknown policy type 'nope'.*act"):
        PreTrainedConfig.from_pretrained(tmp_path)
    with pytest.raises(FileNotFoundError):
        ACTPolicy.from_pretrained(tmp_path / "missing")
    # config.json round trip keeps the type first and every field.
    cfg = _tiny_act_cfg(input_features=dataset_to_policy_features(DATASET_FEATURES))
    cfg.save_pretrained(tmp_path)
    data = json.loads((tmp_path / "config.json").read_text())
    assert next(iter(data)) == "type" and data["type"] == "act"
    assert data["input_features"]["observation.state"] == {"type": "STATE", "shape": [4]}
    assert PreTrainedConfig.from_pretrained(tmp_path) == cfg


def test_wrong_checkpoint_shapes_are_reported(tmp_path: Path) -> None:
    feats = dataset_to_policy_features(DATASET_FEATURES)
    policy = make_policy(_tiny_act_cfg(), features=feats)
    policy.save_pretrained(tmp_path)
    other = _tiny_act_cfg(input_features=policy.config.input_features, output_features=policy.config.output_features)
    other.dim_model = 32
    with pytest.raises(ValueError, match="wrong shape"):
        ACTPolicy.from_pretrained(tmp_path, config=other)


def test_resnet_names_match_torchvision_and_frozen_bn() -> None:
    r18, r50 = build_resnet("resnet18").state_dict(), build_resnet("resnet50").state_dict()
    assert len(r18) == 122 and len(r50) == 320  # torchvision's counts (with num_batches_tracked)
    assert "layer2.0.downsample.1.running_var" in r18 and "layer4.2.conv3.weight" in r50 and "fc.weight" in r50
    assert r50["fc.weight"].shape == (1000, 2048)
    bn, frozen = torch.nn.BatchNorm2d(8).eval(), FrozenBatchNorm2d(8)
    for name in ("weight", "bias", "running_mean", "running_var"):
        getattr(bn, name).data.uniform_(0.5, 1.5)
    frozen.load_state_dict(bn.state_dict())
    x = torch.randn(2, 8, 5, 5)
    torch.testing.assert_close(frozen(x), bn(x))


def test_backbone_weights_from_local_file(tmp_path: Path) -> None:
    torch.manual_seed(1)
    source = build_resnet("resnet18")
    save_file(source.state_dict(), tmp_path / "r18.safetensors")
    target = build_resnet("resnet18", norm_layer=FrozenBatchNorm2d)
    load_backbone_weights(target, str(tmp_path / "r18.safetensors"))
    assert torch.equal(target.layer3[1].conv2.weight, source.layer3[1].conv2.weight)
    assert torch.equal(target.bn1.running_var, source.bn1.running_var)
    with pytest.raises(ValueError, match="not a local .safetensors file"):
        load_backbone_weights(target, "ResNet99_Weights.X")
    cfg = _tiny_act_cfg(pretrained_backbone_weights=str(tmp_path / "r18.safetensors"))
    policy = make_policy(cfg, features=DATASET_FEATURES)
    assert torch.equal(policy.model.backbone.conv1.weight, source.conv1.weight)
    assert policy.predict_action_chunk(random_batch(cfg, 1)).shape == (1, 5, 3)


@pytest.mark.parametrize("policy_type", ["act", "diffusion"])
def test_fresh_config_has_upstream_keys(policy_type: str, upstream_fixtures: Path, tmp_path: Path) -> None:
    upstream = json.loads((upstream_fixtures / policy_type / "pretrained_model" / "config.json").read_text())
    cfg = make_policy_config(policy_type, device="cpu")
    cfg.save_pretrained(tmp_path)
    ours = json.loads((tmp_path / "config.json").read_text())
    assert list(ours) == list(upstream)  # same keys, same order
    assert ours["type"] == policy_type and ours["normalization_mapping"].keys() == {"VISUAL", "STATE", "ACTION"}
