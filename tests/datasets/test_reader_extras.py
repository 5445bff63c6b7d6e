"""Reader details: annotated datasets (language columns back-filled into parquet), image transforms,
tools metadata, negative indices."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest
import torch
from helpers_record import record

from lerobot_core.datasets import LeRobotDataset, LeRobotDatasetMetadata
from lerobot_core.datasets.language import LANGUAGE_EVENTS, LANGUAGE_PERSISTENT, language_array


def test_language_columns_added_to_parquet_only_are_loaded_and_passed_through(tmp_path):
    """`lerobot-annotate` back-fills the columns into data parquet without touching info.json."""
    root = tmp_path / "ds"
    record(root, episodes=1, length=4)
    path = root / "data/chunk-000/file-000.parquet"
    table = pq.read_table(path)
    persistent = [[{"role": "assistant", "content": "reach", "style": "subtask", "timestamp": 0.0,
                    "camera": None, "tool_calls": None}]] * 4
    events = [[], [{"role": "assistant", "content": None, "style": None, "camera": None,
                    "tool_calls": [{"type": "function", "function": {"name": "say", "arguments": {"text": "hi"}}}]}],
              [], []]
    table = table.append_column(LANGUAGE_PERSISTENT, language_array(LANGUAGE_PERSISTENT, persistent))
    table = table.append_column(LANGUAGE_EVENTS, language_array(LANGUAGE_EVENTS, events))
    pq.write_table(table, path)
    ds = LeRobotDataset("t", root=root)
    assert ds.meta.has_language_columns
    assert ds.meta.features[LANGUAGE_EVENTS]["dtype"] == "language"
    item = ds[1]
    assert item[LANGUAGE_PERSISTENT][0]["content"] == "reach"
    assert json.loads(item[LANGUAGE_EVENTS][0]["tool_calls"][0])["function"]["arguments"] == {"text": "hi"}
    assert ds[0][LANGUAGE_EVENTS] == []


def test_image_transforms_apply_to_every_camera(tmp_path):
    root = tmp_path / "ds"
    record(root, episodes=1, length=3)
    ds = LeRobotDataset("t", root=root, image_transforms=lambda img: torch.zeros(1) + img.shape[-1])
    item = ds[-1]
    assert item["observation.images.front"].tolist() == [48.0]
    assert item["observation.images.wrist"].tolist() == [48.0]
    assert int(item["index"]) == 2
    with pytest.raises(IndexError):
        ds[3]


def test_tools_setter_persists(tmp_path):
    root = tmp_path / "ds"
    record(root, episodes=1, length=2)
    meta = LeRobotDatasetMetadata("t", root=root)
    tool = {"type": "function", "function": {"name": "wave", "parameters": {"type": "object"}}}
    meta.tools = [tool]
    assert LeRobotDatasetMetadata("t", root=root).tools == [tool]
    meta.tools = None
    assert "tools" not in json.loads((root / "meta/info.json").read_text())
    assert LeRobotDatasetMetadata("t", root=root).tools[0]["function"]["name"] == "say"


def test_dataloader_workers_match_direct_access(tmp_path):
    """Worker processes open their own decoders (the parent's cache and thread pool are not reused)."""
    root = tmp_path / "ds"
    record(root, episodes=2, length=6)
    ds = LeRobotDataset("t", root=root, delta_timestamps={"observation.images.front": [-1 / 30, 0]})
    direct = [ds[i] for i in range(len(ds))]  # the parent has decoded (cache, pool) before forking
    loader = torch.utils.data.DataLoader(ds, batch_size=4, num_workers=2, shuffle=False)
    batches = list(loader)
    front = torch.cat([b["observation.images.front"] for b in batches])
    assert front.shape == (12, 2, 3, 32, 48)
    assert torch.equal(front, torch.stack([d["observation.images.front"] for d in direct]))
    assert [t for b in batches for t in b["task"]] == [d["task"] for d in direct]
