"""A thread holding the GIL must not stall Zenoh's reception: images published with DROP congestion control from
another process all arrive while the subscribing process runs long GIL-holding calls (rclpy over rmw_zenoh has
the same guarantee, its queue being in C++)."""

from __future__ import annotations

import random
import subprocess
import sys
import textwrap
import threading
import time

from helpers.waiting import wait_for
from lerobot_ros.runtime import Node, QoSProfile

IMAGES = 90  # 3 s at 30 Hz, 640×480 rgb8 (921 kB: 15 Zenoh fragments each)

PUBLISHER = textwrap.dedent(f"""
    import time
    import numpy as np
    from lerobot_ros.runtime import QOS_DEFAULT, Node
    from lerobot_ros.runtime.conversions import numpy_to_image
    from lerobot_ros.runtime.transport import shutdown_backends

    node = Node("gil_pub", argv=[], enable_rosout=False)
    pub = node.create_publisher("sensor_msgs/msg/Image", "/gil/image", QOS_DEFAULT)  # reliable keep-last: DROP
    assert node.backend.graph.wait_until(lambda g: g.count_subscribers("/gil/image") > 0, 20)
    time.sleep(0.5)
    image = numpy_to_image(np.zeros((480, 640, 3), np.uint8), "rgb8")
    start = time.monotonic()
    for k in range({IMAGES}):
        pub.publish(image)
        time.sleep(max(0.0, start + (k + 1) / 30 - time.monotonic()))
    time.sleep(1.0)
    node.destroy()
    shutdown_backends()
""")


def test_gil_holding_thread_does_not_lose_samples(router_env, make_context) -> None:
    node = Node("gil_sub", argv=[], context=make_context(), enable_rosout=False)
    got: list[int] = []
    # depth for every image: a burst after a GIL hold must not hit KEEP_LAST's own (correct) overflow
    sub = node.create_subscription("sensor_msgs/msg/Image", "/gil/image", lambda m: got.append(m.width),
                                   QoSProfile(depth=IMAGES))
    hog = list(range(1_000_000))
    random.Random(0).shuffle(hog)
    stop = threading.Event()

    def hold_gil() -> None:  # sorted() of a big list holds the GIL for the whole call (~0.3-0.5 s here)
        while not stop.is_set():
            sorted(hog)
            time.sleep(0.1)

    publisher = subprocess.Popen([sys.executable, "-c", PUBLISHER], env=router_env)
    holder = threading.Thread(target=hold_gil, daemon=True)
    holder.start()
    try:
        assert publisher.wait(timeout=60) == 0
        assert wait_for(lambda: len(got) >= IMAGES, timeout=10), f"{len(got)} of {IMAGES} images, lost {sub.lost}, queue-dropped {sub.queue_dropped}"
    finally:
        stop.set()
        holder.join()
        if publisher.poll() is None:
            publisher.kill()
        node.destroy()
    assert got == [640] * IMAGES and sub.lost == 0 and sub.queue_dropped == 0
