"""``lerobot-core dataset from-bag | inspect-bag``: rosbag2 (sqlite3, MCAP) → LeRobot v3.0 dataset."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

__all__ = ["main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lerobot-core dataset", description="rosbag2 (sqlite3 or MCAP) to LeRobot v3.0.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="{from-bag,inspect-bag}")
    p = sub.add_parser("from-bag", help="convert rosbag2 bags (one or more episodes each) into a dataset")
    p.add_argument("bags", nargs="+", type=Path, help="rosbag2 directories (sqlite3 or MCAP) or .mcap files")
    p.add_argument("--mapping", type=Path, required=True, help="mapping YAML (see docs/recording.md, or inspect-bag)")
    p.add_argument("--root", type=Path, help="dataset directory (default: the mapping's dataset.root)")
    p.add_argument("--repo-id", "--repo_id", dest="repo_id", help="dataset repo id (default: the mapping's)")
    p.add_argument("--resume", action="store_true", help="append to the dataset at --root")
    p.add_argument("--push", action="store_true", help="push the dataset to the Hub when done")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the summary and per-episode reports as JSON")
    p = sub.add_parser("inspect-bag", help="topics, types, counts and rates; writes a starter mapping")
    p.add_argument("bag", type=Path, help="rosbag2 directory or .mcap file")
    p.add_argument("--mapping-out", type=Path, default=Path("mapping.yaml"), help="starter mapping (default mapping.yaml)")
    p.add_argument("--force", action="store_true", help="overwrite --mapping-out if it exists")
    p.add_argument("--json", action="store_true", help="print the inspection as JSON")
    return parser


def main(argv: list[str] | None = None) -> int:
    from lerobot_core.recording import bag
    from lerobot_core.recording.mapping import RecordingConfig

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "inspect-bag":
            info = bag.inspect_bag(args.bag)
            print(bag.to_json(info) if args.json else bag.format_inspection(info))
            if args.mapping_out.exists() and not args.force:
                print(f"\n{args.mapping_out} exists: not overwritten (--force)", file=sys.stderr)
            else:
                bag.write_starter_mapping(args.bag, args.mapping_out)
                print(f"\nstarter mapping written to {args.mapping_out}; review it, then:\n"
                      f"  lerobot-core dataset from-bag {args.bag} --mapping {args.mapping_out} --root data/<name>",
                      file=sys.stderr)  # fmt: skip
            return 0
        config = RecordingConfig.from_yaml(args.mapping)
        if args.repo_id:
            config.dataset.repo_id = args.repo_id
        if args.resume:
            config.dataset.resume = True
        if args.push:
            config.dataset.push_to_hub = True
        summary = bag.convert_bags(args.bags, config, root=args.root, progress=not args.no_progress,
                                   log=lambda m: print(m, file=sys.stderr))  # fmt: skip
        if args.json:
            print(json.dumps(summary, indent=2))
        else:
            print(f"{summary['episodes']} episode(s), {summary['frames']} frames -> {summary['root']}\n"
                  f"inspect: lerobot-core dataset info {summary['root']}")  # fmt: skip
        return 0
    except (FileNotFoundError, FileExistsError, ValueError, RuntimeError, OSError) as e:
        print(f"lerobot-core dataset {args.command}: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
