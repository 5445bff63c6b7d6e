"""Camera configs (draccus choice types: ``--robot.cameras='{front: {type: opencv, index_or_path: 0}}'``)."""

from __future__ import annotations

from dataclasses import dataclass

import draccus


@dataclass
class CameraConfig(draccus.ChoiceRegistry):
    """``fps``/``width``/``height``: ``None`` keeps what the source delivers."""

    fps: int | None = None
    width: int | None = None
    height: int | None = None

    @property
    def type(self) -> str:
        try:
            return self.get_choice_name(self.__class__)
        except ValueError:  # an unregistered subclass
            return type(self).__name__


@CameraConfig.register_subclass("opencv")
@dataclass
class OpenCVCameraConfig(CameraConfig):
    """A V4L2/UVC device (``index_or_path`` = 0, "/dev/video2") or anything ``cv2.VideoCapture`` opens."""

    index_or_path: int | str = 0
    fourcc: str | None = None  # e.g. "MJPG" for 30 fps at 640x480 on most USB cameras
    warmup_s: float = 0.0


@CameraConfig.register_subclass("video")
@dataclass
class VideoFileCameraConfig(CameraConfig):
    """Frames of a video file (PyAV), paced at ``fps`` (default: the file's rate); loops at the end."""

    path: str = ""
    loop: bool = True


@CameraConfig.register_subclass("pattern")
@dataclass
class PatternCameraConfig(CameraConfig):
    """A synthetic moving test pattern (colour bars and a frame counter band); deterministic."""

    pattern: str = "bars"  # bars | checker | noise
    seed: int = 0


@CameraConfig.register_subclass("mujoco")
@dataclass
class MujocoCameraConfig(CameraConfig):
    """A camera of the simulated scene (``front`` or ``wrist``); rendered on read, in the caller's thread."""

    camera_name: str = "front"
