"""Flags, YAML configs, fine-tuning from --policy.path, resume lookup, and clear errors on bad input."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from lerobot_core.configs.parser import ConfigError
from lerobot_core.training.config import parse_train_config
from lerobot_core.training.train import Trainer, main

from .conftest import TINY_ACT, write_dataset


def test_dotted_flags_and_presets(tmp_path: Path):
    cfg = parse_train_config(["--dataset.root=/data/x", "--dataset.episodes=[0,3]", "--steps=50", "--batch_size=2",
                              "--seed=3", "--save_freq=10", "--log_freq=5", "--eval_freq=7", *TINY_ACT])
    cfg.validate()
    assert cfg.dataset.episodes == [0, 3] and cfg.steps == 50 and cfg.seed == 3 and cfg.eval_freq == 7
    assert cfg.policy.type == "act" and cfg.policy.chunk_size == 4 and cfg.policy.device == "cpu"
    assert cfg.optimizer.type == "adamw" and cfg.optimizer.lr == cfg.policy.optimizer_lr
    assert cfg.scheduler is None
    assert cfg.output_dir.startswith("outputs/train/") and cfg.output_dir.endswith("_act")
    diffusion = parse_train_config(["--dataset.root=/x", "--policy.type=diffusion", "--policy.device=cpu"])
    diffusion.validate()
    assert diffusion.optimizer.type == "adam" and diffusion.scheduler.name == "cosine"
    assert diffusion.scheduler.num_warmup_steps == 500


def test_yaml_config_file_with_flag_overrides(tmp_path: Path):
    config = tmp_path / "train.yaml"
    config.write_text(
        "dataset:\n  root: /data/y\nsteps: 30\nbatch_size: 4\nema:\n  enable: true\n"
        "policy:\n  type: act\n  device: cpu\n  chunk_size: 8\n  n_action_steps: 8\n")
    cfg = parse_train_config([f"--config_path={config}", "--steps=40"])
    assert cfg.dataset.root == "/data/y" and cfg.batch_size == 4 and cfg.steps == 40
    assert cfg.ema.enable and cfg.ema.decay == 0.99
    assert cfg.policy.type == "act" and cfg.policy.chunk_size == 8


def test_policy_path_loads_the_checkpoint_config_with_overrides(upstream_fixtures: Path, tmp_path: Path):
    path = upstream_fixtures / "act" / "pretrained_model"
    cfg = parse_train_config(["--dataset.root=/x", f"--policy.path={path}", "--policy.dropout=0.0",
                              "--policy.device=cpu"])
    assert cfg.policy.type == "act" and cfg.policy.dim_model == 64 and cfg.policy.dropout == 0.0
    assert cfg.policy.pretrained_path == str(path)
    assert cfg.policy.input_features["observation.images.front"].shape == (3, 96, 128)
    same = parse_train_config(["--dataset.root=/x", f"--policy.path={path}", "--policy.type=act"])
    assert same.policy.dim_model == 64
    with pytest.raises(ConfigError, match="contradicts"):
        parse_train_config(["--dataset.root=/x", f"--policy.path={path}", "--policy.type=diffusion"])
    config = tmp_path / "finetune.yaml"
    config.write_text(f"dataset:\n  root: /x\npolicy:\n  path: {path}\n  chunk_size: 5\n  n_action_steps: 5\n")
    from_yaml = parse_train_config([f"--config_path={config}"])
    assert from_yaml.policy.chunk_size == 5 and from_yaml.policy.pretrained_path == str(path)


@pytest.mark.slow
def test_finetune_upstream_checkpoint(upstream_fixtures: Path, tmp_path: Path):
    """--policy.path with upstream's ACT on upstream's dataset: weights load, a step trains, we save."""
    out = tmp_path / "ft"
    trainer = Trainer(parse_train_config([
        f"--dataset.root={upstream_fixtures / 'dataset_v30'}", f"--policy.path={upstream_fixtures / 'act' / 'pretrained_model'}",
        "--policy.device=cpu", f"--output_dir={out}", "--steps=1", "--batch_size=2", "--num_workers=0",
        "--progress_bar=false"])).setup()
    from safetensors.torch import load_file

    upstream = load_file(str(upstream_fixtures / "act" / "pretrained_model" / "model.safetensors"))
    own = trainer.policy.state_dict()
    assert all(own[k].equal(v) for k, v in upstream.items())
    result = trainer.run()
    assert len(result.losses) == 1
    saved = json.loads((out / "checkpoints" / "000001" / "pretrained_model" / "config.json").read_text())
    assert saved["dim_model"] == 64 and saved["input_features"]["observation.images.wrist"]["shape"] == [3, 96, 128]


# ------------------------------------------------------------------------------------- bad input
def expect_error(args: list[str], *fragments: str, capsys: pytest.CaptureFixture) -> None:
    """``lerobot-core train`` exits with 2 and a message naming every fragment, before training starts."""
    assert main(args) == 2
    err = capsys.readouterr().err
    for fragment in fragments:
        assert fragment in err, err
    return err


def test_error_when_dataset_lacks_a_feature_the_checkpoint_needs(upstream_fixtures, tiny_dataset, tmp_path, capsys):
    out = tmp_path / "never"
    expect_error([f"--dataset.root={tiny_dataset}", f"--policy.path={upstream_fixtures / 'act' / 'pretrained_model'}",
                  f"--output_dir={out}", "--policy.device=cpu"],
                 "'observation.images.wrist' is missing from the dataset", "'observation.images.front' has shape",
                 capsys=capsys)
    assert not out.exists()


def test_error_on_mismatched_state_shape(upstream_fixtures, tmp_path, capsys):
    dataset = write_dataset(tmp_path / "ds7", episodes=1, length=4, state_dim=7, with_camera=False)
    expect_error([f"--dataset.root={dataset}", f"--policy.path={upstream_fixtures / 'act' / 'pretrained_model'}",
                  f"--output_dir={tmp_path / 'never'}"],
                 "'observation.state' has shape (7,) in the dataset but (6,) in the policy config", capsys=capsys)


def test_error_when_policy_cannot_use_the_dataset(tmp_path, capsys):
    no_camera = write_dataset(tmp_path / "nocam", episodes=1, length=4, with_camera=False)
    expect_error([f"--dataset.root={no_camera}", f"--output_dir={tmp_path / 'a'}", *TINY_ACT],
                 "ACT needs at least one image", capsys=capsys)
    no_action = write_dataset(tmp_path / "noaction", episodes=1, length=4, with_camera=False, with_action=False)
    expect_error([f"--dataset.root={no_action}", f"--output_dir={tmp_path / 'b'}", *TINY_ACT],
                 "no 'action' feature", capsys=capsys)


def test_error_on_unknown_checkpoint_type(upstream_fixtures, tiny_dataset, tmp_path, capsys):
    bogus = tmp_path / "bogus"
    shutil.copytree(upstream_fixtures / "act" / "pretrained_model", bogus)
    config = json.loads((bogus / "config.json").read_text())
    config["type"] = "pi0_bogus"
    (bogus / "config.json").write_text(json.dumps(config))
    expect_error([f"--dataset.root={tiny_dataset}", f"--policy.path={bogus}", f"--output_dir={tmp_path / 'o'}"],
                 "unknown policy type 'pi0_bogus'", "act", capsys=capsys)
    expect_error([f"--dataset.root={tiny_dataset}", f"--policy.path={tmp_path / 'missing'}"],
                 "--policy.path=", capsys=capsys)


def test_errors_on_missing_pieces_and_existing_output(tiny_dataset, tmp_path, capsys):
    expect_error([f"--dataset.root={tiny_dataset}"], "--policy.type=act|diffusion", capsys=capsys)
    expect_error([*TINY_ACT], "--dataset.root", capsys=capsys)
    expect_error([f"--dataset.root={tmp_path / 'nothing'}", *TINY_ACT, f"--output_dir={tmp_path / 'o'}"],
                 "is not a LeRobot dataset", capsys=capsys)
    expect_error(["--resume=true", f"--output_dir={tmp_path / 'none'}"], "no checkpoint at", capsys=capsys)
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("keep me")
    expect_error([f"--dataset.root={tiny_dataset}", *TINY_ACT, f"--output_dir={busy}"],
                 "already exists", "--resume=true", capsys=capsys)
    assert (busy / "notes.txt").read_text() == "keep me"
    expect_error([f"--dataset.root={tiny_dataset}", "--policy.type=act", "--policy.chunk_size=5",
                  "--policy.device=cpu", f"--output_dir={tmp_path / 'o2'}"],
                 "n_action_steps (100) cannot exceed chunk_size (5)", capsys=capsys)


def test_tensorboard_flag_errors_clearly_without_the_package(tiny_dataset, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboard", None)  # as if not installed
    monkeypatch.setitem(sys.modules, "wandb", None)
    expect_error([f"--dataset.root={tiny_dataset}", *TINY_ACT, f"--output_dir={tmp_path / 'tb'}",
                  "--tensorboard=true"], "pip install tensorboard", capsys=capsys)
    expect_error([f"--dataset.root={tiny_dataset}", *TINY_ACT, f"--output_dir={tmp_path / 'wb'}",
                  "--wandb.enable=true"], "pip install wandb", capsys=capsys)
