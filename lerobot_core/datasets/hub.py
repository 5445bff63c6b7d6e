"""Hugging Face Hub I/O for LeRobot v3.0 datasets: push (with the codebase-version tag) and download.

Why the tag: loaders resolve a dataset by its codebase version, not by ``main``. ``download_dataset`` (and
upstream LeRobot) list the repo's refs and pick the newest tag compatible with the version this code reads
(``v3.0``); a dataset pushed without a ``v3.0`` tag cannot be loaded by ``repo_id``. Pushing therefore always
(re)points the tag at the commit just made, so a re-pushed dataset never serves stale files under its tag.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import packaging.version
from huggingface_hub import HfApi, snapshot_download
from huggingface_hub import constants as hf_constants
from huggingface_hub.errors import HfHubHTTPError, RevisionNotFoundError

from lerobot_core.constants import hf_lerobot_home
from lerobot_core.datasets.format import CODEBASE_VERSION, INFO_PATH

logger = logging.getLogger(__name__)

REPO_TYPE = "dataset"
# Never uploaded: the raw image staging dir of the writer and our atomic-write temp files.
DEFAULT_IGNORE_PATTERNS = ["images/**", "**/.*.tmp", ".cache/**"]
V21_CONVERT_HINT = (
    "convert it with upstream LeRobot first: "
    "`python -m lerobot.datasets.v30.convert_dataset_v21_to_v30 --repo-id={repo_id}`, then push the result"
)


class DatasetVersionError(RuntimeError):
    """The dataset on the Hub has no codebase version this library can read."""


class BackwardCompatibilityError(DatasetVersionError):
    def __init__(self, repo_id: str, version: packaging.version.Version | str):
        super().__init__(
            f"Dataset {repo_id!r} is in the older LeRobot format v{_bare(version)}; this library reads "
            f"{CODEBASE_VERSION} datasets. To use it, {V21_CONVERT_HINT.format(repo_id=repo_id)}."
        )


class ForwardCompatibilityError(DatasetVersionError):
    def __init__(self, repo_id: str, version: packaging.version.Version | str):
        super().__init__(
            f"Dataset {repo_id!r} is in the newer LeRobot format v{_bare(version)}; this library reads "
            f"{CODEBASE_VERSION}. Upgrade lerobot_core, or pass revision= pointing at a {CODEBASE_VERSION} commit."
        )


def _bare(version: packaging.version.Version | str) -> str:
    return str(version).removeprefix("v")


def _api(token: str | None, endpoint: str | None) -> HfApi:
    return HfApi(token=token, endpoint=endpoint)


def is_offline() -> bool:
    """``HF_HUB_OFFLINE`` as ``huggingface_hub`` saw it at import, or as set in the environment now."""
    env = os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in ("1", "ON", "YES", "TRUE")
    return bool(hf_constants.HF_HUB_OFFLINE) or env


def parse_version(ref: str) -> packaging.version.Version | None:
    """``"v3.0"`` → ``Version("3.0")``; anything that is not a plain ``vX.Y`` (branch, sha) → ``None``."""
    if not ref.startswith("v"):
        return None
    try:
        return packaging.version.Version(ref[1:])
    except packaging.version.InvalidVersion:
        return None


def get_repo_versions(repo_id: str, *, token: str | None = None, endpoint: str | None = None
                      ) -> list[packaging.version.Version]:
    """Codebase versions a dataset repo advertises through its tags and branches (``v3.0``, ``v2.1``...)."""
    refs = _api(token, endpoint).list_repo_refs(repo_id, repo_type=REPO_TYPE)
    versions = (parse_version(r.name) for r in [*refs.branches, *refs.tags])
    return sorted({v for v in versions if v is not None})


def get_safe_version(repo_id: str, version: str = CODEBASE_VERSION, *, token: str | None = None,
                     endpoint: str | None = None) -> str:
    """The ref to download for a reader of ``version``, following upstream's rule.

    The exact version if tagged; else the newest tag with the same major and a lower-or-equal minor; a repo
    with only older majors raises :class:`BackwardCompatibilityError` (convert it), only newer ones
    :class:`ForwardCompatibilityError`, none at all ``RuntimeError`` naming the one-liner that adds the tag.
    """
    target = parse_version(version) or packaging.version.Version(_bare(version))
    available = get_repo_versions(repo_id, token=token, endpoint=endpoint)
    if not available:
        raise RuntimeError(
            f"Dataset {repo_id!r} has no codebase version tag (e.g. {CODEBASE_VERSION}), so it cannot be resolved. "
            "If it is a v3.0 dataset, tag it once with: `python -c \"from huggingface_hub import HfApi; "
            f"HfApi().create_tag('{repo_id}', tag='{CODEBASE_VERSION}', repo_type='dataset', exist_ok=True)\"` "
            "(push_dataset_to_hub does this for you)."
        )
    if target in available:
        return f"v{target}"
    compatible = [v for v in available if v.major == target.major and v.minor <= target.minor]
    if compatible:
        best = max(compatible)
        logger.warning("Revision v%s of %s not found, using v%s", target, repo_id, best)
        return f"v{best}"
    older = [v for v in available if v.major < target.major]
    if older:
        raise BackwardCompatibilityError(repo_id, max(older))
    raise ForwardCompatibilityError(repo_id, min(v for v in available if v > target))


def check_codebase_version(info: dict[str, Any], where: str) -> str:
    """Raise a readable error unless ``info['codebase_version']`` is one this library reads (v3.x)."""
    version = info.get("codebase_version")
    parsed = parse_version(str(version)) if version else None
    supported = parse_version(CODEBASE_VERSION)
    if parsed is None:
        raise DatasetVersionError(f"{where}: meta/info.json has no valid 'codebase_version' (got {version!r}).")
    if parsed.major < supported.major:
        raise BackwardCompatibilityError(where, parsed)
    if parsed.major > supported.major or parsed > supported:
        raise ForwardCompatibilityError(where, parsed)
    return str(version)


def default_root(repo_id: str) -> Path:
    """Where a dataset pulled by ``repo_id`` lives: ``$HF_LEROBOT_HOME/<repo_id>``."""
    return hf_lerobot_home() / repo_id


def download_dataset(
    repo_id: str,
    root: str | os.PathLike[str] | None = None,
    revision: str | None = None,
    *,
    allow_patterns: str | Sequence[str] | None = None,
    ignore_patterns: str | Sequence[str] | None = None,
    token: str | None = None,
    endpoint: str | None = None,
    max_workers: int = 8,
) -> Path:
    """Download ``repo_id`` (or the files matching ``allow_patterns``) into ``root`` and return ``root``.

    ``root`` defaults to ``$HF_LEROBOT_HOME/<repo_id>``. ``revision`` ``None`` or a version (``"v3.0"``) is
    resolved to the newest compatible version tag (see :func:`get_safe_version`); a branch name or commit sha
    is used as is. Files already present and unchanged are not downloaded again. With ``HF_HUB_OFFLINE=1`` an
    existing local copy is returned as is, and a missing one raises ``FileNotFoundError``.
    """
    root = Path(root).expanduser() if root is not None else default_root(repo_id)
    if is_offline():
        if (root / INFO_PATH).is_file():
            return root
        raise FileNotFoundError(
            f"HF_HUB_OFFLINE is set and dataset {repo_id!r} is not available locally at {root} "
            f"(no {INFO_PATH}). Unset HF_HUB_OFFLINE to download it, or pass root= to a local copy."
        )
    ref = revision or CODEBASE_VERSION
    if parse_version(ref) is not None:
        ref = get_safe_version(repo_id, ref, token=token, endpoint=endpoint)
    root.mkdir(parents=True, exist_ok=True)
    try:
        snapshot_download(
            repo_id,
            repo_type=REPO_TYPE,
            revision=ref,
            local_dir=root,
            allow_patterns=allow_patterns,
            ignore_patterns=ignore_patterns,
            token=token,
            endpoint=endpoint,
            max_workers=max_workers,
        )
    except RevisionNotFoundError as e:
        raise RevisionNotFoundError(
            f"Revision {ref!r} not found in dataset repo {repo_id!r}: pass an existing branch, tag or commit "
            f"(tags: see `HfApi().list_repo_refs({repo_id!r}, repo_type='dataset')`).",
            response=e.response,
        ) from e
    info_file = root / INFO_PATH
    if info_file.is_file():
        check_codebase_version(json.loads(info_file.read_text()), f"{repo_id}@{ref}")
    return root


def dataset_card(info: dict[str, Any], repo_id: str, *, license: str | None = "apache-2.0",
                 tags: Sequence[str] | None = None, **card_kwargs: Any) -> str:
    """README.md for a dataset repo: YAML front matter the Hub indexes, then the dataset's structure."""
    all_tags = ["LeRobot", *[t for t in (tags or []) if t != "LeRobot"]]
    lines = ["---"]
    if license:
        lines.append(f"license: {license}")
    lines += ["task_categories:", "- robotics", "tags:", *[f"- {json.dumps(t)}" for t in all_tags]]
    lines += ["configs:", "- config_name: default", "  data_files: data/*/*.parquet"]
    for key, value in card_kwargs.items():
        if value is not None:
            lines.append(f"{key}: {json.dumps(value)}")
    lines += ["---", "", f"# {repo_id}", ""]
    lines += [
        f"A [LeRobot](https://github.com/huggingface/lerobot) dataset in format {info.get('codebase_version')}: "
        f"{info.get('total_episodes')} episodes, {info.get('total_frames')} frames at {info.get('fps')} fps"
        f" (robot type: {info.get('robot_type') or 'unknown'}).",
        "",
        "## Dataset structure",
        "",
        "[meta/info.json](meta/info.json):",
        "```json",
        json.dumps(info, indent=4, ensure_ascii=False),
        "```",
        "",
    ]
    return "\n".join(lines)


