"""camera node: Image + CameraInfo + JPEG from the synthetic pattern source, capture stamps, frame order, dropped
frames counted in diagnostics."""

from __future__ import annotations

import itertools
import time

import numpy as np
from helpers.inbox import Inbox
from lerobot_ros.nodes.camera import CameraNode
from lerobot_ros.runtime import QOS_DEFAULT, Node
from lerobot_ros.runtime.conversions import compressed_image_to_numpy, image_to_numpy, stamp_to_sec


def frame_index(image: np.ndarray) -> int:
    """The pattern source writes the frame index as 16 black/white blocks in its top band."""
    w = image.shape[1]
    blocks = [image[0, min(w - 1, i * -(-w // 16) + 1), 0] > 127 for i in range(16)]
    return sum(1 << i for i, on in enumerate(blocks) if on)


def test_camera_publishes_image_info_and_jpeg_in_capture_order(make_context) -> None:
    node = Node("front", context=make_context(), parameter_overrides={
        "source": "pattern", "width": 64, "height": 48, "fps": 30, "publish_compressed": True, "fovy_deg": 60.0})
    camera = CameraNode(node)
    client = Node("viewer", context=make_context())
    try:
        images, infos, jpegs = Inbox(), Inbox(), Inbox()
        client.create_subscription("sensor_msgs/msg/Image", "/front/image_raw", images, QOS_DEFAULT)
        client.create_subscription("sensor_msgs/msg/CameraInfo", "/front/camera_info", infos, QOS_DEFAULT)
        client.create_subscription("sensor_msgs/msg/CompressedImage", "/front/image_raw/compressed", jpegs,
                                   QOS_DEFAULT)  # fmt: skip
        images.wait(lambda m: len(images.messages) >= 10, timeout=10)
        msgs = list(images.messages)
        first = msgs[0]
        assert (first.height, first.width, first.encoding, first.header.frame_id) == (48, 64, "rgb8", "front_camera")
        stamps = [stamp_to_sec(m.header.stamp) for m in msgs]
        assert all(b > a for a, b in itertools.pairwise(stamps)) and abs(stamps[-1] - time.time()) < 2
        indices = [frame_index(image_to_numpy(m)) for m in msgs]
        assert indices == sorted(indices) and len(set(indices)) == len(indices)  # each frame once, in order
        info = infos.wait()
        assert info.k[0] == info.k[4] > 0 and (info.width, info.height) == (64, 48)
        jpeg = jpegs.wait()
        assert jpeg.format == "jpeg" and compressed_image_to_numpy(jpeg).shape == (48, 64, 3)
    finally:
        client.destroy()
        camera.close()
        node.destroy()


def test_frames_the_publisher_could_not_keep_up_with_are_counted_as_dropped(make_context) -> None:
    node = Node("wrist", context=make_context(), parameter_overrides={
        "source": "pattern", "width": 32, "height": 24, "fps": 60, "diagnostics_period_s": 0.3})
    camera = CameraNode(node)
    publish = camera.publisher.publish
    camera.publisher.publish = lambda image, stamp: (time.sleep(0.05), publish(image, stamp))  # a slow consumer
    client = Node("monitor", context=make_context())
    try:
        diags = Inbox()
        client.create_subscription("diagnostic_msgs/msg/DiagnosticArray", "/diagnostics", diags, QOS_DEFAULT)

        def dropped(msg) -> int:
            return int({kv.key: kv.value for kv in msg.status[0].values}.get("dropped_frames", 0))

        msg = diags.wait(lambda m: dropped(m) > 5, timeout=10)
        assert msg.status[0].level == 1  # WARN: below the camera's rate
        assert camera.dropped >= dropped(msg)
    finally:
        client.destroy()
        camera.close()
        node.destroy()
