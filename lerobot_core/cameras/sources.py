"""Camera sources: OpenCV devices, video files (PyAV, looping), a synthetic pattern, the MuJoCo scene."""

from __future__ import annotations

import time

import numpy as np

from lerobot_core.cameras.camera import Camera
from lerobot_core.cameras.configs import (
    CameraConfig,
    MujocoCameraConfig,
    OpenCVCameraConfig,
    PatternCameraConfig,
    VideoFileCameraConfig,
)


class _Paced(Camera):
    """Sleeps so that frames come at ``fps`` (sources that could otherwise deliver as fast as read)."""

    _next_t = 0.0

    def _pace(self) -> None:
        if not self.fps:
            return
        now = time.monotonic()
        if self._next_t > now:
            time.sleep(self._next_t - now)
            now = self._next_t
        self._next_t = max(now, self._next_t) + 1.0 / self.fps


def _resize(image: np.ndarray, width: int | None, height: int | None) -> np.ndarray:
    if (width is None or image.shape[1] == width) and (height is None or image.shape[0] == height):
        return image
    import cv2

    return cv2.resize(image, (width or image.shape[1], height or image.shape[0]), interpolation=cv2.INTER_AREA)


class OpenCVCamera(_Paced):
    """``cv2.VideoCapture`` on a device index or a path; checks the size the device actually delivers."""

    config: OpenCVCameraConfig

    def _open(self) -> None:
        import cv2

        source = self.config.index_or_path
        if isinstance(source, str) and source.isdigit():
            source = int(source)
        self._cap = cv2.VideoCapture(source)
        if not self._cap.isOpened():
            raise ConnectionError(
                f"camera {self.name!r}: OpenCV could not open {source!r}; list devices with "
                "`v4l2-ctl --list-devices` (or ls /dev/video*) and check permissions (video group)"
            )
        if self.config.fourcc:
            if len(self.config.fourcc) != 4:
                raise ValueError(f"camera {self.name!r}: fourcc must be 4 characters (e.g. 'MJPG'), got {self.config.fourcc!r}")
            self._cap.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter_fourcc(*self.config.fourcc))
        if self.width:
            self._cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.width)
        if self.height:
            self._cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.height)
        if self.fps and isinstance(source, int):
            self._cap.set(cv2.CAP_PROP_FPS, self.fps)
        ok, frame = self._cap.read()
        if not ok or frame is None:
            self._cap.release()
            raise ConnectionError(f"camera {self.name!r}: {source!r} opened but returned no frame")
        h, w = frame.shape[:2]
        if isinstance(source, int) and ((self.width and w != self.width) or (self.height and h != self.height)):
            self._cap.release()
            raise ConnectionError(
                f"camera {self.name!r}: requested {self.width}x{self.height}, the device delivers {w}x{h}; "
                "use a size the camera supports (v4l2-ctl --list-formats-ext)"
            )
        self.width, self.height = self.width or w, self.height or h
        self.fps = self.fps or (self._cap.get(cv2.CAP_PROP_FPS) or None)
        self._is_file = not isinstance(source, int)
        deadline = time.monotonic() + self.config.warmup_s
        while time.monotonic() < deadline:
            self._cap.read()

    def _grab(self) -> np.ndarray | None:
        import cv2

        if self._is_file:
            self._pace()
        ok, frame = self._cap.read()
        if not ok:
            if self._is_file:  # end of a file: start over
                self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
                ok, frame = self._cap.read()
            if not ok:
                raise OSError("read failed")
        return _resize(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB), self.width, self.height)

    def _close(self) -> None:
        self._cap.release()


