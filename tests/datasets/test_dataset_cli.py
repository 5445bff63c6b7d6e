"""`lerobot-core dataset info|validate|push|pull` in-process and through the real entry point."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.hf_hub_server import DUMMY_TOKEN, HubServer

from lerobot_core.cli import main as lerobot_core_main
from lerobot_core.datasets.cli import main

REPO = "tester/cli_ds"


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*")
            if p.is_file() and ".cache" not in p.parts}


def test_info_text_and_json(fixture_dataset: Path, capsys: pytest.CaptureFixture[str]):
    assert lerobot_core_main(["dataset", "info", str(fixture_dataset)]) == 0
    text = capsys.readouterr().out
    assert "robot: so101_follower   fps: 30" in text
    assert "episodes   2   frames: 80" in text
    assert "observation.images.front  video av1 128x96 yuv420p @ 30 fps" in text
    assert "observation.state" in text and "float32  (6,)" in text
    assert "1: place the block in the bin" in text

    assert main(["info", "--root", str(fixture_dataset), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["total_frames"] == 80 and summary["tasks"] == ["pick the red block", "place the block in the bin"]
    assert summary["cameras"]["observation.images.wrist"]["codec"] == "av1"
    assert summary["features"]["action"] == {"dtype": "float32", "shape": [6], "names": summary["features"][
        "action"]["names"]}
    assert summary["size_bytes"] == sum(len(b) for b in _files(fixture_dataset).values())


def test_validate_exit_status_and_report(dataset_copy: Path, capsys: pytest.CaptureFixture[str]):
    assert main(["validate", str(dataset_copy)]) == 0
    assert capsys.readouterr().out.startswith("OK:")
    (dataset_copy / "meta/stats.json").unlink()
    assert main(["validate", "--root", str(dataset_copy)]) == 1
    out = capsys.readouterr().out
    assert out.startswith("FAILED") and "[stats] meta/stats.json: missing" in out
    assert main(["validate", str(dataset_copy), "--json", "--no-videos"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False and report["findings"][0]["check"] == "stats"
    assert "video files" not in report["checked"]


def test_push_pull_and_info_by_repo_id(hub: HubServer, dataset_copy: Path, lerobot_home: Path, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]):
    assert main(["push", str(dataset_copy), "--repo-id", REPO, "--private", "--tags", "so101"]) == 0
    assert "tagged v3.0" in capsys.readouterr().out
    assert hub.repo(REPO).private is True and "v3.0" in hub.repo(REPO).tags

    # `info` by repo id fetches only meta/ into HF_LEROBOT_HOME.
    assert main(["info", REPO, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["total_episodes"] == 2
    assert (lerobot_home / REPO / "meta/info.json").is_file() and not (lerobot_home / REPO / "data").exists()

    assert main(["pull", "--repo-id", REPO, "--root", str(tmp_path / "pulled"), "--revision", "v3.0"]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "pulled")
    pulled = _files(tmp_path / "pulled")
    for name, data in _files(dataset_copy).items():
        assert pulled[name] == data, name
    assert main(["validate", "--root", str(tmp_path / "pulled")]) == 0


def test_push_refuses_a_broken_dataset(hub: HubServer, dataset_copy: Path, capsys: pytest.CaptureFixture[str]):
    (dataset_copy / "videos/observation.images.wrist/chunk-000/file-000.mp4").unlink()
    assert main(["push", "--root", str(dataset_copy), "--repo-id", REPO]) == 1
    assert "Refusing to push" in capsys.readouterr().err
    assert hub.requests == []


def test_errors_are_readable(hub: HubServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    with pytest.raises(SystemExit) as exc:
        main(["info"])
    assert exc.value.code == 2
    assert main(["info", "--root", str(tmp_path)]) == 1
    assert "meta/info.json is missing" in capsys.readouterr().err
    hub.seed_repo("tester/old", {"meta/info.json": b'{"codebase_version": "v2.1"}'}, tags=("v2.1",))
    assert main(["pull", "tester/old", "--root", str(tmp_path / "old")]) == 1
    assert "convert_dataset_v21_to_v30" in capsys.readouterr().err


@pytest.mark.slow
def test_entry_point_pull_with_env_only(hub: HubServer, dataset_copy: Path, tmp_path: Path):
    """A fresh process configured only through HF_ENDPOINT / HF_TOKEN / HF_LEROBOT_HOME, as a user would."""
    main(["push", str(dataset_copy), "--repo-id", REPO])
    env = {**os.environ, "HF_ENDPOINT": hub.url, "HF_TOKEN": DUMMY_TOKEN, "HF_HUB_DISABLE_XET": "1",
           "HF_LEROBOT_HOME": str(tmp_path / "home"), "HF_HUB_DISABLE_PROGRESS_BARS": "1"}
    env.pop("HF_HUB_OFFLINE", None)
    cmd = [sys.executable, "-m", "lerobot_core", "dataset", "pull", REPO]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    root = tmp_path / "home" / REPO
    assert out.stdout.strip() == str(root)
    cmd = [sys.executable, "-m", "lerobot_core", "dataset", "validate", REPO]
    out = subprocess.run(cmd, env={**env, "HF_HUB_OFFLINE": "1"}, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.startswith("OK:"), out.stdout + out.stderr
