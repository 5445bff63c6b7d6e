"""Training-state files: RNG, optimizer and scheduler round trips (safetensors + JSON), ``last`` link."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from lerobot_core.policies.optim import AdamWConfig, DiffuserSchedulerConfig
from lerobot_core.training import checkpoint as ckpt


def test_rng_state_round_trip_through_safetensors(tmp_path: Path):
    random.seed(1)
    np.random.seed(2)
    torch.manual_seed(3)
    np.random.normal()  # leaves a cached gaussian in NumPy's state
    ckpt.save_safetensors(ckpt.get_rng_state(), tmp_path / "rng.safetensors")
    expected = (random.random(), np.random.normal(), np.random.rand(), torch.rand(3))
    random.seed(99)
    np.random.seed(99)
    torch.manual_seed(99)
    from safetensors.torch import load_file

    ckpt.set_rng_state(load_file(str(tmp_path / "rng.safetensors")))
    got = (random.random(), np.random.normal(), np.random.rand(), torch.rand(3))
    assert got[:3] == expected[:3] and torch.equal(got[3], expected[3])


def _model_and_optimizer():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    optimizer = AdamWConfig(lr=1e-2).build([{"params": model[0].parameters()},
                                            {"params": model[2].parameters(), "lr": 1e-3}])
    scheduler = DiffuserSchedulerConfig(name="cosine", num_warmup_steps=2).build(optimizer, 10)
    return model, optimizer, scheduler


def _step(model, optimizer, scheduler, x):
    loss = model(x).square().mean()
    loss.backward()
    optimizer.step()
    optimizer.zero_grad()
    scheduler.step()
    return float(loss.detach())


def test_optimizer_and_scheduler_resume_exactly(tmp_path: Path):
    x = torch.randn(16, 4)
    model, optimizer, scheduler = _model_and_optimizer()
    for _ in range(3):
        _step(model, optimizer, scheduler, x)
    ckpt.save_training_state(tmp_path, 3, optimizer, scheduler, extra_step_info={"epoch": 1})
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    straight = [_step(model, optimizer, scheduler, x) for _ in range(3)]

    fresh, optimizer2, scheduler2 = _model_and_optimizer()
    fresh.load_state_dict(weights)
    info, rng = ckpt.load_training_state(tmp_path, optimizer2, scheduler2)
    assert info == {"step": 3, "epoch": 1} and "torch_rng_state" in rng
    assert [_step(fresh, optimizer2, scheduler2, x) for _ in range(3)] == straight
    groups = json.loads((tmp_path / ckpt.OPTIMIZER_PARAM_GROUPS).read_text())
    assert [g["params"] for g in groups] == [[0, 1], [2, 3]] and groups[0]["betas"] == [0.9, 0.999]
    assert json.loads((tmp_path / ckpt.SCHEDULER_STATE).read_text())["last_epoch"] == 3


def test_resume_with_another_optimizer_layout_is_an_error(tmp_path: Path):
    _, optimizer, scheduler = _model_and_optimizer()
    ckpt.save_training_state(tmp_path, 1, optimizer, scheduler)
    one_group = torch.optim.AdamW(torch.nn.Linear(2, 2).parameters())
    with pytest.raises(ValueError, match="2 parameter groups"):
        ckpt.load_training_state(tmp_path, one_group)
    with pytest.raises(FileNotFoundError, match="training_step.json"):
        ckpt.load_training_state(tmp_path / "nope", one_group)


def test_step_names_and_last_link(tmp_path: Path):
    assert ckpt.get_step_identifier(20, 100_000) == "000020"
    assert ckpt.get_step_identifier(5, 12_345_678) == "00000005"
    for step in (10, 20):
        final = ckpt.checkpoint_dir(tmp_path, step, 100)
        stage = ckpt.staging_dir(final)
        (stage / "pretrained_model").mkdir(parents=True)
        ckpt.commit_checkpoint(stage, final)
        assert not stage.exists()
    link = tmp_path / "checkpoints" / "last"
    assert link.is_symlink() and Path(link.readlink()) == Path("000020")
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["000010", "000020", "last"]
