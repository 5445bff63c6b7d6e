"""Dataset I/O benchmark: recording (streaming and batch AV1 encoding) and reading (random, sequential).

Workload: 2 cameras 480x640 RGB (synthetic tabletop: textured table, a moving block, mild noise),
6-D float32 state/action, 30 fps, 3 episodes x 150 frames, default encoder (libsvtav1, g=2, crf=30,
preset 12). Prints one JSON object. Camera frames are pre-rendered (a looped
one-second clip). Recording is fed as fast as the encoders sustain without dropping
a frame (the producer waits while a camera queue is nearly full), which is the lossless recording rate.

    python benchmarks/dataset_io.py [--episodes 3] [--frames 150] [--root DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import tempfile
import time
from pathlib import Path

import av
import numpy as np

from lerobot_core.datasets import LeRobotDataset

HEIGHT, WIDTH, FPS = 480, 640, 30
CAMERAS = ("observation.images.front", "observation.images.wrist")


class TabletopScene:
    """Cheap, video-like frames: a static textured table, a block sliding across it, sensor noise."""

    def __init__(self, seed: int, camera: int):
        rng = np.random.default_rng(seed)
        yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
        base = np.empty((HEIGHT, WIDTH, 3), np.float32)
        base[..., 0] = 120 + 40 * np.sin(xx / 37.0) + 20 * camera
        base[..., 1] = 100 + 30 * np.cos(yy / 23.0)
        base[..., 2] = 80 + 0.05 * yy
        base[HEIGHT // 2 :, :, :] *= 0.8  # table edge
        self.base = np.clip(base, 0, 255).astype(np.uint8)
        self.noise = [rng.integers(0, 6, (HEIGHT, WIDTH, 3), dtype=np.uint8) for _ in range(8)]
        self.camera = camera

    def frame(self, episode: int, i: int) -> np.ndarray:
        img = self.base + self.noise[i % len(self.noise)]
        x = int(40 + (WIDTH - 160) * (0.5 + 0.5 * np.sin(i / 25.0 + episode)))
        y = int(HEIGHT // 2 + 40 * np.cos(i / 30.0) + 30 * self.camera)
        img[y : y + 60, x : x + 80] = (200, 40 + 30 * episode, 40)
        return img


def features() -> dict:
    names = ["shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll", "gripper"]
    feats = {
        "observation.state": {"dtype": "float32", "shape": (6,), "names": names},
        "action": {"dtype": "float32", "shape": (6,), "names": names},
    }
    for key in CAMERAS:
        feats[key] = {"dtype": "video", "shape": (HEIGHT, WIDTH, 3), "names": ["height", "width", "channels"]}
    return feats


class FrameCycle:
    """Pre-rendered frames (one second of motion, looped) so the timing measures recording, not rendering."""

    def __init__(self, scene: TabletopScene, length: int = 30):
        self.frames = [scene.frame(0, i) for i in range(length)]

    def frame(self, episode: int, i: int) -> np.ndarray:
        return self.frames[(i + 7 * episode) % len(self.frames)]


def record(root: Path, streaming: bool, episodes: int, frames: int, scenes: list[FrameCycle]) -> dict:
    ds = LeRobotDataset.create("bench/dataset_io", FPS, features(), root=root, streaming_encoding=streaming)
    margin = max(2, ds.writer.streaming_encoder.queue_maxsize - 4) if streaming else None
    cpu = time.process_time()
    start = time.perf_counter()
    for ep in range(episodes):
        for i in range(frames):
            if margin is not None:
                while ds.encoder_backlog() >= margin:
                    time.sleep(0.001)
            state = np.full(6, np.sin(i / 10.0), np.float32)
            frame = {"observation.state": state, "action": state + 0.1, "task": "pick the block"}
            for c, key in enumerate(CAMERAS):
                frame[key] = scenes[c].frame(ep, i)
            ds.add_frame(frame)
        ds.save_episode()
    elapsed = time.perf_counter() - start
    cpu = time.process_time() - cpu
    dropped = ds.dropped_frames
    ds.finalize()
    return {"frames_per_s": round(episodes * frames / elapsed, 1), "seconds": round(elapsed, 2),
            "cpu_seconds": round(cpu, 2), "dropped_frames": dropped}


def raw_encoder_fps(scene: TabletopScene, n: int = 150) -> float:
    """Plain PyAV libsvtav1 with the same settings, one camera, frames pre-generated."""
    frames = [scene.frame(0, i) for i in range(n)]
    with tempfile.TemporaryDirectory() as tmp, av.open(f"{tmp}/raw.mp4", "w") as out:
        stream = out.add_stream("libsvtav1", rate=FPS, options={"g": "2", "crf": "30", "preset": "12"})
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        start = time.perf_counter()
        for f in frames:
            for p in stream.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                out.mux(p)
        for p in stream.encode(None):
            out.mux(p)
        return n / (time.perf_counter() - start)


def read(root: Path, samples: int) -> dict:
    ds = LeRobotDataset("bench/dataset_io", root=root)
    n = len(ds)
    ds[0]  # open files once
    order = list(range(n)) * (samples // n + 1)
    random.Random(0).shuffle(order)
    order = order[:samples]
    cpu = time.process_time()
    start = time.perf_counter()
    for i in order:
        item = ds[i]
    random_rate = samples / (time.perf_counter() - start)
    random_cpu_ms = (time.process_time() - cpu) / samples * 1000
    ds2 = LeRobotDataset("bench/dataset_io", root=root)
    start = time.perf_counter()
    for i in range(n):
        item = ds2[i]
    sequential_rate = n / (time.perf_counter() - start)
    assert item[CAMERAS[0]].shape == (3, HEIGHT, WIDTH)
    return {"random_access_samples_per_s": round(random_rate, 1),
            "random_access_cpu_ms_per_sample": round(random_cpu_ms, 2),
            "sequential_samples_per_s": round(sequential_rate, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--episodes", type=int, default=3)
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--samples", type=int, default=450)
    parser.add_argument("--root", type=Path, default=None, help="work folder (default: a temporary one)")
    args = parser.parse_args()
    work = args.root or Path(tempfile.mkdtemp(prefix="dataset_io_"))
    scenes = [FrameCycle(TabletopScene(0, c)) for c in range(len(CAMERAS))]
    load_before = os.getloadavg()[0]
    try:
        streaming = record(work / "streaming", True, args.episodes, args.frames, scenes)
        batch = record(work / "batch", False, args.episodes, args.frames, scenes)
        reading = read(work / "streaming", args.samples)
        raw = raw_encoder_fps(TabletopScene(0, 0))
    finally:
        if args.root is None:
            shutil.rmtree(work, ignore_errors=True)
    result = {
        "workload": {"cameras": len(CAMERAS), "height": HEIGHT, "width": WIDTH, "fps": FPS,
                     "episodes": args.episodes, "frames_per_episode": args.frames, "codec": "libsvtav1 g=2 crf=30 preset=12"},
        "record_streaming_frames_per_s": streaming["frames_per_s"],
        "record_streaming_cpu_s": streaming["cpu_seconds"],
        "record_batch_frames_per_s": batch["frames_per_s"],
        "record_batch_cpu_s": batch["cpu_seconds"],
        "streaming_dropped_frames": streaming["dropped_frames"],
        **reading,
        "raw_pyav_encoder_frames_per_s_one_camera": round(raw, 1),
        "encoder_limit_timesteps_per_s_two_cameras": round(raw / len(CAMERAS), 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "load_average_1m": {"before": round(load_before, 2), "after": round(os.getloadavg()[0], 2),
                            "cpu_count": os.cpu_count()},
        "upstream_reference_0_4_4": {"record_streaming_frames_per_s": 68, "record_batch_frames_per_s": 24,
                                     "random_access_samples_per_s": 244},
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
