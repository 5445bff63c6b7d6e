"""Small synthetic recordings shared by the dataset writer tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from lerobot_core.datasets import LeRobotDataset

H, W = 32, 48


def features(use_video: bool = True, cameras: tuple[str, ...] = ("front", "wrist")) -> dict[str, dict[str, Any]]:
    names = ["j0", "j1", "j2", "j3", "j4", "gripper"]
    out: dict[str, dict[str, Any]] = {
        "observation.state": {"dtype": "float32", "shape": (6,), "names": names},
        "action": {"dtype": "float32", "shape": (6,), "names": names},
    }
    for cam in cameras:
        out[f"observation.images.{cam}"] = {
            "dtype": "video" if use_video else "image",
            "shape": (H, W, 3),
            "names": ["height", "width", "channels"],
        }
    return out


def image(episode: int, i: int, cam: int = 0) -> np.ndarray:
    """A smooth frame with a moving square (compresses well, decodes close to the original)."""
    img = np.full((H, W, 3), 40 + 10 * cam, np.uint8)
    x = (2 * i + 5 * episode) % (W - 8)
    img[8:16, x : x + 8] = (200, 60 + 20 * episode, 60)
    return img


def frame(episode: int, i: int, cameras: tuple[str, ...] = ("front", "wrist"), task: str | None = None) -> dict:
    state = np.arange(6, dtype=np.float32) + episode * 100 + i
    out: dict[str, Any] = {"observation.state": state, "action": state + 0.5, "task": task or f"task {episode % 2}"}
    for c, cam in enumerate(cameras):
        out[f"observation.images.{cam}"] = image(episode, i, c)
    return out


def record(root: Path, episodes: int = 2, length: int = 12, **create_kwargs: Any) -> LeRobotDataset:
    ds = LeRobotDataset.create("test/synthetic", 30, features(create_kwargs.pop("use_video", True)), root=root,
                               robot_type="synthetic", **create_kwargs)
    for ep in range(episodes):
        for i in range(length):
            ds.add_frame(frame(ep, i))
        ds.save_episode()
    ds.finalize()
    return ds
