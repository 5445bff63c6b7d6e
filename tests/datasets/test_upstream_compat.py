"""Reading upstream's v3.0 fixture (written by LeRobot 0.4.4) gives exactly upstream's tensors."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
from safetensors import safe_open

from lerobot_core.datasets import LeRobotDataset, LeRobotDatasetMetadata
from lerobot_core.datasets.stats import aggregate_stats, vector_stats


@pytest.fixture(scope="module")
def fixture_root(upstream_fixtures):
    return upstream_fixtures / "dataset_v30"


@pytest.fixture(scope="module")
def manifest(upstream_fixtures):
    return json.loads((upstream_fixtures / "MANIFEST.json").read_text())


@pytest.fixture(scope="module")
def reference(upstream_fixtures):
    with safe_open(upstream_fixtures / "dataset_reference.safetensors", "pt") as f:
        return {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118


@pytest.mark.parametrize("mode", ["plain", "delta"])
def test_items_equal_upstream_reference(fixture_root, manifest, reference, mode):
    """Every key, dtype, shape and value (decoded frames included, bit-exact) matches upstream."""
    spec = manifest["dataset_reference"]
    delta = spec["delta_timestamps"] if mode == "delta" else None
    indices = spec["indices_delta"] if mode == "delta" else spec["indices_plain"]
    ds = LeRobotDataset(manifest["dataset_v30"]["repo_id"], root=fixture_root, delta_timestamps=delta)
    tasks = pq.read_table(fixture_root / "meta/tasks.parquet").to_pylist()
    task_names = {row["task_index"]: row["__index_level_0__"] for row in tasks}
    for i in indices:
        item = ds[i]
        expected = {k.split(".", 2)[2] for k in reference if k.startswith(f"{mode}.{i}.")}
        assert set(item) == expected | {"task"}
        for key in expected:
            ref = reference[f"{mode}.{i}.{key}"]
            assert item[key].dtype == ref.dtype, key
            assert item[key].shape == ref.shape, key
            assert torch.equal(item[key], ref), f"{mode}[{i}][{key}] differs"
        assert item["task"] == task_names[int(item["task_index"])]


def test_metadata_attributes(fixture_root, manifest):
    meta = LeRobotDatasetMetadata("fixtures/so101_synth", root=fixture_root)
    spec = manifest["dataset_v30"]
    assert meta.total_episodes == spec["episodes"] == len(meta.episodes)
    assert meta.total_frames == spec["episodes"] * spec["frames_per_episode"]
    assert meta.fps == spec["fps"]
    assert meta.video_keys == [f"observation.images.{c}" for c in spec["cameras"]]
    assert meta.camera_keys == meta.video_keys and meta.image_keys == []
    assert list(meta.tasks) == ["pick the red block", "place the block in the bin"]
    assert meta.episodes["length"] == [40, 40]
    assert set(meta.stats["action"]) >= {"min", "max", "mean", "std", "count", "q01", "q99"}
    assert meta.tools[0]["function"]["name"] == "say"  # default tool list when info.json declares none


def test_episode_subset_and_filter(fixture_root):
    ds = LeRobotDataset("x", root=fixture_root, episodes=[1])
    assert len(ds) == 40 and ds.num_episodes == 1
    assert int(ds[0]["index"]) == 40 and int(ds[0]["episode_index"]) == 1
    filtered = LeRobotDataset("x", root=fixture_root, episode_filter=lambda ep: ep["episode_index"] == 0)
    assert filtered.episodes == [0] and len(filtered) == 40
    with pytest.raises(ValueError, match="matched no episode"):
        LeRobotDataset("x", root=fixture_root, episode_filter=lambda ep: ep["length"] > 1000)
    with pytest.raises(ValueError, match="unknown episode field"):
        LeRobotDataset("x", root=fixture_root, episode_filter=lambda ep: ep["nope"] > 1)


def test_stats_algorithm_reproduces_upstream_numbers(fixture_root):
    """Our estimator recomputes the fixture's per-episode and aggregated numeric stats exactly."""
    data = pq.read_table(fixture_root / "data/chunk-000/file-000.parquet")
    episodes = pq.read_table(fixture_root / "meta/episodes/chunk-000/file-000.parquet").to_pylist()
    reference = json.loads((fixture_root / "meta/stats.json").read_text())
    per_episode = []
    for row in episodes:
        lo, hi = row["dataset_from_index"], row["dataset_to_index"]
        columns = {
            "observation.state": np.stack(data["observation.state"].to_numpy(zero_copy_only=False)[lo:hi]),
            "action": np.stack(data["action"].to_numpy(zero_copy_only=False)[lo:hi]),
            "timestamp": np.arange(hi - lo) / 30,  # upstream's buffer holds float64 i/fps
            "index": data["index"].to_numpy()[lo:hi],
        }
        stats = {k: vector_stats(v) for k, v in columns.items()}
        for key, feature_stats in stats.items():
            for stat, value in feature_stats.items():
                expected = np.array(row[f"stats/{key}/{stat}"])
                np.testing.assert_array_equal(value.reshape(expected.shape), expected, err_msg=f"{key}/{stat}")
        per_episode.append(stats)
    aggregated = aggregate_stats(per_episode)
    for key in ("observation.state", "action", "index"):
        for stat, value in aggregated[key].items():
            np.testing.assert_allclose(value, np.array(reference[key][stat]), rtol=1e-12, err_msg=f"{key}/{stat}")
