"""`camera`: one camera of ``lerobot_core.cameras`` as ``sensor_msgs/Image`` + ``CameraInfo`` (+ JPEG).

Topics are private to the node: run it as ``__node:=front`` and it publishes ``/front/image_raw`` (``rgb8``),
``/front/camera_info`` and, with ``publish_compressed``, ``/front/image_raw/compressed`` — the names the ``sim``
node uses for its rendered cameras. Stamps are capture times. Every new frame is published once; frames the
source replaced before they were read are counted as dropped and reported on ``/diagnostics`` with the
achieved rate.

Parameters (see ``config/so101_cameras.yaml``): ``source`` (``opencv`` | ``video`` | ``pattern``),
``index_or_path`` (device index, device path or video file), ``width``, ``height`` (0: the source's), ``fps``,
``fourcc`` (OpenCV, e.g. ``MJPG``), ``pattern`` (``bars`` | ``checker`` | ``noise``), ``frame_id``,
``publish_compressed``, ``jpeg_quality``, ``fovy_deg`` (vertical field of view for CameraInfo; 0: unknown),
``diagnostics_period_s``.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from lerobot_ros.nodes.camera_publisher import CameraPublisher
from lerobot_ros.nodes.joint_control import OK, WARN, diagnostic_status
from lerobot_ros.runtime import QOS_DEFAULT, Node, make, run_node

__all__ = ["CameraNode", "camera_config_from_params", "main"]

SOURCES = ("opencv", "video", "pattern")


def camera_config_from_params(node: Node) -> Any:
    """The ``lerobot_core.cameras`` config the parameters describe."""
    from lerobot_core.cameras import OpenCVCameraConfig, PatternCameraConfig, VideoFileCameraConfig

    p = node.declare_parameter
    source = p("source", "pattern", f"frame source: {', '.join(SOURCES)}")
    where = p("index_or_path", "0", "OpenCV device index or path, or the video file")
    width = p("width", 640, "image width (0: the source's)")
    height = p("height", 480, "image height (0: the source's)")
    fps = p("fps", 30, "frame rate (0: the source's)")
    fourcc = p("fourcc", "", "OpenCV FOURCC, e.g. MJPG (empty: the device default)")
    pattern = p("pattern", "bars", "synthetic pattern: bars, checker or noise")
    size = {"width": width or None, "height": height or None, "fps": fps or None}
    if source == "opencv":
        device: int | str = int(where) if where.strip().isdigit() else where
        return OpenCVCameraConfig(index_or_path=device, fourcc=fourcc or None, **size)
    if source == "video":
        return VideoFileCameraConfig(path=where, **size)
    if source == "pattern":
        return PatternCameraConfig(pattern=pattern, **size)
    raise ValueError(f"parameter source={source!r} is not one of {', '.join(SOURCES)}")


class CameraNode:
    """Connects the camera and publishes each new frame from a reader thread."""

    def __init__(self, node: Node, camera: Any = None) -> None:
        from lerobot_core.cameras import make_camera

        self.node = node
        config = camera_config_from_params(node) if camera is None else camera.config
        frame_id = node.declare_parameter("frame_id", f"{node.name}_camera", "header frame of the images")
        compressed = node.declare_parameter("publish_compressed", False, "also publish image_raw/compressed (JPEG)")
        quality = node.declare_parameter("jpeg_quality", 90, "JPEG quality of image_raw/compressed")
        fovy = node.declare_parameter("fovy_deg", 0.0, "vertical field of view for CameraInfo (0: unknown)")
        self.diag_period = node.declare_parameter("diagnostics_period_s", 1.0, "diagnostics period (s)")
        self.camera = camera if camera is not None else make_camera(config, node.name)
        self.camera.connect()
        self.publisher = CameraPublisher(node, "~", frame_id, fovy_deg=fovy, compressed=compressed,
                                         jpeg_quality=quality)  # fmt: skip
        self.diag_pub = node.create_publisher("diagnostic_msgs/msg/DiagnosticArray", "/diagnostics", QOS_DEFAULT)
        self.timeouts = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"camera-publisher:{node.name}", daemon=True)
        self._thread.start()
        node.get_logger().info(f"{config.type} camera {self.camera.width}x{self.camera.height} at {self.camera.fps} fps "
                               f"on {node.resolve_name('~/image_raw')}")  # fmt: skip

    def _run(self) -> None:
        period = 1.0 / (self.camera.fps or 30)
        last_diag, last_count = time.monotonic(), 0
        while not self._stop.is_set():
            try:
                frame = self.camera.async_read_frame(timeout_ms=max(500.0, 3000.0 * period))
            except TimeoutError as exc:
                self.timeouts += 1
                self.node.get_logger().warning(str(exc))
                continue
            except Exception as exc:
                if self._stop.is_set():
                    return
                self.node.get_logger().error(f"camera read failed: {exc}")
                time.sleep(0.1)
                continue
            self.publisher.publish(frame.image, frame.timestamp)
            now = time.monotonic()
            if now - last_diag >= self.diag_period:
                rate = (self.publisher.published - last_count) / (now - last_diag)
                last_diag, last_count = now, self.publisher.published
                self.publish_diagnostics(rate)

    def publish_diagnostics(self, rate: float) -> None:
        cam = self.camera
        values = {"rate_hz": rate, "target_rate_hz": cam.fps, "published": self.publisher.published,
                  "dropped_frames": cam.dropped, "capture_errors": cam.errors, "read_timeouts": self.timeouts,
                  "width": cam.width, "height": cam.height}  # fmt: skip
        level = WARN if cam.fps and rate < 0.8 * cam.fps else OK
        status = diagnostic_status(f"{self.node.name}: camera", f"{cam.config.type}:{self.node.name}", level,
                                   "running" if level == OK else f"{rate:.1f} fps of {cam.fps}", values)  # fmt: skip
        self.diag_pub.publish(make("diagnostic_msgs/msg/DiagnosticArray",
                                   header=make("std_msgs/msg/Header", stamp=self.node.now()), status=[status]))

    @property
    def dropped(self) -> int:
        return self.camera.dropped

    def close(self) -> None:
        self._stop.set()
        self.camera.disconnect()
        self._thread.join(timeout=2.0)


def main(argv: list[str] | None = None) -> int:
    return run_node("camera", CameraNode, argv)


if __name__ == "__main__":
    raise SystemExit(main())
