"""Camera base class: a capture thread keeps the latest frame; readers never wait on the device.

* :meth:`Camera.read_latest` — the newest frame and its capture time, immediately (never blocks);
* :meth:`Camera.async_read` — a frame newer than the last one returned, waiting at most ``timeout_ms``
  (upstream LeRobot's name and semantics); a timeout raises ``TimeoutError`` naming the camera;
* :meth:`Camera.read` — synchronous capture, for sources without a thread.

Frames are ``HxWx3`` uint8 RGB numpy arrays. Capture timestamps are ``time.time()`` (wall clock, what a
ROS header stamp needs) taken as the frame arrived.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

import numpy as np

from lerobot_core.cameras.configs import CameraConfig

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Frame:
    image: np.ndarray
    timestamp: float  # time.time() at capture
    index: int  # capture counter, starts at 0


class Camera:
    """Subclasses implement ``_open``, ``_grab`` (one frame, blocking up to a frame period) and ``_close``."""

    def __init__(self, config: CameraConfig, name: str | None = None) -> None:
        self.config = config
        self.name = name or config.type
        self.fps = config.fps
        self.width = config.width
        self.height = config.height
        self.dropped = 0  # frames replaced before anyone read them
        self.errors = 0
        self._latest: Frame | None = None
        self._returned_index = -1
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._connected = False
        self._count = 0

    # --- to implement ----------------------------------------------------------------------------------------
    def _open(self) -> None:
        raise NotImplementedError

    def _grab(self) -> np.ndarray | None:
        raise NotImplementedError

    def _close(self) -> None:
        pass

    # --- life cycle ------------------------------------------------------------------------------------------
    @property
    def is_connected(self) -> bool:
        return self._connected

    def connect(self, start_thread: bool = True) -> None:
        if self._connected:
            raise RuntimeError(f"camera {self.name!r} is already connected")
        self._open()
        self._connected = True
        if start_thread:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name=f"camera-{self.name}", daemon=True)
            self._thread.start()

    def disconnect(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            self._thread = None
        if self._connected:
            self._close()
        self._connected = False

    def __enter__(self) -> Camera:
        if not self._connected:
            self.connect()
        return self

    def __exit__(self, *exc) -> None:
        self.disconnect()

    @property
    def frame_count(self) -> int:
        """Frames captured since connect (read or not)."""
        return self._count

    # --- capture ---------------------------------------------------------------------------------------------
    def _publish(self, image: np.ndarray) -> Frame:
        frame = Frame(image, time.time(), self._count)
        self._count += 1
        with self._cond:
            if self._latest is not None and self._latest.index > self._returned_index:
                self.dropped += 1
            self._latest = frame
            self._cond.notify_all()
        return frame

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                image = self._grab()
            except Exception as e:  # a flaky device must not kill the thread
                self.errors += 1
                logger.warning("camera %s: capture failed: %s", self.name, e)
                time.sleep(0.05)
                continue
            if image is not None:
                self._publish(image)

    def read(self) -> np.ndarray:
        """Capture one frame synchronously (only when no capture thread runs)."""
        if not self._connected:
            raise ConnectionError(f"camera {self.name!r} is not connected; call connect() first")
        if self._thread is not None:
            return self.async_read()
        image = self._grab()
        if image is None:
            raise TimeoutError(f"camera {self.name!r} returned no frame")
        self._publish(image)
        self._returned_index = self._count - 1
        return image

    def read_latest(self) -> Frame | None:
        """The newest frame (possibly one already returned) without waiting; ``None`` before the first."""
        with self._cond:
            if self._latest is not None:
                self._returned_index = max(self._returned_index, self._latest.index)
            return self._latest

    def async_read(self, timeout_ms: float = 200.0) -> np.ndarray:
        """A frame newer than the previous one returned, waiting at most ``timeout_ms``."""
        return self.async_read_frame(timeout_ms).image

    def async_read_frame(self, timeout_ms: float = 200.0) -> Frame:
        if not self._connected:
            raise ConnectionError(f"camera {self.name!r} is not connected; call connect() first")
        if self._thread is None:
            self.read()
            return self._latest
        deadline = time.monotonic() + timeout_ms / 1000.0
        with self._cond:
            while self._latest is None or self._latest.index <= self._returned_index:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self._thread.is_alive():
                    raise TimeoutError(
                        f"camera {self.name!r} ({self.config.type}) delivered no new frame within {timeout_ms:.0f} ms"
                        f" (fps={self.fps}, errors={self.errors}); check the device, its fps, or raise timeout_ms"
                    )
                self._cond.wait(remaining)
            self._returned_index = self._latest.index
            return self._latest
