"""A real Zenoh router in-process on a free loopback port, as the test suites' fixtures use it."""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import Iterator

import zenoh


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def open_router(endpoint: str | None = None) -> Iterator[str]:
    """Run a Zenoh router (multicast scouting off, timestamping on, as rmw_zenohd); yields its endpoint."""
    endpoint = endpoint or f"tcp/127.0.0.1:{free_port()}"
    config = zenoh.Config()
    config.insert_json5("mode", '"router"')
    config.insert_json5("listen/endpoints", json.dumps([endpoint]))
    config.insert_json5("scouting/multicast/enabled", "false")
    config.insert_json5("timestamping/enabled", '{"router": true, "peer": true, "client": true}')
    router = zenoh.open(config)
    try:
        yield endpoint
    finally:
        router.close()
