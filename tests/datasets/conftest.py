"""Fixtures for the dataset hub, sampler, validation and CLI tests."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.hf_hub_server import HubServer, hub_env


@pytest.fixture(scope="session")
def fixture_dataset(upstream_fixtures: Path) -> Path:
    """The upstream-written v3.0 dataset (read-only)."""
    return upstream_fixtures / "dataset_v30"


def copy_dataset(src: Path, dst: Path) -> Path:
    """A writable copy of a dataset directory (the shared fixtures are read-only)."""
    shutil.copytree(src, dst)
    for p in dst.rglob("*"):
        os.chmod(p, 0o755 if p.is_dir() else 0o644)
    os.chmod(dst, 0o755)
    return dst


@pytest.fixture
def dataset_copy(fixture_dataset: Path, tmp_path: Path) -> Path:
    return copy_dataset(fixture_dataset, tmp_path / "dataset")


@pytest.fixture
def lerobot_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty ``HF_LEROBOT_HOME`` for datasets pulled by repo_id."""
    home = tmp_path / "lerobot_home"
    monkeypatch.setenv("HF_LEROBOT_HOME", str(home))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    return home


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[HubServer]:
    """A running local Hub server with huggingface_hub pointed at it."""
    with HubServer(tmp_path / "hub_storage") as server, hub_env(server.url):
        yield server
