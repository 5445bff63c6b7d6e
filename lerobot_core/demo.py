"""`lerobot-core demo`: the embedded end-to-end demo (no hardware, no ROS).

Today: report the environment, then record a small synthetic LeRobot v3.0 dataset (two cameras, AV1
streaming encoding, a few episodes), read it back and print a summary. Later stages add the simulated
SO-101 recording, training and policy rollout.
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

import numpy as np

from lerobot_core.utils import env_info

CAMERAS = ("observation.images.front", "observation.images.wrist")
JOINTS = ["shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll", "gripper"]


def _frame(episode: int, i: int, camera: int, height: int, width: int) -> np.ndarray:
    """A table, a block sliding across it and a little sensor noise."""
    rng = np.random.default_rng(episode * 1000 + i * 10 + camera)
    img = np.empty((height, width, 3), np.uint8)
    img[: height // 2] = (150, 170, 190 - 30 * camera)
    img[height // 2 :] = (120, 90, 60)
    x = int((width - 24) * (0.5 + 0.5 * np.sin(i / 8.0 + episode)))
    img[height // 2 - 12 : height // 2 + 12, x : x + 24] = (210, 40 + 40 * episode, 40)
    return np.clip(img.astype(np.int16) + rng.integers(-3, 4, img.shape), 0, 255).astype(np.uint8)


def record_synthetic(root: Path, episodes: int, frames: int, height: int = 96, width: int = 128) -> dict:
    from lerobot_core.datasets import LeRobotDataset

    features = {
        "observation.state": {"dtype": "float32", "shape": (6,), "names": JOINTS},
        "action": {"dtype": "float32", "shape": (6,), "names": JOINTS},
    }
    for key in CAMERAS:
        features[key] = {"dtype": "video", "shape": (height, width, 3), "names": ["height", "width", "channels"]}
    dataset = LeRobotDataset.create("demo/synthetic", 30, features, root=root, robot_type="so101_follower")
    dropped = {k: 0 for k in CAMERAS}
    tasks = ["pick the red block", "place the block in the bin"]
    for ep in range(episodes):
        for i in range(frames):
            state = (np.sin(np.arange(6) + i / 10.0 + ep) * 30).astype(np.float32)
            frame = {"observation.state": state, "action": state + 1.0, "task": tasks[ep % 2]}
            for c, key in enumerate(CAMERAS):
                frame[key] = _frame(ep, i, c, height, width)
            dataset.add_frame(frame)
        summary = dataset.save_episode()
        for key, count in summary["dropped_frames"].items():
            dropped[key] += count
    dataset.finalize()
    return dropped


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lerobot-core demo", description=__doc__)
    parser.add_argument("--root", type=Path, default=Path("data/demo_synthetic"),
                        help="where the synthetic dataset is written (replaced if present)")
    parser.add_argument("--episodes", type=int, default=3)
    parser.add_argument("--frames", type=int, default=45, help="frames per episode (30 fps)")
    args = parser.parse_args(argv)
    report = env_info.collect()
    print(f"lerobot-core {report['lerobot_core']} on python {report['python']}, torch {report['packages']['torch']}")
    print("video encoders:", ", ".join(report["video_codecs"]["encoders"]))

    from lerobot_core.datasets import LeRobotDataset

    if args.root.exists():
        shutil.rmtree(args.root)
    start = time.perf_counter()
    dropped = record_synthetic(args.root, args.episodes, args.frames)
    recorded_s = time.perf_counter() - start
    dataset = LeRobotDataset("demo/synthetic", root=args.root, delta_timestamps={"action": [0.0, 1 / 30, 2 / 30]})
    meta = dataset.meta
    item = dataset[len(dataset) - 1]
    print(f"\nrecorded {meta.total_episodes} episodes / {meta.total_frames} frames in {recorded_s:.1f}s "
          f"-> {args.root} (LeRobot {meta.info['codebase_version']}, {meta.fps} fps)")
    print("encoder:", {k: v for k, v in meta.features[CAMERAS[0]]["info"].items() if k.startswith("video.")})
    print("dropped frames (streaming encoder):", dropped)
    print("tasks:", list(meta.tasks))
    print("features:")
    for key, feature in meta.features.items():
        print(f"  {key:28s} {feature['dtype']:8s} {tuple(feature['shape'])}")
    print("last sample (action with delta_timestamps [0, 1/30, 2/30]):")
    for key, value in item.items():
        desc = f"{tuple(value.shape)} {str(value.dtype).replace('torch.', '')}" if hasattr(value, "shape") else repr(value)
        print(f"  {key:28s} {desc}")
    print("stats (action mean):", np.round(meta.stats["action"]["mean"], 2).tolist())
    return 0
