"""`lerobot-ros demo`: the whole path in simulation, headless and with no ROS — record, train, run the policy.

1. record: the simulated SO-101 with scripted teleop and the recorder write a LeRobot v3.0 dataset
   (``lerobot-ros record-demo``); skipped when ``--root`` already holds one (nothing is overwritten);
2. train: ``lerobot-core train --policy.type=act`` on it for ``--steps`` steps (a smoke run on CPU: raise
   ``--steps`` for a useful policy); skipped when ``--output-dir`` already holds a checkpoint;
3. run: ``so101_sim_policy.launch.yaml`` with that checkpoint drives the simulated arm for ``--run-seconds``;
   the policy's commands on ``/joint_trajectory`` and the arm's ``/joint_states`` are counted.

Prints one JSON summary and the commands to go further. Exit code 0 when every stage worked.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from lerobot_ros.nodes.record_demo import DEFAULT_ROUTER, run_record_demo
from lerobot_ros.nodes.sim_demo import watch_launch

POLICY_TOPICS = {
    "/joint_trajectory": "trajectory_msgs/msg/JointTrajectory",
    "/joint_states": "sensor_msgs/msg/JointState",
    "/front/image_raw": "sensor_msgs/msg/Image",
}


def _has_dataset(root: Path) -> bool:
    return (root / "meta" / "info.json").is_file()


def record(root: Path, episodes: int, episode_time_s: float, router: str, echo: bool) -> dict[str, Any]:
    if _has_dataset(root):
        info = json.loads((root / "meta" / "info.json").read_text())
        return {"skipped": f"{root} already holds a dataset", "episodes": info["total_episodes"],
                "frames": info["total_frames"]}  # fmt: skip
    summary = run_record_demo(root, episodes=episodes, episode_time_s=episode_time_s, router=router, echo=echo)
    if summary.get("episodes") != episodes or summary["timed_out"]:
        raise RuntimeError(f"recording failed: {json.dumps(summary)}")
    return {k: summary[k] for k in ("episodes", "frames", "fps", "dropped_ticks") if k in summary}


def train(root: Path, output_dir: Path, steps: int, batch_size: int, echo: bool) -> dict[str, Any]:
    model = output_dir / "checkpoints" / "last" / "pretrained_model"
    if (model / "model.safetensors").is_file():
        return {"skipped": f"{output_dir} already holds a checkpoint", "checkpoint": str(model)}
    cmd = [sys.executable, "-m", "lerobot_core", "train", f"--dataset.root={root}",
           f"--dataset.repo_id=local/{root.name}", "--policy.type=act",
           "--policy.pretrained_backbone_weights=null",  # no download: works offline (drop it to start from ImageNet)
           f"--steps={steps}", f"--batch_size={batch_size}", f"--save_freq={steps}", f"--log_freq={max(1, steps // 4)}",
           "--num_workers=0", f"--output_dir={output_dir}"]  # fmt: skip
    start = time.monotonic()
    proc = subprocess.run(cmd, stdout=None if echo else subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if proc.returncode != 0 or not (model / "model.safetensors").is_file():
        raise RuntimeError(f"training failed (exit {proc.returncode}): {(proc.stdout or '')[-2000:]}")
    return {"steps": steps, "batch_size": batch_size, "seconds": round(time.monotonic() - start, 1),
            "checkpoint": str(model)}  # fmt: skip


def run_policy(model: Path, seconds: float, router: str, echo: bool) -> dict[str, Any]:
    args = ["lerobot_ros", "so101_sim_policy.launch.yaml", f"policy_path:={model}", "camera_width:=320",
            "camera_height:=240"]  # fmt: skip
    summary = watch_launch(args, POLICY_TOPICS, seconds, router, startup_timeout_s=120.0, echo=echo,
                           start_topic="/joint_trajectory")  # fmt: skip
    commands = summary["topics"]["/joint_trajectory"]
    if not commands["messages"] or summary["launch_exit_code"] != 0:
        raise RuntimeError(f"the policy did not drive the arm: {json.dumps(summary)}")
    return {"command_rate_hz": commands["rate_hz"], "commands": commands["messages"],
            "joint_state_rate_hz": summary["topics"]["/joint_states"]["rate_hz"], "task": summary["task"],
            "episodes_succeeded": summary["episodes_succeeded"], "launch": summary["launch"]}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lerobot-ros demo", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)  # fmt: skip
    parser.add_argument("--root", type=Path, default=Path("data/so101_sim_demo"), help="dataset directory")
    parser.add_argument("--output-dir", type=Path, default=Path("outputs/so101_sim_demo_act"), help="training output")
    parser.add_argument("--episodes", type=int, default=2, help="episodes to record (default 2)")
    parser.add_argument("--episode-time-s", type=float, default=8.0, help="episode length (default 8 s)")
    parser.add_argument("--steps", type=int, default=10, help="training steps (default 10: a smoke run)")
    parser.add_argument("--batch-size", type=int, default=4, help="training batch size (default 4)")
    parser.add_argument("--run-seconds", type=float, default=10.0, help="how long the policy drives the arm")
    parser.add_argument("--router", default=os.environ.get("LEROBOT_ROS_ROUTER", DEFAULT_ROUTER),
                        help=f"Zenoh router endpoint (started by the launches unless one answers; default {DEFAULT_ROUTER})")
    parser.add_argument("--verbose", action="store_true", help="show the nodes' and the trainer's output")
    opts = parser.parse_args(argv)
    root, output_dir = opts.root.resolve(), opts.output_dir.resolve()
    summary: dict[str, Any] = {}
    try:
        print(f"[demo] 1/3 record: simulated SO-101 + scripted teleop + recorder -> {root}", flush=True)
        summary["record"] = record(root, opts.episodes, opts.episode_time_s, opts.router, opts.verbose)
        print(f"[demo] 2/3 train: ACT for {opts.steps} steps -> {output_dir}", flush=True)
        summary["train"] = train(root, output_dir, opts.steps, opts.batch_size, opts.verbose)
        print(f"[demo] 3/3 run: the trained policy drives the simulated arm for {opts.run_seconds:g} s", flush=True)
        summary["run"] = run_policy(Path(summary["train"]["checkpoint"]), opts.run_seconds, opts.router, opts.verbose)
    except RuntimeError as e:
        print(json.dumps(summary, indent=2))
        print(f"\nlerobot-ros demo failed: {e}", file=sys.stderr)
        return 1
    print(json.dumps(summary, indent=2))
    model = summary["train"]["checkpoint"]
    print(f"""
Done: recorded {root}, trained {model}, and the policy drove the simulated arm.
  inspect the data:   lerobot-core dataset info {root}
  train for real:     lerobot-core train --dataset.root={root} --dataset.repo_id=local/{root.name} --policy.type=act --steps=20000 --output_dir=outputs/my_act
  evaluate offline:   lerobot-core eval-offline --policy.path={model} --dataset.root={root}
  run it yourself:    lerobot-ros launch lerobot_ros so101_sim_policy.launch.yaml policy_path:={model}
  with ROS 2 + rviz:  ros2 launch lerobot_ros so101_sim_policy.launch.yaml policy_path:={model} use_ros:=true rviz:=true""")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
