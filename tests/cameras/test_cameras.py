"""Cameras: latest-frame async reading, timestamps, timeouts, OpenCV on a file, looping video, MuJoCo."""

from __future__ import annotations

import itertools
import threading
import time
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from lerobot_core.cameras import (
    Camera,
    CameraConfig,
    MujocoCameraConfig,
    OpenCVCameraConfig,
    PatternCameraConfig,
    VideoFileCameraConfig,
    make_camera,
)
from lerobot_core.sim.env import SimCameraConfig, SO101Sim, SO101SimConfig


def _write_video(path: Path, n: int = 8, size: tuple[int, int] = (48, 64)) -> list[np.ndarray]:
    frames = [np.full((*size, 3), 20 * i, dtype=np.uint8) for i in range(n)]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=30)
        stream.height, stream.width = size
        stream.pix_fmt = "yuv420p"
        for f in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(f, format="rgb24")))
        container.mux(stream.encode(None))
    return frames


def test_pattern_camera_async_read_returns_new_frames_with_timestamps() -> None:
    cam = make_camera(PatternCameraConfig(fps=200, width=64, height=48), "front")
    before = time.time()
    with cam:
        f1 = cam.async_read_frame(timeout_ms=1000)
        f2 = cam.async_read_frame(timeout_ms=1000)
        assert f1.image.shape == (48, 64, 3) and f1.image.dtype == np.uint8
        assert f2.index > f1.index and f2.timestamp >= f1.timestamp >= before
        assert not np.array_equal(f1.image, f2.image)  # the pattern moves
        latest = cam.read_latest()
        assert latest is not None and latest.index >= f2.index
    assert not cam.is_connected


class _StalledCamera(Camera):
    """A device that delivers one frame, then hangs until released."""

    def __init__(self) -> None:
        super().__init__(CameraConfig(), "stalled")
        self.release = threading.Event()
        self.sent = 0

    def _open(self) -> None:
        pass

    def _grab(self):
        if self.sent:
            self.release.wait(1.0)
            if not self.release.is_set():
                return None
        self.sent += 1
        return np.zeros((4, 4, 3), np.uint8)


def test_read_latest_never_waits_and_async_read_times_out_clearly() -> None:
    cam = _StalledCamera()
    cam.connect()
    try:
        first = cam.async_read_frame(timeout_ms=1000)
        assert first.index == 0
        # The device hangs: the latest frame is still served at once, a new one times out.
        assert cam.read_latest() is first
        with pytest.raises(TimeoutError, match=r"camera 'stalled' .* no new frame within 50 ms"):
            cam.async_read(timeout_ms=50)
    finally:
        cam.release.set()
        cam.disconnect()


def test_unread_frames_are_counted_as_dropped() -> None:
    cam = make_camera(PatternCameraConfig(fps=500, width=16, height=16), "p")
    with cam:
        first = cam.async_read_frame(timeout_ms=1000)
        deadline = time.monotonic() + 5.0
        while cam.frame_count < first.index + 4 and time.monotonic() < deadline:
            time.sleep(0.005)  # let frames pile up unread
        cam.async_read(timeout_ms=1000)
    assert cam.dropped >= 2


def test_video_file_camera_loops(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    _write_video(path, n=6)
    cam = make_camera(VideoFileCameraConfig(path=str(path), fps=60), "clip")
    with cam:
        means = [float(cam.async_read(timeout_ms=1000).mean()) for _ in range(14)]
    # Brightness ramps up over the six frames, then starts again: at least one wrap-around.
    assert any(b < a - 40 for a, b in itertools.pairwise(means))
    assert len(means) > 6
    with pytest.raises(ConnectionError, match="cannot open video"):
        make_camera(VideoFileCameraConfig(path=str(tmp_path / "missing.mp4"))).connect()


def test_opencv_camera_on_a_path_with_resize_and_errors(tmp_path: Path) -> None:
    path = tmp_path / "cam.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30, (64, 48))
    for i in range(5):
        writer.write(np.full((48, 64, 3), (0, 0, 40 * i), dtype=np.uint8))  # BGR: red ramp
    writer.release()
    cam = make_camera(OpenCVCameraConfig(index_or_path=str(path), width=32, height=24, fps=200), "file")
    with cam:
        frame = cam.async_read(timeout_ms=1000)
    assert frame.shape == (24, 32, 3)
    assert frame[..., 0].mean() >= frame[..., 2].mean()  # delivered as RGB
    with pytest.raises(ConnectionError, match="could not open"):
        make_camera(OpenCVCameraConfig(index_or_path=str(tmp_path / "nope.avi"))).connect()
    with pytest.raises(ValueError, match="fourcc must be 4 characters"):
        make_camera(OpenCVCameraConfig(index_or_path=str(path), fourcc="MJPEG")).connect()


def test_mujoco_camera_renders_the_sim() -> None:
    sim = SO101Sim(SO101SimConfig(cameras=[SimCameraConfig("front", 48, 64)]))
    try:
        cam = make_camera(MujocoCameraConfig(camera_name="wrist", width=64, height=48), sim=sim)
        with cam:
            frame = cam.async_read_frame()
        assert frame.image.shape == (48, 64, 3) and frame.image.std() > 5
        with pytest.raises(ValueError, match="needs the simulation"):
            make_camera(MujocoCameraConfig())
    finally:
        sim.close()
