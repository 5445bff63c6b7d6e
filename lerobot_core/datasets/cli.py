"""``lerobot-core dataset info|validate|push|pull``: inspect, check and move LeRobot v3.0 datasets.

A dataset is named either by a local directory (``--root`` or a path argument) or by a Hub ``repo_id``
(``--repo-id`` or a ``user/name`` argument), which is looked up in ``$HF_LEROBOT_HOME/<repo_id>`` and
downloaded when missing.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from huggingface_hub.errors import HfHubHTTPError

from lerobot_core.datasets import hub
from lerobot_core.datasets.validate import (
    DEFAULT_TOLERANCE_S,
    TASKS_PATH,
    task_strings,
    validate_dataset,
    video_keys,
)

ENCODER_INFO_KEYS = ("video.g", "video.crf", "video.preset", "video.fast_decode", "video.video_backend",
                     "video.extra_options")


def _add_target(p: argparse.ArgumentParser, *, revision: bool = True) -> None:
    p.add_argument("target", nargs="?", help="dataset directory or Hub repo_id (user/name)")
    p.add_argument("--root", type=Path, help="local dataset directory")
    p.add_argument("--repo-id", "--repo_id", dest="repo_id", help="Hub dataset repo id (user/name)")
    if revision:
        p.add_argument("--revision", help="branch, tag or commit (default: newest compatible version tag)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lerobot-core dataset",
        description="Inspect, check and move LeRobot v3.0 datasets (a local directory or a Hub repo id).",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="{info,validate,push,pull}")

    p = sub.add_parser("info", help="human summary: fps, robot, episodes, frames, features, cameras, tasks, size")
    _add_target(p)
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--max-tasks", type=int, default=20, help="tasks listed in the text summary (default 20)")

    p = sub.add_parser("validate", help="integrity checks; exit status 1 with a report when a problem is found")
    _add_target(p)
    p.add_argument("--tolerance-s", "--tolerance_s", dest="tolerance_s", type=float, default=DEFAULT_TOLERANCE_S,
                   help=f"timestamp tolerance in seconds (default {DEFAULT_TOLERANCE_S:g})")
    p.add_argument("--no-videos", dest="check_videos", action="store_false", help="skip the video checks")
    p.add_argument("--json", action="store_true", help="print the report as JSON")

    p = sub.add_parser("push", help="upload a local dataset to the Hub and tag its codebase version")
    p.add_argument("root_pos", nargs="?", metavar="ROOT", help="dataset directory")
    p.add_argument("--root", type=Path, help="dataset directory")
    p.add_argument("--repo-id", "--repo_id", dest="repo_id", required=True, help="target repo id (user/name)")
    vis = p.add_mutually_exclusive_group()
    vis.add_argument("--private", dest="private", action="store_const", const=True, default=None,
                     help="create the repo private (default: the account/org default)")
    vis.add_argument("--public", dest="private", action="store_const", const=False, help="create the repo public")
    p.add_argument("--branch", help="push to this branch (created from main if missing)")
    p.add_argument("--tags", nargs="*", default=None, help="extra tags for the dataset card")
    p.add_argument("--license", default="apache-2.0", help="license in the dataset card (default apache-2.0)")
    p.add_argument("--no-videos", dest="push_videos", action="store_false", help="do not upload videos/")
    p.add_argument("--upload-large-folder", action="store_true", help="resumable multi-commit upload")
    p.add_argument("--skip-validation", action="store_true", help="push even if `validate` finds problems")

    p = sub.add_parser("pull", help="download a Hub dataset into --root or $HF_LEROBOT_HOME/<repo_id>")
    p.add_argument("repo_pos", nargs="?", metavar="REPO_ID", help="Hub dataset repo id (user/name)")
    p.add_argument("--repo-id", "--repo_id", dest="repo_id", help="Hub dataset repo id (user/name)")
    p.add_argument("--root", type=Path, help="destination (default $HF_LEROBOT_HOME/<repo_id>)")
    p.add_argument("--revision", help="branch, tag or commit (default: newest compatible version tag)")
    p.add_argument("--include", nargs="*", default=None, help="only files matching these glob patterns")
    return parser


class UsageError(Exception):
    pass


def resolve_dataset(args: argparse.Namespace, *, download: str | list[str] | None = None) -> Path:
    """Local root for ``target``/``--root``/``--repo-id``; pulls ``download`` patterns when not present."""
    root, repo_id = args.root, args.repo_id
    if args.target:
        if Path(args.target).expanduser().is_dir() or root is not None:
            root = root or Path(args.target).expanduser()
        else:
            repo_id = repo_id or args.target
    if root is not None and (repo_id is None or (root / hub.INFO_PATH).is_file()):
        return root
    if repo_id is None:
        raise UsageError("name a dataset: a directory, a repo id, --root DIR or --repo-id USER/NAME")
    local = root or hub.default_root(repo_id)
    if (local / hub.INFO_PATH).is_file() and getattr(args, "revision", None) is None:
        return local
    return hub.download_dataset(repo_id, local, getattr(args, "revision", None), allow_patterns=download)


def _dir_size(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file() and ".cache" not in p.parts)


def dataset_summary(root: Path) -> dict[str, Any]:
    """Everything ``info`` prints, as plain JSON-able data."""
    info_path = root / hub.INFO_PATH
    if not info_path.is_file():
        raise FileNotFoundError(f"{root} is not a LeRobot dataset: {hub.INFO_PATH} is missing")
    info = json.loads(info_path.read_text())
    cams = video_keys(info) + [k for k, f in info["features"].items() if f.get("dtype") == "image"]
    cameras = {}
    for key in cams:
        feature = info["features"][key]
        vinfo = feature.get("info") or {}
        cameras[key] = {
            "dtype": feature["dtype"],
            "shape": feature["shape"],
            "codec": vinfo.get("video.codec"),
            "pix_fmt": vinfo.get("video.pix_fmt"),
            "resolution": f"{vinfo.get('video.width')}x{vinfo.get('video.height')}" if vinfo else None,
            "fps": vinfo.get("video.fps"),
            **{k.removeprefix("video."): vinfo[k] for k in ENCODER_INFO_KEYS if k in vinfo},
        }
    features = {k: {"dtype": f["dtype"], "shape": f["shape"], "names": f.get("names")}
                for k, f in info["features"].items() if k not in cams}
    fps = info.get("fps")
    frames = info.get("total_frames", 0)
    return {
        "root": str(root),
        "codebase_version": info.get("codebase_version"),
        "robot_type": info.get("robot_type"),
        "fps": fps,
        "total_episodes": info.get("total_episodes"),
        "total_frames": frames,
        "duration_s": round(frames / fps, 3) if fps else None,
        "total_tasks": info.get("total_tasks"),
        "tasks": task_strings(root / TASKS_PATH) if (root / TASKS_PATH).is_file() else [],
        "features": features,
        "cameras": cameras,
        "size_bytes": _dir_size(root),
        "data_files": len(list((root / "data").glob("chunk-*/file-*.parquet"))),
        "video_files": len(list((root / "videos").glob("*/chunk-*/file-*.mp4"))),
        "tools": info.get("tools"),
    }


def _human_size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.1f} TiB"


def format_summary(s: dict[str, Any], max_tasks: int = 20) -> str:
    lines = [
        f"dataset    {s['root']}",
        f"format     LeRobot {s['codebase_version']}   robot: {s['robot_type'] or 'unknown'}   fps: {s['fps']}",
        f"episodes   {s['total_episodes']}   frames: {s['total_frames']} ({s['duration_s']} s)   "
        f"size on disk: {_human_size(s['size_bytes'])} ({s['data_files']} data, {s['video_files']} video files)",
        "features",
    ]
    width = max((len(k) for k in [*s["features"], *s["cameras"]]), default=0)
    for key, f in s["features"].items():
        names = f" {f['names']}" if isinstance(f["names"], list) and len(f["names"]) <= 8 else ""
        lines.append(f"  {key.ljust(width)}  {f['dtype']:<8} {tuple(f['shape'])}{names}")
    if s["cameras"]:
        lines.append("cameras")
        for key, c in s["cameras"].items():
            if c["dtype"] == "video":
                enc = ", ".join(f"{k}={c[k]}" for k in ("g", "crf", "preset") if c.get(k) is not None)
                lines.append(f"  {key.ljust(width)}  video {c['codec']} {c['resolution']} {c['pix_fmt']} "
                             f"@ {c['fps']} fps" + (f" ({enc})" if enc else ""))
            else:
                lines.append(f"  {key.ljust(width)}  image {tuple(c['shape'])}")
    lines.append(f"tasks ({s['total_tasks']})")
    for i, task in enumerate(s["tasks"][:max_tasks]):
        lines.append(f"  {i}: {task}")
    if len(s["tasks"]) > max_tasks:
        lines.append(f"  ... {len(s['tasks']) - max_tasks} more (--json lists all)")
    return "\n".join(lines)


def _cmd_info(args: argparse.Namespace) -> int:
    summary = dataset_summary(resolve_dataset(args, download="meta/**"))
    print(json.dumps(summary, indent=2) if args.json else format_summary(summary, args.max_tasks))
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    report = validate_dataset(resolve_dataset(args), tolerance_s=args.tolerance_s, check_videos=args.check_videos)
    print(json.dumps(report.to_dict(), indent=2) if args.json else report.format())
    return 0 if report.ok else 1


def _cmd_push(args: argparse.Namespace) -> int:
    root = args.root or (Path(args.root_pos) if args.root_pos else None)
    if root is None:
        raise UsageError("push needs the dataset directory (ROOT or --root)")
    if not args.skip_validation:
        report = validate_dataset(root)
        if not report.ok:
            print(report.format(), file=sys.stderr)
            print("Refusing to push a dataset with problems (fix them, or pass --skip-validation).", file=sys.stderr)
            return 1
    commit = hub.push_dataset_to_hub(
        root, args.repo_id, private=args.private, tags=args.tags, license=args.license, branch=args.branch,
        push_videos=args.push_videos, upload_large_folder=args.upload_large_folder,
    )
    print(f"pushed {root} to {args.repo_id} (commit {commit}, tagged {hub.CODEBASE_VERSION})")
    return 0


def _cmd_pull(args: argparse.Namespace) -> int:
    repo_id = args.repo_id or args.repo_pos
    if repo_id is None:
        raise UsageError("pull needs a repo id (REPO_ID or --repo-id)")
    root = hub.download_dataset(repo_id, args.root, args.revision, allow_patterns=args.include)
    print(root)
    return 0


COMMANDS = {"info": _cmd_info, "validate": _cmd_validate, "push": _cmd_push, "pull": _cmd_pull}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("from-bag", "inspect-bag"):  # rosbag2 conversion: lerobot_core.recording
        from lerobot_core.recording.cli import main as bag_main

        return bag_main(argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except UsageError as e:
        parser.error(str(e))
    except (FileNotFoundError, RuntimeError, ValueError, OSError, HfHubHTTPError) as e:
        print(f"lerobot-core dataset {args.command}: error: {e}", file=sys.stderr)
        return 1
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
