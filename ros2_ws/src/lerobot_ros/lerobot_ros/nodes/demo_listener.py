"""`demo_listener`: logs every ``std_msgs/String`` received on ``chatter`` as "I heard: [<text>]"
(as demo_nodes_cpp's listener)."""

from __future__ import annotations

import sys

from lerobot_ros.runtime import QOS_DEFAULT, Node, spin
from lerobot_ros.runtime.transport import shutdown_backends


def main(argv: list[str] | None = None) -> int:
    node = Node("listener", argv=sys.argv[1:] if argv is None else argv)
    node.create_subscription(
        "std_msgs/msg/String",
        "chatter",
        lambda msg: node.get_logger().info(f"I heard: [{msg.data}]"),
        QOS_DEFAULT,
    )
    try:
        spin(node)
    finally:
        node.destroy()
        shutdown_backends()  # close the Zenoh session: its callback threads would keep the process alive
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
