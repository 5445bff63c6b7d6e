"""Graph tools without ROS: ``lerobot-ros node|topic|service ...``, reading rmw_zenoh's liveliness graph.

    lerobot-ros node list [-a]
    lerobot-ros topic list [-t] [-a]
    lerobot-ros topic echo TOPIC [TYPE] [--once | -n N] [--full-length]
    lerobot-ros topic hz TOPIC [--window N] [--duration S]
    lerobot-ros topic pub TOPIC TYPE [VALUES_YAML] [-r HZ] [--once | -t TIMES]
    lerobot-ros service list [-t]
    lerobot-ros service call SERVICE TYPE [VALUES_YAML] [--timeout S]

They use the native Zenoh backend with the session settings of every node (``ZENOH_*`` env vars,
``ROS_DOMAIN_ID``), so they see ROS 2 nodes on the same router and ROS sees them (as hidden ``_lerobot_ros_cli``
nodes, which ``-a`` shows).
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import sys
import threading
import time
from typing import Any

import yaml

from . import msgs, wire
from .graph import LivelinessGraph
from .qos import Durability, QoSProfile, Reliability
from .spin import reset_shutdown, spin, wait_for_shutdown

__all__ = ["node_main", "service_main", "snapshot", "topic_main"]

HIDDEN_PREFIX = "_"


def _context(domain: int | None = None):
    from .zenoh_backend import ZenohContext

    return ZenohContext(domain_id=domain, router_check_attempts=int(os.environ.get("ZENOH_ROUTER_CHECK_ATTEMPTS", 1)))


def snapshot(context: Any, timeout_s: float = 1.0) -> LivelinessGraph:
    """The context's graph once discovery settled: a one-shot liveliness query merged into the live graph,
    then up to ``timeout_s`` waiting until no token arrived for 0.3 s."""
    for reply in context.session.liveliness().get(f"{wire.ADMIN_SPACE}/{context.domain_id}/**", timeout=timeout_s):
        if reply.ok is not None:
            context.graph.put(str(reply.ok.key_expr))
    deadline = time.monotonic() + timeout_s
    seen, quiet_since = -1, time.monotonic()
    while time.monotonic() < deadline:
        count = len(context.graph.entities())
        if count != seen:
            seen, quiet_since = count, time.monotonic()
        elif count and time.monotonic() - quiet_since >= 0.3:
            break
        time.sleep(0.05)
    return context.graph


def _hidden(name: str) -> bool:
    return any(part.startswith(HIDDEN_PREFIX) for part in name.strip("/").split("/"))


def _cli_node(context: Any):
    from .node import Node

    return Node(f"_lerobot_ros_cli_{os.getpid()}", context=context, enable_rosout=False,
                start_parameter_services=False)


def _dump(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False, allow_unicode=True).rstrip("\n")


def _parse_values(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    value = yaml.safe_load(text)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise SystemExit(f"values must be a YAML mapping like '{{data: hello}}', got {text!r}")
    return value


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--domain", type=int, default=None, help="ROS domain id (default: ROS_DOMAIN_ID or 0)")
    parser.add_argument("--wait", type=float, default=1.0, help="seconds to wait for discovery (default 1)")


# -- node ---------------------------------------------------------------------------------------------------
def node_main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lerobot-ros node", description="list ROS nodes")
    sub = parser.add_subparsers(dest="verb", required=True)
    lst = sub.add_parser("list", help="list nodes")
    lst.add_argument("-a", "--all", action="store_true", help="include hidden nodes")
    _add_common(lst)
    args = parser.parse_args(argv)
    ctx = _context(args.domain)
    try:
        graph = snapshot(ctx, args.wait)
        for name, ns in graph.node_names():
            fqn = ("" if ns == "/" else ns) + "/" + name
            if args.all or not _hidden(fqn):
                print(fqn)
    finally:
        ctx.close()
    return 0


# -- topic --------------------------------------------------------------------------------------------------
def _subscription_qos(graph: LivelinessGraph, topic: str) -> QoSProfile:
    """Adapt to the publishers as ros2 does: best effort if any is, transient local if all are."""
    pubs = graph.endpoints(topic, wire.PUBLISHER)
    best_effort = any(p.qos and p.qos.reliability == Reliability.BEST_EFFORT for p in pubs)
    transient = bool(pubs) and all(p.qos and p.qos.durability == Durability.TRANSIENT_LOCAL for p in pubs)
    return QoSProfile(depth=10, reliability=Reliability.BEST_EFFORT if best_effort else Reliability.RELIABLE,
                      durability=Durability.TRANSIENT_LOCAL if transient else Durability.VOLATILE)


def _resolve_type(graph: LivelinessGraph, name: str, given: str | None, kinds: tuple[str, ...]) -> str:
    if given:
        return msgs.normalize_typename(given)
    types = sorted({e.typename for e in graph.endpoints(name) if e.kind in kinds and e.typename})
    if len(types) == 1:
        return types[0]
    if not types:
        raise SystemExit(f"could not determine the type of {name!r} (nothing publishes it yet): pass the type")
    raise SystemExit(f"{name!r} has several types {types}: pass the type")


def _topic_list(args: argparse.Namespace) -> int:
    ctx = _context(args.domain)
    try:
        graph = snapshot(ctx, args.wait)
        for topic, types in graph.topic_names_and_types().items():
            if not args.all and _hidden(topic):
                continue
            print(f"{topic} [{', '.join(types)}]" if args.show_types else topic)
    finally:
        ctx.close()
    return 0


def _topic_echo(args: argparse.Namespace) -> int:
    ctx = _context(args.domain)
    node = None
    try:
        graph = snapshot(ctx, args.wait)
        topic = args.topic if args.topic.startswith("/") else "/" + args.topic
        typename = _resolve_type(graph, topic, args.type, (wire.PUBLISHER, wire.SUBSCRIPTION))
        node = _cli_node(ctx)
        limit = 1 if args.once else args.count
        done = threading.Event()
        count = 0
        lock = threading.Lock()

        def callback(msg: Any) -> None:
            nonlocal count
            with lock:
                if done.is_set():
                    return
                print(_dump(msgs.to_dict(msg, max_array=None if args.full_length else 128)), flush=True)
                print("---", flush=True)
                count += 1
                if limit and count >= limit:
                    done.set()

        node.create_subscription(typename, topic, callback, _subscription_qos(graph, topic))
        reset_shutdown()
        while not done.is_set() and not wait_for_shutdown(0.0):
            if spin(node, 0.1):
                break
        return 0
    finally:
        if node is not None:
            node.destroy()
        ctx.close()


def _topic_hz(args: argparse.Namespace) -> int:
    ctx = _context(args.domain)
    node = None
    try:
        graph = snapshot(ctx, args.wait)
        topic = args.topic if args.topic.startswith("/") else "/" + args.topic
        typename = _resolve_type(graph, topic, args.type, (wire.PUBLISHER, wire.SUBSCRIPTION))
        node = _cli_node(ctx)
        stamps: list[float] = []
        lock = threading.Lock()

        def callback(_cdr: bytes) -> None:
            with lock:
                stamps.append(time.monotonic())
                del stamps[: max(0, len(stamps) - args.window - 1)]

        node.create_subscription(typename, topic, callback, _subscription_qos(graph, topic), raw=True)
        reset_shutdown()
        start = time.monotonic()
        while not spin(node, 1.0):
            with lock:
                deltas = [b - a for a, b in itertools.pairwise(stamps)]
            if deltas:
                mean = sum(deltas) / len(deltas)
                std = math.sqrt(sum((d - mean) ** 2 for d in deltas) / len(deltas))
                print(f"average rate: {1.0 / mean:.3f}\n\tmin: {min(deltas):.3f}s max: {max(deltas):.3f}s "
                      f"std dev: {std:.5f}s window: {len(deltas) + 1}", flush=True)
            else:
                print("no new messages", flush=True)
            if args.duration and time.monotonic() - start >= args.duration:
                break
        return 0
    finally:
        if node is not None:
            node.destroy()
        ctx.close()


def _topic_pub(args: argparse.Namespace) -> int:
    ctx = _context(args.domain)
    node = None
    try:
        typename = msgs.normalize_typename(args.type)
        msg = msgs.from_dict(typename, _parse_values(args.values))
        node = _cli_node(ctx)
        qos = QoSProfile(depth=args.qos_depth,
                         reliability=Reliability.BEST_EFFORT if args.best_effort else Reliability.RELIABLE,
                         durability=Durability.TRANSIENT_LOCAL if args.transient_local else Durability.VOLATILE)
        topic = args.topic if args.topic.startswith("/") else "/" + args.topic
        pub = node.create_publisher(typename, topic, qos)
        times = 1 if args.once else args.times
        if times:  # a bounded publisher waits for a subscriber first, so the message is not lost
            ctx.graph.wait_until(lambda g: g.count_subscribers(topic) > 0, args.wait_matching)
            time.sleep(0.1)
        print("publisher: beginning loop", flush=True)
        reset_shutdown()
        sent = 0
        shown = msgs.to_dict(msg, max_array=16)
        while True:
            pub.publish(msg)
            sent += 1
            print(f"publishing #{sent}: {shown}\n", flush=True)
            if times and sent >= times:
                time.sleep(0.2)  # let the transport flush before closing
                break
            if spin(node, 1.0 / args.rate):
                break
        return 0
    finally:
        if node is not None:
            node.destroy()
        ctx.close()


def topic_main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lerobot-ros topic", description="inspect and use ROS topics")
    sub = parser.add_subparsers(dest="verb", required=True)
    lst = sub.add_parser("list", help="list topics")
    lst.add_argument("-t", "--show-types", action="store_true")
    lst.add_argument("-a", "--all", action="store_true", help="include hidden topics")
    echo = sub.add_parser("echo", help="print messages")
    echo.add_argument("topic")
    echo.add_argument("type", nargs="?")
    echo.add_argument("--once", action="store_true")
    echo.add_argument("-n", "--count", type=int, default=0, help="stop after N messages")
    echo.add_argument("--full-length", action="store_true", help="do not cut arrays at 128 elements")
    hz = sub.add_parser("hz", help="print the publishing rate")
    hz.add_argument("topic")
    hz.add_argument("type", nargs="?")
    hz.add_argument("--window", type=int, default=10000)
    hz.add_argument("--duration", type=float, default=0.0, help="stop after S seconds")
    pub = sub.add_parser("pub", help="publish a message")
    pub.add_argument("topic")
    pub.add_argument("type")
    pub.add_argument("values", nargs="?", default="", help="YAML mapping, e.g. '{data: hello}'")
    pub.add_argument("-r", "--rate", type=float, default=1.0)
    pub.add_argument("--once", action="store_true")
    pub.add_argument("-t", "--times", type=int, default=0)
    pub.add_argument("--qos-depth", type=int, default=10)
    pub.add_argument("--best-effort", action="store_true")
    pub.add_argument("--transient-local", action="store_true")
    pub.add_argument("--wait-matching", type=float, default=2.0, help="with --once/-t: wait S s for a subscriber")
    for p in (lst, echo, hz, pub):
        _add_common(p)
    args = parser.parse_args(argv)
    return {"list": _topic_list, "echo": _topic_echo, "hz": _topic_hz, "pub": _topic_pub}[args.verb](args)


# -- service ------------------------------------------------------------------------------------------------
def service_main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lerobot-ros service", description="list and call ROS services")
    sub = parser.add_subparsers(dest="verb", required=True)
    lst = sub.add_parser("list", help="list services")
    lst.add_argument("-t", "--show-types", action="store_true")
    call = sub.add_parser("call", help="call a service")
    call.add_argument("service")
    call.add_argument("type")
    call.add_argument("values", nargs="?", default="", help="YAML mapping of the request, e.g. '{a: 1, b: 2}'")
    call.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for the service and reply")
    for p in (lst, call):
        _add_common(p)
    args = parser.parse_args(argv)
    ctx = _context(args.domain)
    node = None
    try:
        if args.verb == "list":
            graph = snapshot(ctx, args.wait)
            for name, types in graph.service_names_and_types().items():
                print(f"{name} [{', '.join(types)}]" if args.show_types else name)
            return 0
        srv = msgs.normalize_typename(args.type)
        if not msgs.is_service(srv):
            print(f"unknown service type {args.type!r}", file=sys.stderr)
            return 2
        request = msgs.from_dict(f"{srv}_Request", _parse_values(args.values))
        node = _cli_node(ctx)
        name = args.service if args.service.startswith("/") else "/" + args.service
        client = node.create_client(srv, name)
        if not client.wait_for_service(args.timeout):
            print(f"waiting for service {name} timed out ({args.timeout} s)", file=sys.stderr)
            return 1
        print(f"requester: making request: {msgs.to_dict(request)}\n", flush=True)
        response = client.call(request, args.timeout)
        print(f"response:\n{_dump(msgs.to_dict(response))}", flush=True)
        return 0
    except Exception as exc:
        from .transport import ServiceError

        if isinstance(exc, ServiceError):
            print(f"service call failed: {exc}", file=sys.stderr)
            return 1
        raise
    finally:
        if node is not None:
            node.destroy()
        ctx.close()