class VideoFileCamera(_Paced):
    """Decodes a video file with PyAV and plays it at ``fps`` (the file's rate by default), looping."""

    config: VideoFileCameraConfig

    def _open(self) -> None:
        import av

        try:
            self._container = av.open(self.config.path)
        except (OSError, av.FFmpegError) as e:
            raise ConnectionError(f"camera {self.name!r}: cannot open video {self.config.path!r}: {e}") from e
        stream = self._container.streams.video[0]
        self.fps = self.fps or float(stream.average_rate or 30)
        self._frames = self._container.decode(stream)

    def _grab(self) -> np.ndarray | None:
        self._pace()
        try:
            frame = next(self._frames)
        except StopIteration:
            if not self.config.loop:
                self._stop.set()
                return None
            self._container.seek(0)
            self._frames = self._container.decode(self._container.streams.video[0])
            frame = next(self._frames)
        return _resize(frame.to_ndarray(format="rgb24"), self.width, self.height)

    def _close(self) -> None:
        self._container.close()


class PatternCamera(_Paced):
    """Moving colour bars (or a checkerboard / seeded noise) with the frame index encoded in the top band."""

    config: PatternCameraConfig
    BARS = np.array([[255, 255, 255], [255, 255, 0], [0, 255, 255], [0, 255, 0], [255, 0, 255], [255, 0, 0],
                     [0, 0, 255], [0, 0, 0]], dtype=np.uint8)  # fmt: skip

    def _open(self) -> None:
        if self.config.pattern not in ("bars", "checker", "noise"):
            raise ValueError(f"camera {self.name!r}: pattern must be bars, checker or noise, got {self.config.pattern!r}")
        self.width, self.height, self.fps = self.width or 640, self.height or 480, self.fps or 30
        self._rng = np.random.default_rng(self.config.seed)
        self._n = 0

    def pattern_frame(self, n: int) -> np.ndarray:
        h, w = self.height, self.width
        if self.config.pattern == "noise":
            img = self._rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        elif self.config.pattern == "checker":
            yy, xx = np.mgrid[0:h, 0:w]
            img = ((((xx + n * 4) // 32 + yy // 32) % 2) * 255).astype(np.uint8)[..., None].repeat(3, axis=2)
        else:
            cols = ((np.arange(w) + n * 4) * len(self.BARS) // w) % len(self.BARS)
            img = np.broadcast_to(self.BARS[cols][None], (h, w, 3)).copy()
        band = max(1, h // 16)
        bits = (n >> np.arange(16)) & 1  # frame index, 16 bits, as black/white blocks
        img[:band] = np.repeat((bits * 255).astype(np.uint8), -(-w // 16))[:w][None, :, None]
        return img

    def _grab(self) -> np.ndarray:
        self._pace()
        img = self.pattern_frame(self._n)
        self._n += 1
        return img


class MujocoCamera(Camera):
    """Renders a camera of an :class:`~lerobot_core.sim.env.SO101Sim` on read (GL contexts are per thread)."""

    config: MujocoCameraConfig

    def __init__(self, config: MujocoCameraConfig, sim, name: str | None = None) -> None:
        super().__init__(config, name or config.camera_name)
        self.sim = sim

    def _open(self) -> None:
        self.height, self.width = self.height or 480, self.width or 640
        self.fps = self.fps or self.sim.config.fps

    def connect(self, start_thread: bool = False) -> None:
        super().connect(start_thread=False)

    def _grab(self) -> np.ndarray:
        return self.sim.render(self.config.camera_name, self.height, self.width)

    def async_read_frame(self, timeout_ms: float = 200.0):
        self.read()
        return self._latest


def make_camera(config: CameraConfig, name: str | None = None, sim=None) -> Camera:
    """The camera for ``config`` (``sim`` is needed for ``mujoco`` cameras)."""
    if isinstance(config, OpenCVCameraConfig):
        return OpenCVCamera(config, name)
    if isinstance(config, VideoFileCameraConfig):
        return VideoFileCamera(config, name)
    if isinstance(config, PatternCameraConfig):
        return PatternCamera(config, name)
    if isinstance(config, MujocoCameraConfig):
        if sim is None:
            raise ValueError(f"camera {name!r}: a mujoco camera needs the simulation (make_camera(..., sim=sim))")
        return MujocoCamera(config, sim, name)
    raise TypeError(f"no camera for config type {type(config).__name__}")
