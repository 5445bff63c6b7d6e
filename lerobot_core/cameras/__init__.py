"""Cameras with latest-frame asynchronous reading: OpenCV, video file, synthetic pattern, MuJoCo."""

from lerobot_core.cameras.camera import Camera, Frame
from lerobot_core.cameras.configs import (
    CameraConfig,
    MujocoCameraConfig,
    OpenCVCameraConfig,
    PatternCameraConfig,
    VideoFileCameraConfig,
)
from lerobot_core.cameras.sources import (
    MujocoCamera,
    OpenCVCamera,
    PatternCamera,
    VideoFileCamera,
    make_camera,
)

__all__ = [
    "Camera",
    "CameraConfig",
    "Frame",
    "MujocoCamera",
    "MujocoCameraConfig",
    "OpenCVCamera",
    "OpenCVCameraConfig",
    "PatternCamera",
    "PatternCameraConfig",
    "VideoFileCamera",
    "VideoFileCameraConfig",
    "make_camera",
]