def push_dataset_to_hub(
    root: str | os.PathLike[str],
    repo_id: str,
    *,
    private: bool | None = None,
    tags: Sequence[str] | None = None,
    license: str | None = "apache-2.0",
    branch: str | None = None,
    tag_version: bool = True,
    push_videos: bool = True,
    allow_patterns: str | Sequence[str] | None = None,
    upload_large_folder: bool = False,
    commit_message: str | None = None,
    token: str | None = None,
    endpoint: str | None = None,
    **card_kwargs: Any,
) -> str:
    """Upload the dataset at ``root`` to the dataset repo ``repo_id`` and return the pushed commit id.

    Creates the repo if needed (``private=None`` defers to the account/org default), uploads every file
    (not the ``images/`` staging dir; not ``videos/`` with ``push_videos=False``), adds a dataset card when the
    repo has none, and points the codebase-version tag (``v3.0``) at the resulting commit so loaders resolve
    it. ``branch`` pushes to that branch (created from ``main`` if missing). ``upload_large_folder`` uses the
    resumable multi-commit uploader of ``huggingface_hub`` < 2 (newer ``upload_folder`` batches by itself).
    """
    root = Path(root).expanduser()
    info_file = root / INFO_PATH
    if not info_file.is_file():
        raise FileNotFoundError(
            f"{root} is not a LeRobot dataset: {INFO_PATH} is missing (record or finalize the dataset first)."
        )
    info = json.loads(info_file.read_text())
    version = check_codebase_version(info, str(root))
    api = _api(token, endpoint)
    api.create_repo(repo_id, repo_type=REPO_TYPE, private=private, exist_ok=True)
    if branch:
        api.create_branch(repo_id, branch=branch, repo_type=REPO_TYPE, exist_ok=True)
    ignore = list(DEFAULT_IGNORE_PATTERNS)
    if not push_videos:
        ignore.append("videos/**")
    # huggingface_hub >= 2 dropped upload_large_folder: its upload_folder already commits big folders in
    # several resumable batches, so the flag only matters on older clients.
    if upload_large_folder and hasattr(api, "upload_large_folder"):
        api.upload_large_folder(
            repo_id=repo_id, folder_path=root, repo_type=REPO_TYPE, revision=branch, private=private,
            allow_patterns=allow_patterns, ignore_patterns=ignore,
        )
        commit = None
    else:
        commit = api.upload_folder(
            repo_id=repo_id, folder_path=root, repo_type=REPO_TYPE, revision=branch,
            allow_patterns=allow_patterns, ignore_patterns=ignore,
            commit_message=commit_message or f"Upload LeRobot dataset ({info.get('total_episodes')} episodes)",
        ).oid
    if not api.file_exists(repo_id, "README.md", repo_type=REPO_TYPE, revision=branch):
        card = dataset_card(info, repo_id, license=license, tags=tags, **card_kwargs)
        commit = api.upload_file(
            path_or_fileobj=card.encode(), path_in_repo="README.md", repo_id=repo_id, repo_type=REPO_TYPE,
            revision=branch, commit_message="Add dataset card",
        ).oid
    if commit is None:
        commit = api.repo_info(repo_id, repo_type=REPO_TYPE, revision=branch).sha
    if tag_version:
        tag_commit(api, repo_id, version, commit)
    return commit


def tag_commit(api: HfApi, repo_id: str, tag: str, commit: str) -> None:
    """Point ``tag`` at ``commit`` (moving it if it already exists); on failure, say how to do it by hand."""
    try:
        with contextlib.suppress(RevisionNotFoundError):
            api.delete_tag(repo_id, tag=tag, repo_type=REPO_TYPE)
        api.create_tag(repo_id, tag=tag, revision=commit, repo_type=REPO_TYPE, exist_ok=True)
    except HfHubHTTPError as e:
        raise RuntimeError(
            f"Uploaded {repo_id} (commit {commit}) but could not tag it {tag}: {e}. Loaders need this tag; add it "
            f"with `HfApi().create_tag('{repo_id}', tag='{tag}', revision='{commit}', repo_type='dataset')`."
        ) from e
