"""`demo_talker`: publishes ``std_msgs/String`` "Hello World: <n>" on ``chatter`` (as demo_nodes_cpp's talker).

Parameters: ``rate`` (Hz, default 1.0), ``greeting`` (default "Hello World"), ``count`` (stop after this many
messages; 0 = run until SIGINT/SIGTERM).
"""

from __future__ import annotations

import sys

from lerobot_ros.runtime import QOS_DEFAULT, Node, make, spin
from lerobot_ros.runtime.spin import request_shutdown
from lerobot_ros.runtime.transport import shutdown_backends


def main(argv: list[str] | None = None) -> int:
    node = Node("talker", argv=sys.argv[1:] if argv is None else argv)
    rate = node.declare_parameter("rate", 1.0, description="messages per second")
    greeting = node.declare_parameter("greeting", "Hello World", description="text before the counter")
    count = node.declare_parameter("count", 0, description="stop after this many messages (0: never)")
    if rate <= 0:
        node.get_logger().error(f"parameter 'rate' must be > 0, got {rate}")
        node.destroy()
        shutdown_backends()
        return 2
    publisher = node.create_publisher("std_msgs/msg/String", "chatter", QOS_DEFAULT)
    sent = 0

    def tick() -> None:
        nonlocal sent
        if count and sent >= count:
            request_shutdown()
            return
        sent += 1
        msg = make("std_msgs/msg/String", data=f"{greeting}: {sent}")
        node.get_logger().info(f"Publishing: '{msg.data}'")
        publisher.publish(msg)

    node.create_timer(1.0 / rate, tick)
    try:
        spin(node)
    finally:
        node.destroy()
        shutdown_backends()  # close the Zenoh session: its callback threads would keep the process alive
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
