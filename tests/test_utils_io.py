"""Atomic writes: the old file survives any failure; no temporary files are left behind."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lerobot_core.utils.io import atomic_path, atomic_write_json, atomic_write_text


def test_atomic_write_replaces_content(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "info.json"
    atomic_write_json(target, {"a": 1})
    atomic_write_json(target, {"a": 2})
    assert json.loads(target.read_text()) == {"a": 2}
    assert sorted(p.name for p in target.parent.iterdir()) == ["info.json"]


def test_failure_midway_keeps_old_file(tmp_path: Path) -> None:
    target = tmp_path / "stats.json"
    atomic_write_text(target, "old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half-writ")
        raise RuntimeError("crash while writing")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["stats.json"]


def test_os_error_names_the_target_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "occupied"
    target.mkdir()  # os.replace onto a directory fails the same way on every user, root included
    (target / "keep").write_text("kept")
    with pytest.raises(OSError, match="could not write .*occupied"):
        atomic_write_text(target, "new")
    assert (target / "keep").read_text() == "kept"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["occupied"]
