"""The training loop: checkpoint layout, exact resume, EMA, offline eval, samplers, augmentation, Diffusion."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from lerobot_core.training import checkpoint as ckpt
from lerobot_core.training.config import parse_train_config
from lerobot_core.training.train import Trainer

from .conftest import TINY_ACT, TINY_DIFFUSION


def run(args: list[str]):
    trainer = Trainer(parse_train_config(args)).setup()
    return trainer, trainer.run()


def base_args(dataset: Path, out: Path, *extra: str) -> list[str]:
    return [f"--dataset.root={dataset}", f"--output_dir={out}", "--num_workers=0", "--progress_bar=false",
            "--log_freq=1", *TINY_ACT, *extra]


def test_checkpoint_layout_matches_upstream(tiny_dataset: Path, tmp_path: Path):
    out = tmp_path / "run"
    _, result = run(base_args(tiny_dataset, out, "--steps=2", "--batch_size=4", "--save_freq=1"))
    assert len(result.losses) == 2 and all(math.isfinite(x) for x in result.losses)
    checkpoints = out / "checkpoints"
    assert sorted(p.name for p in checkpoints.iterdir()) == ["000001", "000002", "last"]
    assert (checkpoints / "last").is_symlink() and (checkpoints / "last").resolve().name == "000002"
    model = checkpoints / "000002" / "pretrained_model"
    for name in ("config.json", "model.safetensors", "policy_preprocessor.json", "policy_postprocessor.json",
                 "train_config.json"):
        assert (model / name).is_file(), name
    assert list(model.glob("policy_preprocessor_step_*_normalizer_processor.safetensors"))
    state = checkpoints / "000002" / "training_state"
    assert sorted(p.name for p in state.iterdir()) == sorted(
        [ckpt.OPTIMIZER_STATE, ckpt.OPTIMIZER_PARAM_GROUPS, ckpt.RNG_STATE, ckpt.TRAINING_STEP])
    assert json.loads((state / ckpt.TRAINING_STEP).read_text())["step"] == 2
    assert json.loads((model / "config.json").read_text())["type"] == "act"
    train_cfg = json.loads((model / "train_config.json").read_text())
    assert train_cfg["policy"]["type"] == "act" and train_cfg["optimizer"]["type"] == "adamw"
    assert train_cfg["steps"] == 2
    # No pickle anywhere in a checkpoint, and no staging directory left behind.
    assert not list(out.rglob("*.pt")) and not list(out.rglob("*.pth")) and not list(checkpoints.glob(".*"))
    groups = json.loads((state / ckpt.OPTIMIZER_PARAM_GROUPS).read_text())
    assert len(groups) == 2 and groups[1]["lr"] == 1e-5  # ACT: backbone group at optimizer_lr_backbone
    # Upstream's way to resume: point --config_path at the checkpoint's train_config.json.
    cfg = parse_train_config(["--resume=true", f"--config_path={checkpoints / '000001' / 'pretrained_model' / 'train_config.json'}",
                              "--steps=5"])
    assert cfg.resume and cfg.steps == 5 and Path(cfg.output_dir) == out.resolve()
    assert cfg.policy.pretrained_path == str((checkpoints / "000001" / "pretrained_model").resolve())
    assert cfg.policy.chunk_size == 4 and cfg.dataset.root == str(tiny_dataset)


@pytest.mark.slow
@pytest.mark.parametrize("ema", [False, True], ids=["plain", "ema"])
def test_resume_reproduces_the_uninterrupted_run(tiny_dataset: Path, tmp_path: Path, ema: bool):
    """4 steps straight vs. 2 steps + resume for 2 more (crossing an epoch boundary: 32 frames in batches of
    12, with dropout, VAE sampling, held-out eval and optionally EMA): identical losses and final weights."""
    extra = ["--steps=4", "--batch_size=12", "--save_freq=2", "--eval_freq=2", "--eval.episodes=[2]",
             f"--ema.enable={str(ema).lower()}", "--seed=7"]
    out = tmp_path / "run"
    _, straight = run(base_args(tiny_dataset, out, *extra))
    assert len(straight.losses) == 4
    reference = load_file(str(out / "checkpoints" / "000004" / "pretrained_model" / "model.safetensors"))
    ref_eval = straight.eval_metrics

    # Pretend the run died after step 2.
    shutil.rmtree(out / "checkpoints" / "000004")
    ckpt.update_last_checkpoint(out / "checkpoints" / "000002")
    trainer, resumed = run(["--resume=true", f"--output_dir={out}"])
    assert trainer.step == 4 and trainer.cfg.steps == 4 and trainer.epoch == 1
    assert resumed.losses == straight.losses[2:]
    final = load_file(str(out / "checkpoints" / "000004" / "pretrained_model" / "model.safetensors"))
    assert final.keys() == reference.keys()
    for key in reference:
        assert torch.equal(final[key], reference[key]), key
    assert resumed.eval_metrics == ref_eval
    if ema:
        state = out / "checkpoints" / "000004" / "training_state"
        assert (state / ckpt.EMA_STATE).is_file() and (state / ckpt.ONLINE_MODEL).is_file()


def test_ema_weights_are_saved_and_used_for_eval(tiny_dataset: Path, tmp_path: Path):
    out = tmp_path / "run"
    trainer, result = run(base_args(tiny_dataset, out, "--steps=3", "--batch_size=4", "--save_freq=3",
                                    "--ema.enable=true", "--eval_freq=3", "--eval.num_holdout_episodes=1"))
    assert trainer.cfg.ema.decay == 0.99 and trainer.cfg.ema.warmup_steps == 0
    assert trainer.eval_policy() is trainer.ema.ema_model
    checkpoint = out / "checkpoints" / "000003"
    saved = load_file(str(checkpoint / "pretrained_model" / "model.safetensors"))
    online = load_file(str(checkpoint / "training_state" / ckpt.ONLINE_MODEL))
    ema_state = load_file(str(checkpoint / "training_state" / ckpt.EMA_STATE))
    ema_model = trainer.ema.ema_model.state_dict()
    key = "model.action_head.weight"
    assert torch.equal(saved[key], ema_model[key].cpu())
    assert torch.equal(ema_state[f"ema_model.{key}"], saved[key])
    assert not torch.equal(saved[key], online[key])  # the average lags the online weights
    assert int(ema_state["step"]) == 3
    assert set(result.eval_metrics) >= {"action_l1", "action_mse", "action_l1_first"}
    assert result.eval_metrics["num_frames"] == 16


def test_episode_selection_and_holdout_feed_the_right_frames(tiny_dataset: Path, tmp_path: Path):
    trainer = Trainer(parse_train_config(base_args(
        tiny_dataset, tmp_path / "run", "--steps=1", "--batch_size=4", "--dataset.episodes=[1,2]",
        "--eval.episodes=[2]"))).setup()
    assert trainer.train_episodes == [1] and trainer.eval_episodes == [2]
    seen = set()
    for batch in trainer.loader:
        seen.update(batch["episode_index"].tolist())
    assert seen == {1}
    assert {int(trainer.eval_dataset[i]["episode_index"]) for i in range(len(trainer.eval_dataset))} == {2}


def test_sampler_is_seeded_and_drops_last_frames(tiny_dataset: Path, tmp_path: Path):
    def order(seed: int, out: str) -> list[int]:
        trainer = Trainer(parse_train_config([
            f"--dataset.root={tiny_dataset}", f"--output_dir={tmp_path / out}", "--num_workers=0", "--steps=1",
            "--batch_size=4", f"--seed={seed}", "--progress_bar=false", *TINY_DIFFUSION])).setup()
        return [int(i) for b in trainer.loader for i in b["index"]]

    a, b, c = order(1, "a"), order(1, "b"), order(2, "c")
    assert a == b and a != c
    # Diffusion's drop_n_last_frames=3: the last 3 frames of every 16-frame episode are never sampled.
    assert len(a) == 3 * (16 - 3)
    assert not {i for i in a if i % 16 >= 13}


@pytest.mark.slow
def test_diffusion_trains_with_observation_history(tiny_dataset: Path, tmp_path: Path):
    out = tmp_path / "run"
    trainer, result = run([f"--dataset.root={tiny_dataset}", f"--output_dir={out}", "--num_workers=0",
                           "--progress_bar=false", "--steps=2", "--batch_size=4", "--eval_freq=2",
                           "--eval.num_holdout_episodes=1", *TINY_DIFFUSION])
    assert trainer.train_dataset.delta_indices["observation.state"] == [-1, 0]
    assert trainer.train_dataset.delta_indices["action"] == [-1, 0, 1, 2]
    assert trainer.scheduler is not None and trainer.cfg.scheduler.type == "diffuser"
    assert all(math.isfinite(x) for x in result.losses)
    assert math.isfinite(result.eval_metrics["action_mse"])
    assert (out / "checkpoints" / "000002" / "training_state" / ckpt.SCHEDULER_STATE).is_file()


def test_augmentation_without_checkpoints(tiny_dataset: Path, tmp_path: Path):
    # DataLoader workers (--num_workers>0) are covered by the CLI end-to-end test in a fresh process.
    trainer, result = run([f"--dataset.root={tiny_dataset}", f"--output_dir={tmp_path / 'run'}",
                           "--num_workers=0", "--progress_bar=false", "--steps=2", "--batch_size=4",
                           "--save_checkpoint=false", "--dataset.image_transforms.enable=true", *TINY_ACT])
    assert trainer.train_dataset.image_transforms is not None
    assert len(result.losses) == 2 and result.checkpoints == []
    assert not (tmp_path / "run" / "checkpoints").exists()
