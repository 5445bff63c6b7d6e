"""Offline evaluation: how far a policy's predicted action chunks are from the recorded actions.

Used every ``eval_freq`` steps during training (held-out episodes) and by
``lerobot-core eval-offline --policy.path=... --dataset.root=...`` for any checkpoint, ours or upstream's.
Metrics are in the dataset's units (after the post-processor): ``action_l1`` and ``action_mse`` over every
non-padded step of the predicted chunk, ``action_l1_first`` over its first step only.
"""

from __future__ import annotations

import inspect
import json
import logging
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from lerobot_core.configs.parser import ConfigError, parse_config
from lerobot_core.constants import ACTION
from lerobot_core.training.config import DatasetConfig

logger = logging.getLogger(__name__)


def chunk_offset(policy_cfg: Any) -> int:
    """Position of the current step inside the dataset's action window."""
    indices = policy_cfg.action_delta_indices
    return indices.index(0) if indices and 0 in indices else 0


@torch.no_grad()
def action_error_sums(policy, preprocessor, postprocessor, batches, max_batches: int | None = None,
                      seed: int = 0) -> dict[str, float]:
    """Sum of |error|, error² and counts over ``batches`` (raw dataset batches with ``action``)."""
    offset = chunk_offset(policy.config)
    sums = {"l1": 0.0, "sq": 0.0, "count": 0.0, "l1_first": 0.0, "count_first": 0.0, "frames": 0.0}
    kwargs = {}
    if "generator" in inspect.signature(policy.predict_action_chunk).parameters:
        device = next(policy.parameters()).device
        kwargs["generator"] = torch.Generator(device=device).manual_seed(seed)
    was_training = policy.training
    policy.eval()
    for i, batch in enumerate(batches):
        if max_batches is not None and i >= max_batches:
            break
        target = batch[ACTION].detach().to("cpu", torch.float32).clone()
        pad = batch.get(f"{ACTION}_is_pad")
        if target.dim() == 2:
            target = target.unsqueeze(1)
            pad = None
        pad = torch.zeros(target.shape[:2], dtype=torch.bool) if pad is None else pad.detach().to("cpu").bool()
        inputs = {k: v for k, v in batch.items() if k != ACTION and not k.endswith("_is_pad")}
        chunk = policy.predict_action_chunk(preprocessor(inputs), **kwargs)
        pred = postprocessor(chunk).detach().to("cpu", torch.float32)
        steps = min(pred.shape[1], target.shape[1] - offset)
        if steps <= 0:
            raise ValueError(f"the dataset's action window ({target.shape[1]}) has no step at offset {offset}")
        err = pred[:, :steps] - target[:, offset : offset + steps]
        valid = (~pad[:, offset : offset + steps]).unsqueeze(-1).expand_as(err).float()
        sums["l1"] += float((err.abs() * valid).sum())
        sums["sq"] += float((err.square() * valid).sum())
        sums["count"] += float(valid.sum())
        sums["l1_first"] += float((err[:, 0].abs() * valid[:, 0]).sum())
        sums["count_first"] += float(valid[:, 0].sum())
        sums["frames"] += float(target.shape[0])
    if was_training:
        policy.train()
    return sums


def metrics_from_sums(sums: dict[str, float]) -> dict[str, float]:
    count, first = max(sums["count"], 1.0), max(sums["count_first"], 1.0)
    return {
        "action_l1": sums["l1"] / count,
        "action_mse": sums["sq"] / count,
        "action_l1_first": sums["l1_first"] / first,
        "num_frames": int(sums["frames"]),
    }


# ---------------------------------------------------------------------------------------- the CLI
@dataclass
class EvalPolicyConfig:
    path: str | None = None
    device: str | None = None


@dataclass
class EvalOfflineConfig:
    policy: EvalPolicyConfig = field(default_factory=EvalPolicyConfig)
    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    batch_size: int = 8
    num_workers: int = 0
    max_batches: int | None = None
    seed: int = 0
    output: str | None = None
    rename_map: dict[str, str] = field(default_factory=dict)


def load_policy_for_eval(path: str, device: str | None = None):
    """Policy + processors from a checkpoint directory (ours or upstream's) or hub repo."""
    from lerobot_core.policies.config import PreTrainedConfig
    from lerobot_core.policies.factory import get_policy_class, make_pre_post_processors

    try:
        cfg = PreTrainedConfig.from_pretrained(path)
    except (OSError, ValueError) as e:
        raise ValueError(f"--policy.path={path}: {e}") from e
    if device:
        cfg.device = device
        cfg.__post_init__()
    policy = get_policy_class(cfg.type).from_pretrained(path, config=cfg)
    preprocessor, postprocessor = make_pre_post_processors(cfg, pretrained_path=path)
    return policy, preprocessor, postprocessor


def evaluate_offline(cfg: EvalOfflineConfig) -> dict[str, Any]:
    from lerobot_core.training.data import check_dataset_for_policy, load_metadata, make_dataset

    if not cfg.policy.path:
        raise ConfigError("pass --policy.path=<checkpoint dir (pretrained_model) or hub repo id>")
    if not cfg.dataset.root and not cfg.dataset.repo_id:
        raise ConfigError("pass --dataset.root=<dataset dir> or --dataset.repo_id=<user/name>")
    if cfg.rename_map:
        raise ConfigError("--rename_map is not supported by eval-offline yet; rename the dataset features")
    start = time.perf_counter()
    torch.manual_seed(cfg.seed)
    meta = load_metadata(cfg.dataset)
    from lerobot_core.policies.config import PreTrainedConfig

    try:
        policy_cfg = PreTrainedConfig.from_pretrained(cfg.policy.path)
    except (OSError, ValueError) as e:
        raise ValueError(f"--policy.path={cfg.policy.path}: {e}") from e
    check_dataset_for_policy(policy_cfg, meta, cfg.rename_map)
    policy, preprocessor, postprocessor = load_policy_for_eval(cfg.policy.path, cfg.policy.device)
    dataset = make_dataset(cfg.dataset, meta, policy.config, cfg.dataset.episodes)
    loader = torch.utils.data.DataLoader(dataset, batch_size=cfg.batch_size, num_workers=cfg.num_workers,
                                         shuffle=False)
    sums = action_error_sums(policy, preprocessor, postprocessor, loader, cfg.max_batches, cfg.seed)
    return {
        "policy": str(cfg.policy.path),
        "type": policy.config.type,
        "dataset": str(meta.root),
        "episodes": cfg.dataset.episodes,
        **metrics_from_sums(sums),
        "seconds": round(time.perf_counter() - start, 3),
    }


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    try:
        cfg = parse_config(EvalOfflineConfig, argv, prog="lerobot-core eval-offline")
        result = evaluate_offline(cfg)
    except (ConfigError, ValueError, FileNotFoundError, KeyError) as e:
        print(f"lerobot-core eval-offline: error: {e}", file=sys.stderr)
        return 2
    text = json.dumps(result)
    if cfg.output:
        Path(cfg.output).parent.mkdir(parents=True, exist_ok=True)
        Path(cfg.output).write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
