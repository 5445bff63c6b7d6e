"""The body of a node executable: create the node, build its logic, spin, and shut everything down."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from .node import Node
from .spin import spin
from .transport import shutdown_backends


def run_node(name: str, build: Callable[[Node], Any], argv: list[str] | None = None) -> int:
    """Run node ``name`` (``--ros-args`` parsed from ``argv``, default ``sys.argv[1:]``) until SIGINT/SIGTERM.

    ``build(node)`` creates the node's logic (subscriptions, timers, hardware); if it raises, the error is
    logged and the exit code is 1, so a misconfigured node never runs half-built. On shutdown the logic's
    ``close()`` (when it has one) runs before the node is destroyed and the transport session is closed.
    """
    node = Node(name, argv=sys.argv[1:] if argv is None else argv)
    try:
        logic = build(node)
    except Exception as exc:
        node.get_logger().error(f"cannot start: {exc}")
        node.destroy()
        shutdown_backends()
        return 1
    try:
        spin(node)
    finally:
        close = getattr(logic, "close", None)
        if callable(close):
            close()
        node.destroy()
        shutdown_backends()
    return 0
