"""``lerobot-ros router``: a Zenoh router with rmw_zenohd's defaults (the rendezvous point of every session).

Defaults as ``DEFAULT_RMW_ZENOH_ROUTER_CONFIG.json5``: mode ``router``, listen ``tcp/[::]:7447``, multicast
scouting off, gossip on (peers learn each other's locators and connect directly), no failover brokering (data
between peers never goes through the router), timestamping on. ``--ipv4`` listens on ``tcp/0.0.0.0:7447`` instead (IPv4-only hosts,
where ``[::]`` fails). ``ZENOH_ROUTER_CONFIG_URI`` (a JSON5 file) replaces the defaults and
``ZENOH_CONFIG_OVERRIDE='key=json5;...'`` is applied on top, as rmw_zenohd does.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
from typing import Any

import zenoh

from .spin import spin
from .zenoh_backend import parse_config_override

__all__ = ["DEFAULT_ROUTER_CONFIG", "main", "router_answers", "router_config", "start_router"]

DEFAULT_PORT = 7447
DEFAULT_ROUTER_CONFIG: dict[str, Any] = {
    "mode": "router",
    "listen/endpoints": [f"tcp/[::]:{DEFAULT_PORT}"],
    "scouting/multicast/enabled": False,
    "scouting/gossip/enabled": True,
    "scouting/gossip/target": {"router": ["router", "peer"], "peer": ["router"]},
    "scouting/gossip/autoconnect": {"router": [], "peer": ["router", "peer"]},
    "routing/router/peers_failover_brokering": False,
    "timestamping/enabled": {"router": True, "peer": True, "client": True},
    "queries_default_timeout": 60000,
    "transport/unicast/open_timeout": 60000,
    "transport/unicast/accept_timeout": 60000,
    "transport/unicast/accept_pending": 10000,
    "transport/unicast/max_sessions": 10000,
    "transport/link/tx/lease": 60000,
    "transport/link/tx/keep_alive": 2,
    "transport/shared_memory/enabled": False,
}


def router_config(listen: list[str] | None = None, *, ipv4: bool = False, port: int = DEFAULT_PORT) -> zenoh.Config:
    uri = os.environ.get("ZENOH_ROUTER_CONFIG_URI")
    if uri:
        config = zenoh.Config.from_file(uri)
    else:
        config = zenoh.Config()
        for key, value in DEFAULT_ROUTER_CONFIG.items():
            config.insert_json5(key, json.dumps(value))
        host = "0.0.0.0" if ipv4 else "[::]"
        config.insert_json5("listen/endpoints", json.dumps([f"tcp/{host}:{port}"]))
    for key, value in parse_config_override(os.environ.get("ZENOH_CONFIG_OVERRIDE", "")):
        config.insert_json5(key, value)
    if listen:
        config.insert_json5("listen/endpoints", json.dumps(listen))
    return config


def start_router(listen: list[str] | None = None, *, ipv4: bool = False, port: int = DEFAULT_PORT) -> zenoh.Session:
    """Open a router session in this process (close it to stop the router)."""
    return zenoh.open(router_config(listen, ipv4=ipv4, port=port))


def router_answers(host: str = "localhost", port: int = DEFAULT_PORT, timeout_s: float = 0.5) -> bool:
    """True if something accepts TCP connections on ``host:port`` (a router is most likely listening)."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lerobot-ros router", description=__doc__.splitlines()[0])
    parser.add_argument("--ipv4", action="store_true", help="listen on tcp/0.0.0.0 (IPv4-only hosts) not tcp/[::]")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"TCP port (default {DEFAULT_PORT})")
    parser.add_argument("--listen", action="append", metavar="ENDPOINT",
                        help="Zenoh endpoint to listen on, e.g. tcp/127.0.0.1:7447 (repeatable; replaces the default)")
    args = parser.parse_args(argv)
    if not args.listen and router_answers("127.0.0.1" if args.ipv4 else "localhost", args.port):
        print(f"lerobot-ros router: port {args.port} is already in use (a router is running?)", file=sys.stderr)
        return 1
    try:
        session = start_router(args.listen, ipv4=args.ipv4, port=args.port)
    except Exception as exc:
        hint = "" if args.ipv4 else " (on an IPv4-only host use --ipv4)"
        print(f"lerobot-ros router: cannot start: {exc}{hint}", file=sys.stderr)
        return 1
    endpoints = args.listen or [f"tcp/{'0.0.0.0' if args.ipv4 else '[::]'}:{args.port}"]
    print(f"lerobot-ros router: zid {session.zid()} listening on {', '.join(endpoints)} (Ctrl-C to stop)", flush=True)
    try:
        spin()
    finally:
        session.close()
    return 0
