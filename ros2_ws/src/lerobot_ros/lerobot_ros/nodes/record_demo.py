"""`lerobot-ros record-demo`: record a small dataset from the simulated SO-101 with scripted teleop, headless.

Runs ``lerobot-ros launch lerobot_ros so101_sim_record.launch.yaml`` (sim + robot_description + recorder in
automatic mode), waits until the recorder has saved ``--episodes`` episodes and exited, stops the launch, checks
the dataset and prints how to inspect it and train on it::

    lerobot-ros record-demo                                   # 2 episodes of 8 s into ./data/so101_sim_demo
    lerobot-ros record-demo --episodes 5 --episode-time-s 10 --root data/my_sim --resume

Exit code 0 when the dataset holds the requested episodes.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from lerobot_ros.nodes.sim_demo import DEFAULT_ROUTER, start_launch, stop_launch

__all__ = ["DEFAULT_ROUTER", "main", "run_record_demo"]


def run_record_demo(root: Path, episodes: int = 2, episode_time_s: float = 8.0, reset_time_s: float = 1.0,
                    width: int = 320, height: int = 240, repo_id: str = "local/so101_sim_demo", resume: bool = False,
                    router: str = DEFAULT_ROUTER, timeout_s: float | None = None, echo: bool = True) -> dict[str, Any]:  # fmt: skip
    """Run the record launch until the recorder exits; returns a summary of the dataset."""
    args = ["lerobot_ros", "so101_sim_record.launch.yaml", f"num_episodes:={episodes}",
            f"episode_time_s:={episode_time_s}", f"reset_time_s:={reset_time_s}", f"root:={root}",
            f"repo_id:={repo_id}", f"resume:={str(resume).lower()}", f"camera_width:={width}",
            f"camera_height:={height}"]  # fmt: skip
    recorder_exit: dict[str, str] = {}

    def on_line(line: str) -> None:
        if "[recorder]: process has" in line:
            recorder_exit["line"] = line

    proc, output = start_launch(args, router, echo, on_line)
    limit = timeout_s or 120.0 + episodes * (episode_time_s + reset_time_s + 30.0)
    deadline = time.monotonic() + limit
    while "line" not in recorder_exit and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    code = stop_launch(proc, timeout_s=60)
    summary: dict[str, Any] = {"root": str(root), "launch": " ".join(["lerobot-ros", "launch", *args, "--router", router]),
                               "recorder": recorder_exit.get("line", "did not exit"), "launch_exit_code": code,
                               "timed_out": "line" not in recorder_exit}  # fmt: skip
    info_path = Path(root) / "meta" / "info.json"
    if info_path.exists():
        info = json.loads(info_path.read_text())
        summary.update(episodes=info["total_episodes"], frames=info["total_frames"], fps=info["fps"])
        report = Path(root) / "meta" / "recording_report.json"
        if report.exists():
            reports = json.loads(report.read_text())["episodes"]
            summary["dropped_ticks"] = sum(r["dropped_ticks"] for r in reports)
    else:
        summary["tail"] = output[-20:]
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lerobot-ros record-demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--episodes", type=int, default=2, help="episodes to record (default 2)")
    parser.add_argument("--episode-time-s", type=float, default=8.0, help="episode length in seconds (default 8)")
    parser.add_argument("--reset-time-s", type=float, default=1.0, help="pause between episodes (default 1)")
    parser.add_argument("--root", type=Path, default=Path("data/so101_sim_demo"), help="dataset directory")
    parser.add_argument("--repo-id", default="local/so101_sim_demo", help="dataset repo id")
    parser.add_argument("--resume", action="store_true", help="append to an existing dataset at --root")
    parser.add_argument("--width", type=int, default=320, help="camera width (default 320)")
    parser.add_argument("--height", type=int, default=240, help="camera height (default 240)")
    parser.add_argument("--router", default=os.environ.get("LEROBOT_ROS_ROUTER", DEFAULT_ROUTER),
                        help=f"Zenoh router endpoint (started by the launch unless one answers; default {DEFAULT_ROUTER})")
    parser.add_argument("--quiet", action="store_true", help="do not show the nodes' output")
    opts = parser.parse_args(argv)
    root = opts.root.resolve()
    if (root / "meta" / "info.json").exists() and not opts.resume:
        print(f"lerobot-ros record-demo: {root} already holds a dataset: pass --resume to append, or another --root",
              file=sys.stderr)  # fmt: skip
        return 2
    expected = opts.episodes + (json.loads((root / "meta" / "info.json").read_text())["total_episodes"]
                                if opts.resume and (root / "meta" / "info.json").exists() else 0)  # fmt: skip
    summary = run_record_demo(root, opts.episodes, opts.episode_time_s, opts.reset_time_s, opts.width, opts.height,
                              opts.repo_id, opts.resume, opts.router, echo=not opts.quiet)  # fmt: skip
    print(json.dumps(summary, indent=2))
    ok = summary.get("episodes") == expected and not summary["timed_out"]
    if ok:
        print(f"\nDataset ready: {root}\n"
              f"  inspect:  lerobot-core dataset info {root}\n"
              f"  validate: lerobot-core dataset validate {root}\n"
              f"  train:    lerobot-core train --dataset.repo_id={opts.repo_id} --dataset.root={root} --policy.type=act")
    else:
        print(f"\nrecord-demo failed: expected {expected} episode(s) in {root}", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
