"""``lerobot-core train`` and ``lerobot-core eval-offline`` as a user runs them (subprocesses)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from lerobot_core.policies import ACTPolicy, make_pre_post_processors
from lerobot_core.policies.config import PreTrainedConfig

from .conftest import TINY_ACT


def cli(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run([sys.executable, "-m", "lerobot_core.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


@pytest.mark.slow
@pytest.mark.e2e
def test_train_cli_then_load_and_act(tiny_dataset: Path, tmp_path: Path):
    out = tmp_path / "run"
    proc = cli("train", f"--dataset.root={tiny_dataset}", f"--output_dir={out}", "--steps=3", "--batch_size=4",
               "--num_workers=1", "--save_freq=3", "--log_freq=1", "--eval_freq=3", "--eval.num_holdout_episodes=1",
               "--dataset.image_transforms.enable=true", *TINY_ACT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "step:3" in proc.stderr and "action_l1" in proc.stderr  # logged metrics and held-out eval
    assert "samples_s" in proc.stderr  # progress bar postfix
    model_dir = out / "checkpoints" / "last" / "pretrained_model"
    policy = ACTPolicy.from_pretrained(model_dir)
    cfg = PreTrainedConfig.from_pretrained(model_dir)
    pre, post = make_pre_post_processors(cfg, pretrained_path=model_dir)
    obs = {"observation.state": torch.zeros(6), "observation.images.front": torch.rand(3, 24, 32), "task": "t"}
    action = post(policy.select_action(pre(obs)))
    assert action.shape == (1, 6) and torch.isfinite(action).all()

    proc = cli("eval-offline", f"--policy.path={model_dir}", f"--dataset.root={tiny_dataset}",
               "--dataset.episodes=[2]", "--batch_size=8")
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["type"] == "act" and result["num_frames"] == 16
    assert result["action_l1"] > 0 and result["action_mse"] > 0


@pytest.mark.parametrize("policy", ["act", "diffusion"])
def test_eval_offline_on_upstream_checkpoint(upstream_fixtures: Path, tmp_path: Path, capsys, policy: str):
    from lerobot_core.training.evaluate import main

    output = tmp_path / "metrics.json"
    assert main([f"--policy.path={upstream_fixtures / policy / 'pretrained_model'}", "--policy.device=cpu",
                 f"--dataset.root={upstream_fixtures / 'dataset_v30'}", "--dataset.episodes=[1]",
                 "--max_batches=2", "--batch_size=2", f"--output={output}"]) == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert printed == json.loads(output.read_text())
    assert printed["type"] == policy and printed["num_frames"] == 4
    for key in ("action_l1", "action_mse", "action_l1_first"):
        assert printed[key] > 0 and printed[key] == printed[key]  # finite, not NaN
    assert printed["action_mse"] >= printed["action_l1"] ** 2 - 1e-6  # E[x²] >= E[|x|]²


def test_eval_offline_errors(upstream_fixtures: Path, tiny_dataset: Path, capsys):
    from lerobot_core.training.evaluate import main

    assert main([f"--policy.path={upstream_fixtures / 'act' / 'pretrained_model'}",
                 f"--dataset.root={tiny_dataset}"]) == 2
    assert "'observation.images.wrist' is missing from the dataset" in capsys.readouterr().err
    assert main([f"--dataset.root={tiny_dataset}"]) == 2
    assert "--policy.path" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.e2e
def test_two_processes_share_one_shuffle_and_reduce_metrics(tiny_dataset: Path, tmp_path: Path):
    """torchrun with 2 CPU processes (gloo): both ranks draw the same seeded permutation and take disjoint
    halves; held-out eval sums are reduced, so both ranks report the metrics of all held-out frames."""
    probe = Path(__file__).with_name("multiprocess_probe.py")
    out = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(probe),
         f"--dataset.root={tiny_dataset}", f"--output_dir={out}", "--steps=2", "--batch_size=4", "--num_workers=0",
         "--progress_bar=false", "--eval_freq=2", "--eval.episodes=[2]", "--save_freq=2", *TINY_ACT],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1", "PROBE_DIR": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = sorted((json.loads(p.read_text()) for p in tmp_path.glob("rank*.json")), key=lambda r: r["rank"])
    assert [r["rank"] for r in rows] == [0, 1] and rows[0]["world"] == 2
    for epoch in range(2):
        a, b = rows[0]["epochs"][epoch], rows[1]["epochs"][epoch]
        assert len(a) == len(b) == 16 and set(a) | set(b) == set(range(32))  # 32 training frames, no overlap
        assert not set(a) & set(b)
    assert rows[0]["epochs"][0] != rows[0]["epochs"][1]  # a new permutation every epoch
    assert rows[0]["eval"] == rows[1]["eval"] and rows[0]["eval"]["num_frames"] == 16
    assert (out / "checkpoints" / "000002" / "pretrained_model" / "model.safetensors").is_file()
