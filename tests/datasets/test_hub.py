"""push_dataset_to_hub / download_dataset against a real local Hub server (tests/helpers/hf_hub_server.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers.hf_hub_server import HubServer
from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError

from lerobot_core.datasets.hub import (
    BackwardCompatibilityError,
    DatasetVersionError,
    ForwardCompatibilityError,
    download_dataset,
    get_safe_version,
    push_dataset_to_hub,
)

REPO = "tester/so101_synth"


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".cache" not in p.relative_to(root).parts
    }


def _create_payloads(hub: HubServer) -> list[dict]:
    return [body for method, path, body in hub.requests if method == "POST" and path == "/api/repos/create"]


def _info_bytes(version: str, episodes: int) -> bytes:
    return json.dumps({"codebase_version": version, "total_episodes": episodes, "fps": 30}).encode()


def test_round_trip_push_then_pull_by_repo_id(hub: HubServer, dataset_copy: Path, lerobot_home: Path):
    commit = push_dataset_to_hub(dataset_copy, REPO, private=True, tags=["so101", "tutorial"])

    repo = hub.repo(REPO)
    assert repo.private is True
    assert _create_payloads(hub)[0]["visibility"] == "private"
    assert repo.tags == {"v3.0": commit} and repo.branches["main"] == commit
    card = hub.file_bytes(REPO, "README.md").decode()
    assert card.startswith("---\nlicense: apache-2.0\n") and '- "so101"' in card and "- robotics" in card
    # Binary files went through the LFS path, JSON as regular git blobs.
    lfs_paths = {p for p, blob in repo.commits[commit].files.items() if blob.lfs}
    assert "data/chunk-000/file-000.parquet" in lfs_paths and "meta/info.json" not in lfs_paths

    # The repo is private: without the right token it does not exist (as on the Hub).
    with pytest.raises(RepositoryNotFoundError):
        download_dataset(REPO, token="hf_wrong")
    root = download_dataset(REPO)
    assert root == lerobot_home / REPO
    pulled, pushed = _files(root), _files(dataset_copy)
    assert set(pulled) == set(pushed) | {"README.md"}
    for name, data in pushed.items():
        assert pulled[name] == data, name


def test_private_none_defers_to_hub_default(hub: HubServer, dataset_copy: Path):
    push_dataset_to_hub(dataset_copy, REPO)
    assert "visibility" not in _create_payloads(hub)[0]
    assert hub.repo(REPO).private is None


def test_push_with_a_bad_token_fails_clearly(hub: HubServer, dataset_copy: Path):
    with pytest.raises(HfHubHTTPError, match="401"):
        push_dataset_to_hub(dataset_copy, REPO, token="hf_wrong")
    assert hub.repos == {}


def test_repush_moves_the_version_tag_and_keeps_the_card(hub: HubServer, dataset_copy: Path, tmp_path: Path):
    first = push_dataset_to_hub(dataset_copy, REPO, license="mit")
    info_path = dataset_copy / "meta/info.json"
    info = json.loads(info_path.read_text())
    info["robot_type"] = "koch_follower"
    info_path.write_text(json.dumps(info, indent=4))
    second = push_dataset_to_hub(dataset_copy, REPO, license="apache-2.0")

    assert second != first
    assert hub.repo(REPO).tags["v3.0"] == second
    assert "license: mit" in hub.file_bytes(REPO, "README.md").decode()  # user-facing card not overwritten
    root = download_dataset(REPO, root=tmp_path / "pulled")
    assert json.loads((root / "meta/info.json").read_text())["robot_type"] == "koch_follower"


def test_push_to_branch_without_videos_or_staging_files(hub: HubServer, dataset_copy: Path):
    staged = dataset_copy / "images/observation.images.front/episode-000000/frame-000000.png"
    staged.parent.mkdir(parents=True)
    staged.write_bytes(b"\x89PNG")
    (dataset_copy / "meta/.info.json.x1y2.tmp").write_text("{")
    commit = push_dataset_to_hub(dataset_copy, REPO, branch="dev", push_videos=False, upload_large_folder=True)
    repo = hub.repo(REPO)
    assert repo.branches["dev"] == commit and repo.tags["v3.0"] == commit
    assert repo.commits[repo.branches["main"]].files == {}
    pushed = repo.commits[commit].files
    assert not [p for p in pushed if p.startswith(("videos/", "images/")) or p.endswith(".tmp")]
    assert "meta/episodes/chunk-000/file-000.parquet" in repo.commits[commit].files


def test_download_resolves_the_version_tag_not_main(hub: HubServer, tmp_path: Path):
    tagged = hub.seed_repo(REPO, {"meta/info.json": _info_bytes("v3.0", 1)}, tags=("v3.0",))
    hub.seed_repo(REPO, {"meta/info.json": _info_bytes("v3.0", 99)})
    assert hub.repo(REPO).branches["main"] != tagged

    root = download_dataset(REPO, root=tmp_path / "a")
    assert json.loads((root / "meta/info.json").read_text())["total_episodes"] == 1
    # A branch name (not a version) is used as is.
    root = download_dataset(REPO, root=tmp_path / "b", revision="main")
    assert json.loads((root / "meta/info.json").read_text())["total_episodes"] == 99


def test_safe_version_picks_newest_compatible_tag(hub: HubServer):
    hub.seed_repo(REPO, {"meta/info.json": _info_bytes("v3.0", 1)}, tags=("v2.0", "v2.1", "v3.0", "v4.0"))
    assert get_safe_version(REPO, "v3.0") == "v3.0"
    assert get_safe_version(REPO, "v3.2") == "v3.0"  # same major, lower minor
    assert get_safe_version(REPO, "v2.1") == "v2.1"
    hub.seed_repo("tester/old", {"meta/info.json": _info_bytes("v2.1", 1)}, tags=("v2.0", "v2.1"))
    with pytest.raises(BackwardCompatibilityError, match=r"v2\.1.*convert_dataset_v21_to_v30"):
        get_safe_version("tester/old", "v3.0")
    hub.seed_repo("tester/new", {"meta/info.json": _info_bytes("v3.1", 1)}, tags=("v3.1", "v4.0"))
    with pytest.raises(ForwardCompatibilityError, match=r"v3\.1"):
        get_safe_version("tester/new", "v3.0")


def test_unsupported_or_untagged_hub_dataset_gives_clear_errors(hub: HubServer, tmp_path: Path):
    hub.seed_repo("tester/v21", {"meta/info.json": _info_bytes("v2.1", 1)}, tags=("v2.1",))
    with pytest.raises(BackwardCompatibilityError, match="convert"):
        download_dataset("tester/v21", root=tmp_path / "v21")
    hub.seed_repo("tester/untagged", {"meta/info.json": _info_bytes("v3.0", 1)})
    with pytest.raises(RuntimeError, match=r"create_tag\('tester/untagged', tag='v3.0'"):
        download_dataset("tester/untagged", root=tmp_path / "untagged")
    # An explicit branch holding a v2.1 dataset is caught after download, from its info.json.
    with pytest.raises(BackwardCompatibilityError):
        download_dataset("tester/v21", root=tmp_path / "v21b", revision="main")


def test_download_subset_and_offline_mode(hub: HubServer, dataset_copy: Path, lerobot_home: Path,
                                          monkeypatch: pytest.MonkeyPatch):
    push_dataset_to_hub(dataset_copy, REPO)
    root = download_dataset(REPO, allow_patterns="meta/*")
    assert (root / "meta/info.json").is_file() and not (root / "data").exists()

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    n_requests = len(hub.requests)
    assert download_dataset(REPO) == root
    assert len(hub.requests) == n_requests  # no network at all
    with pytest.raises(FileNotFoundError, match="HF_HUB_OFFLINE"):
        download_dataset("tester/never_pulled")


def test_push_rejects_non_datasets_and_old_versions(hub: HubServer, dataset_copy: Path, tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="meta/info.json"):
        push_dataset_to_hub(tmp_path / "nothing", REPO)
    info_path = dataset_copy / "meta/info.json"
    info = json.loads(info_path.read_text())
    info["codebase_version"] = "v2.1"
    info_path.write_text(json.dumps(info))
    with pytest.raises(DatasetVersionError, match="v2.1"):
        push_dataset_to_hub(dataset_copy, REPO)
    assert hub.requests == []
