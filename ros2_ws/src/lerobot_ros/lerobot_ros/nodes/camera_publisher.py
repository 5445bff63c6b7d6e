"""Image + CameraInfo (+ optional JPEG CompressedImage) publishers for one camera, shared by ``camera`` and ``sim``.

Topics, relative to the publishing node's namespace: ``<camera>/image_raw`` (``sensor_msgs/Image``, ``rgb8``),
``<camera>/camera_info`` and, when enabled, ``<camera>/image_raw/compressed`` (image_transport's names). Stamps
are capture times. ``CameraInfo`` carries a pinhole model when the vertical field of view is known (the
simulator), else zeros (uncalibrated, as ROS defines it).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from lerobot_ros.runtime import QOS_DEFAULT, Node, make
from lerobot_ros.runtime.conversions import numpy_to_compressed_image, numpy_to_image, sec_to_stamp

__all__ = ["CameraPublisher", "camera_info_msg"]


def camera_info_msg(width: int, height: int, fovy_deg: float, stamp_s: float, frame_id: str) -> Any:
    """``sensor_msgs/CameraInfo`` of an ideal pinhole camera (``fovy_deg`` <= 0: K, P all zero)."""
    header = make("std_msgs/msg/Header", stamp=sec_to_stamp(stamp_s), frame_id=frame_id)
    k, p, r = np.zeros(9), np.zeros(12), np.eye(3).reshape(-1)
    if fovy_deg > 0:
        f = height / 2.0 / math.tan(math.radians(fovy_deg) / 2.0)
        cx, cy = (width - 1) / 2.0, (height - 1) / 2.0
        k = np.array([f, 0, cx, 0, f, cy, 0, 0, 1], float)
        p = np.array([f, 0, cx, 0, 0, f, cy, 0, 0, 0, 1, 0], float)
    return make("sensor_msgs/msg/CameraInfo", header=header, height=height, width=width,
                distortion_model="plumb_bob", d=np.zeros(5), k=k, r=r, p=p)  # fmt: skip


class CameraPublisher:
    """Publishes frames of one camera; counts what it sent."""

    def __init__(self, node: Node, camera: str, frame_id: str, *, fovy_deg: float = 0.0, compressed: bool = False,
                 jpeg_quality: int = 90) -> None:  # fmt: skip
        prefix = f"{camera}/" if camera else ""
        self.camera = camera
        self.frame_id = frame_id
        self.fovy_deg = fovy_deg
        self.jpeg_quality = jpeg_quality
        # qos_overrides.<topic>.publisher.{history,depth,reliability} parameters, as ROS camera drivers offer:
        # e.g. history keep_all (rmw_zenoh: BLOCK congestion control) for loss-free recording
        self.image_pub = node.create_publisher("sensor_msgs/msg/Image", f"{prefix}image_raw", QOS_DEFAULT,
                                               qos_overriding=True)
        self.info_pub = node.create_publisher("sensor_msgs/msg/CameraInfo", f"{prefix}camera_info", QOS_DEFAULT,
                                              qos_overriding=True)
        self.compressed_pub = (
            node.create_publisher("sensor_msgs/msg/CompressedImage", f"{prefix}image_raw/compressed", QOS_DEFAULT,
                                  qos_overriding=True)
            if compressed else None
        )  # fmt: skip
        self.published = 0

    def publish(self, image: np.ndarray, stamp_s: float) -> None:
        """Publish an ``HxWx3`` RGB uint8 frame captured at ``stamp_s`` (wall-clock seconds)."""
        stamp = sec_to_stamp(stamp_s)
        self.image_pub.publish(numpy_to_image(image, "rgb8", stamp=stamp, frame_id=self.frame_id))
        h, w = image.shape[:2]
        self.info_pub.publish(camera_info_msg(w, h, self.fovy_deg, stamp_s, self.frame_id))
        if self.compressed_pub is not None:
            self.compressed_pub.publish(numpy_to_compressed_image(image, "jpeg", encoding="rgb8",
                                                                  quality=self.jpeg_quality, stamp=stamp,
                                                                  frame_id=self.frame_id))  # fmt: skip
        self.published += 1
