"""LeRobotDataset.push_to_hub → LeRobotDataset(repo_id) through the local Hub server, end to end."""

from __future__ import annotations

from pathlib import Path

import torch
from helpers.hf_hub_server import HubServer
from helpers_record import record

from lerobot_core.datasets import LeRobotDataset, LeRobotDatasetMetadata
from lerobot_core.datasets.validate import validate_dataset


def _assert_items_equal(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key, value in a.items():
        if isinstance(value, torch.Tensor):
            assert torch.equal(value, b[key]), key
        else:
            assert value == b[key], key


def test_recorded_dataset_round_trips_by_repo_id(hub: HubServer, tmp_path: Path, lerobot_home: Path):
    recorded = record(tmp_path / "recorded", episodes=2, length=12)
    assert validate_dataset(recorded.root).ok

    commit = recorded.push_to_hub(private=True)
    assert hub.repo("test/synthetic").tags["v3.0"] == commit

    pulled = LeRobotDataset("test/synthetic")
    assert pulled.root == lerobot_home / "test/synthetic"
    assert validate_dataset(pulled.root).ok
    assert len(pulled) == len(recorded) == 24
    source = LeRobotDataset("test/synthetic", root=recorded.root)
    for i in (0, 11, 12, 23):
        _assert_items_equal(source[i], pulled[i])


def test_metadata_by_repo_id_and_revision(hub: HubServer, dataset_copy: Path, tmp_path: Path, lerobot_home: Path):
    first = LeRobotDataset("tester/fixture", root=dataset_copy).push_to_hub()
    meta = LeRobotDatasetMetadata("tester/fixture")
    assert meta.root == lerobot_home / "tester/fixture"
    assert (meta.total_episodes, meta.total_frames, meta.fps) == (2, 80, 30)
    # Pinning a commit id bypasses tag resolution and still loads.
    pinned = LeRobotDatasetMetadata("tester/fixture", root=tmp_path / "pinned", revision=first)
    assert pinned.camera_keys == meta.camera_keys
