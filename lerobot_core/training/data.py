"""Dataset plumbing for training and offline evaluation: policy-driven ``delta_timestamps``, episode row
ranges for the samplers, ImageNet camera stats and an early feature check."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from lerobot_core.constants import ACTION, OBS_STR, REWARD
from lerobot_core.datasets import LeRobotDataset, LeRobotDatasetMetadata
from lerobot_core.policies.config import PreTrainedConfig
from lerobot_core.policies.factory import check_features_match
from lerobot_core.processor.features import PolicyFeature, dataset_to_policy_features

IMAGENET_STATS = {"mean": [[[0.485]], [[0.456]], [[0.406]]], "std": [[[0.229]], [[0.224]], [[0.225]]]}


def load_metadata(dataset_cfg: Any) -> LeRobotDatasetMetadata:
    """Metadata from ``--dataset.root`` (local) or ``--dataset.repo_id`` (downloaded when not cached)."""
    repo_id = dataset_cfg.repo_id or f"local/{_name_of(dataset_cfg.root)}"
    if dataset_cfg.root and not dataset_cfg.repo_id and not (Path(dataset_cfg.root) / "meta" / "info.json").is_file():
        raise ValueError(
            f"--dataset.root={dataset_cfg.root} is not a LeRobot dataset (no meta/info.json there); fix the path "
            "or add --dataset.repo_id=<user/name> to download it into that directory"
        )
    try:
        return LeRobotDatasetMetadata(repo_id, root=dataset_cfg.root, revision=dataset_cfg.revision)
    except FileNotFoundError as e:
        raise ValueError(f"--dataset.root={dataset_cfg.root}: {e}") from e


def _name_of(root: str | None) -> str:
    return Path(root).name if root else "dataset"


def resolve_delta_timestamps(policy_cfg: PreTrainedConfig, meta: LeRobotDatasetMetadata) -> dict[str, list[float]] | None:
    """Frame offsets the policy wants (``observation_delta_indices``, ``action_delta_indices``, reward)
    turned into seconds at the dataset's fps, as upstream does."""
    out: dict[str, list[float]] = {}
    for key in meta.features:
        if key == REWARD and policy_cfg.reward_delta_indices is not None:
            out[key] = [i / meta.fps for i in policy_cfg.reward_delta_indices]
        if key == ACTION and policy_cfg.action_delta_indices is not None:
            out[key] = [i / meta.fps for i in policy_cfg.action_delta_indices]
        if key.startswith(OBS_STR) and policy_cfg.observation_delta_indices is not None:
            out[key] = [i / meta.fps for i in policy_cfg.observation_delta_indices]
    return out or None


def policy_features_of(meta: LeRobotDatasetMetadata, rename_map: dict[str, str] | None = None) -> dict[str, PolicyFeature]:
    features = dataset_to_policy_features(meta.features)
    if rename_map:
        features = {rename_map.get(k, k): v for k, v in features.items()}
    return features


def check_dataset_for_policy(policy_cfg: PreTrainedConfig, meta: LeRobotDatasetMetadata,
                             rename_map: dict[str, str] | None = None) -> dict[str, PolicyFeature]:
    """Raise before any model is built when the dataset cannot feed this policy (missing feature, wrong
    shape, no action). Returns the dataset's policy features."""
    features = policy_features_of(meta, rename_map)
    if ACTION not in features:
        raise ValueError(
            f"dataset {meta.root} has no 'action' feature; a policy is trained to predict it. "
            f"Dataset features: {sorted(meta.features)}"
        )
    if policy_cfg.input_features or policy_cfg.output_features:
        check_features_match(policy_cfg, features)
    return features


def camera_stats_with_imagenet(meta: LeRobotDatasetMetadata) -> dict[str, dict[str, Any]]:
    """The dataset stats with every camera's mean/std replaced by ImageNet's (upstream's default)."""
    stats = {k: dict(v) for k, v in meta.stats.items()}
    for key in meta.camera_keys:
        stats.setdefault(key, {})
        for name, value in IMAGENET_STATS.items():
            stats[key][name] = np.asarray(value, dtype=np.float32)
    return stats


def make_dataset(
    dataset_cfg: Any,
    meta: LeRobotDatasetMetadata,
    policy_cfg: PreTrainedConfig,
    episodes: list[int] | None,
    image_transforms: Callable | None = None,
) -> LeRobotDataset:
    return LeRobotDataset(
        meta.repo_id,
        root=meta.root,
        episodes=episodes,
        image_transforms=image_transforms,
        delta_timestamps=resolve_delta_timestamps(policy_cfg, meta),
        revision=dataset_cfg.revision,
        video_backend=dataset_cfg.video_backend,
        _meta=meta,
    )


def split_episodes(meta: LeRobotDatasetMetadata, selected: list[int] | None, holdout: list[int] | None,
                   num_holdout: int) -> tuple[list[int], list[int]]:
    """(training episodes, held-out episodes). Explicit ``holdout`` wins; otherwise the last
    ``num_holdout`` episodes of the selection are held out."""
    total = meta.total_episodes
    chosen = sorted(set(range(total) if selected is None else (int(e) for e in selected)))
    bad = [e for e in chosen if not 0 <= e < total]
    if bad:
        raise ValueError(f"--dataset.episodes: {bad} do not exist; the dataset has episodes 0..{total - 1}")
    if holdout:
        held = sorted({int(e) for e in holdout})
        bad = [e for e in held if not 0 <= e < total]
        if bad:
            raise ValueError(f"--eval.episodes: {bad} do not exist; the dataset has episodes 0..{total - 1}")
    elif num_holdout > 0:
        if num_holdout >= len(chosen):
            raise ValueError(
                f"--eval.num_holdout_episodes={num_holdout} leaves no training episode out of {len(chosen)}"
            )
        held = chosen[-num_holdout:]
    else:
        held = []
    train = [e for e in chosen if e not in set(held)]
    if not train:
        raise ValueError("no training episodes left after holding out the evaluation episodes")
    return train, held


def episode_row_ranges(meta: LeRobotDatasetMetadata, episodes: list[int] | None) -> dict[int, tuple[int, int]]:
    """Row range ``[start, end)`` of each episode inside a ``LeRobotDataset`` opened with ``episodes``.

    Rows of such a dataset are its selected frames in global-index order, so they only equal global
    frame indices when every episode is selected.
    """
    chosen = range(meta.total_episodes) if episodes is None else sorted(set(episodes))
    rows = sorted((int(meta.episodes[e]["dataset_from_index"]), int(meta.episodes[e]["dataset_to_index"]), e)
                  for e in chosen)
    out, cursor = {}, 0
    for start, end, e in rows:
        out[e] = (cursor, cursor + end - start)
        cursor += end - start
    return out
