"""Transport benchmark: camera-sized images and joint states through a Zenoh router on loopback (prints JSON).

Three publisher processes send 640x480 rgb8 ``sensor_msgs/Image`` at 30 Hz and one sends ``JointState`` at
100 Hz to one subscriber process, through a router process on 127.0.0.1, for ``--duration`` seconds:

- ``node``: the lerobot_ros node API on the native Zenoh backend (serialize with rosbags, publish with the rmw_zenoh
  attachment, deserialize in the subscriber's executor, latency measured in the callback);
- ``raw_zenoh``: the same byte streams (CDR with a fresh header stamp, same attachment) with plain Zenoh
  ``put``/``subscribe`` — the floor.

Reported per mode: delivered and lost (sent - delivered, per publisher), latency p50/p99/max in ms (header stamp to
callback) overall, per message type (``types``) and per topic, CPU (user+sys seconds / wall seconds, in % of one
core) per process role. Node mode also reports ``dispatch_ms`` (the subscriber's own share: the backend callback's
entry, before the payload copy, to the user callback) and per subscription how many samples ran inline on the Zenoh
thread or queued to the executor. ``node_vs_raw``: the p50 and p99 ratios, overall and per type. Targets: 0 lost,
p99 <= 15 ms, node latency <= 1.3x raw Zenoh (the p50 ratio of each message type in ``node_vs_raw``; the p99 and
overall ratios are reported too). The overall p50 is ill-conditioned:
2000 of the 3800 samples per 20 s are JointStates (~0.5 ms) and 1800 Images (~3 ms), so the overall median is about
the JointStates' 95th percentile; read the per-type ratios. The raw floor does no (de)serialization: the node's
share of the gap for JointStates is mostly rosbags' serialize (publisher) and deserialize (subscriber).

    python benchmarks/transport.py [--duration 20] [--modes node,raw_zenoh] [--drop]

Images are published RELIABLE + KEEP_ALL (congestion control BLOCK, rmw_zenoh's mitigation for large samples);
``--drop`` uses the default depth-10 QoS (DROP), where a CPU-starved sender loses whole frames.
"""

from __future__ import annotations

import argparse
import faulthandler
import json
import os
import resource
import signal
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

IMAGE_HZ, JOINT_HZ, N_CAMERAS = 30.0, 100.0, 3
WIDTH, HEIGHT = 640, 480


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(endpoint: str) -> dict[str, str]:
    env = dict(os.environ)
    env["ZENOH_CONFIG_OVERRIDE"] = f'connect/endpoints=["{endpoint}"];listen/endpoints=["tcp/127.0.0.1:0"]'
    env["ZENOH_ROUTER_CHECK_ATTEMPTS"] = "10"
    env["LEROBOT_ROS_BACKEND"] = "zenoh"
    env.pop("ROS_DOMAIN_ID", None)
    return env


# -- children -------------------------------------------------------------------------------------------------
def _topics() -> list[tuple[str, str, float]]:
    cams = [(f"/camera{i}/image_raw", "sensor_msgs/msg/Image", IMAGE_HZ) for i in range(N_CAMERAS)]
    return [*cams, ("/joint_states", "sensor_msgs/msg/JointState", JOINT_HZ)]


def _message(typename: str):
    import numpy as np
    from lerobot_ros.runtime import msgs

    if typename == "sensor_msgs/msg/Image":
        data = np.random.default_rng(0).integers(0, 255, WIDTH * HEIGHT * 3, dtype=np.uint8)
        return msgs.make(typename, height=HEIGHT, width=WIDTH, encoding="rgb8", step=WIDTH * 3, data=data)
    return msgs.make(typename, name=[f"joint{i}" for i in range(6)], position=[0.1] * 6, velocity=[0.0] * 6,
                     effort=[0.0] * 6)


def _stamp_cdr(cdr: bytearray) -> None:
    """Write the current time into a CDR message whose first field is std_msgs/Header (offset 4: sec, nanosec)."""
    t = time.time_ns()
    struct.pack_into("<iI", cdr, 4, t // 1_000_000_000, t % 1_000_000_000)


def _publisher_qos(typename: str, block: bool):
    """Images: RELIABLE + KEEP_ALL (rmw_zenoh then blocks instead of dropping a fragmented sample when the
    transmit queue is momentarily full) unless --drop; joint states: the default reliable depth 10."""
    from lerobot_ros.runtime import QOS_RELIABLE_KEEP_ALL, QoSProfile

    return QOS_RELIABLE_KEEP_ALL if block and typename.endswith("Image") else QoSProfile(depth=10)


def _run_publisher(mode: str, index: int, duration: float, block: bool) -> dict:
    topic, typename, hz = _topics()[index]
    msg = _message(typename)
    from lerobot_ros.runtime import msgs

    sent = 0
    if mode == "node":
        from lerobot_ros.runtime import Node

        node = Node(f"bench_pub{index}", enable_rosout=False)
        pub = node.create_publisher(typename, topic, _publisher_qos(typename, block))
        node.backend.graph.wait_until(lambda g: g.count_subscribers(topic) > 0, 10)
        time.sleep(0.5)

        def send() -> None:
            msg.header.stamp = node.now()
            pub.publish(msg)
    else:
        import zenoh
        from lerobot_ros.runtime import wire
        from lerobot_ros.runtime.zenoh_backend import session_config

        session = zenoh.open(session_config())
        key = wire.data_key(0, topic, typename, msgs.type_hash(typename))
        zpub = session.declare_publisher(key, congestion_control=zenoh.CongestionControl.BLOCK
                                         if block and typename.endswith("Image") else zenoh.CongestionControl.DROP)
        cdr = bytearray(msgs.serialize(msg))
        gid = bytes(range(16))
        time.sleep(1.0)

        def send() -> None:
            _stamp_cdr(cdr)
            zpub.put(bytes(cdr), attachment=wire.encode_attachment(sent + 1, time.time_ns(), gid))

    cpu0, start = _cpu_seconds(), time.monotonic()
    period = 1.0 / hz
    next_t = start
    while time.monotonic() - start < duration:
        send()
        sent += 1
        next_t += period
        delay = next_t - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    wall = time.monotonic() - start
    result = {"topic": topic, "sent": sent, "cpu_percent": 100 * (_cpu_seconds() - cpu0) / wall}
    time.sleep(0.5)
    if mode == "node":
        node.destroy()
    else:
        session.close()
    return result


def _run_subscriber(mode: str) -> dict:
    from lerobot_ros.runtime import msgs

    received: dict[str, int] = {t: 0 for t, _, _ in _topics()}
    latencies: dict[str, list[float]] = {t: [] for t, _, _ in _topics()}
    dispatch: dict[str, list[float]] = {t: [] for t, _, _ in _topics()}
    stop = {"flag": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.update(flag=True))

    def record(topic: str, sec: int, nanosec: int) -> int:
        now = time.time_ns()
        latencies[topic].append((now - (sec * 1_000_000_000 + nanosec)) / 1e6)
        received[topic] += 1
        return now

    if mode == "node":
        from lerobot_ros.runtime import Node, QoSProfile

        node = Node("bench_sub", enable_rosout=False)
        subscriptions: dict = {}

        def on_msg(msg, topic: str) -> None:
            now = record(topic, msg.header.stamp.sec, msg.header.stamp.nanosec)
            # the node's own share: backend callback entry (before the payload copy) -> user callback
            dispatch[topic].append((now - subscriptions[topic].last_info.received_timestamp_ns) / 1e6)

        for topic, typename, _ in _topics():
            subscriptions[topic] = node.create_subscription(
                typename, topic, lambda m, t=topic: on_msg(m, t), QoSProfile(depth=10))
    else:
        import zenoh
        from lerobot_ros.runtime import wire
        from lerobot_ros.runtime.zenoh_backend import session_config

        session = zenoh.open(session_config())
        subs = []
        for topic, typename, _ in _topics():
            def callback(sample, t=topic) -> None:
                payload = sample.payload.to_bytes()
                wire.decode_attachment(sample.attachment.to_bytes())
                sec, nanosec = struct.unpack_from("<iI", payload, 4)
                record(t, sec, nanosec)

            key = wire.data_key(0, topic, typename, msgs.type_hash(typename))
            subs.append(session.declare_subscriber(key, zenoh.handlers.Callback(callback, None, indirect=False)))
    print("READY", flush=True)
    cpu0, start = _cpu_seconds(), time.monotonic()
    while not stop["flag"]:
        time.sleep(0.05)
    wall = time.monotonic() - start
    cpu = 100 * (_cpu_seconds() - cpu0) / wall
    drops = {}
    if mode == "node":
        drops = {t: {"queue_dropped": sub.queue_dropped, "transport_gaps": sub.lost,
                     "inline_runs": sub.dispatch.inline_runs, "queued_runs": sub.dispatch.queued_runs,
                     "demotions": sub.dispatch.demotions} for t, sub in subscriptions.items()}
        node.destroy()
    else:
        session.close()
    return {"received": received, "latencies_ms": latencies, "dispatch_ms": dispatch, "cpu_percent": cpu,
            "drops": drops}


# -- orchestration --------------------------------------------------------------------------------------------
def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)


def _run_round(mode: str, duration: float, endpoint: str, drop: bool) -> tuple[list[dict], dict]:
    """One round of ``mode``: a subscriber process, then the four publisher processes for ``duration`` s."""
    env = _env(endpoint)
    me = [sys.executable, str(Path(__file__).resolve())]
    sub = subprocess.Popen([*me, "--role", "sub", "--mode", mode, "--duration", str(duration)],
                           stdout=subprocess.PIPE, text=True, env=env)
    assert sub.stdout.readline().strip() == "READY"
    flags = ["--drop"] if drop else []
    pubs = [subprocess.Popen([*me, "--role", "pub", "--mode", mode, "--index", str(i), "--duration", str(duration),
                              *flags], stdout=subprocess.PIPE, text=True, env=env) for i in range(len(_topics()))]
    pub_results = [json.loads(p.communicate(timeout=duration + 60)[0].strip().splitlines()[-1]) for p in pubs]
    time.sleep(1.0)
    sub.send_signal(signal.SIGTERM)
    return pub_results, json.loads(sub.communicate(timeout=30)[0].strip().splitlines()[-1])


def _kind(typename: str) -> str:
    return typename.rsplit("/", 1)[-1].lower()  # image, jointstate


def _summarize(rounds: list[tuple[list[dict], dict]]) -> dict:
    topics = {}
    all_lat: list[float] = []
    by_kind: dict[str, dict[str, list[float]]] = {}
    cpu_sub, cpu_pubs = [], []
    for topic, typename, _ in _topics():
        sent = delivered = 0
        lat: list[float] = []
        disp: list[float] = []
        extra: dict[str, int] = {}
        cpu = []
        for pub_results, sub_result in rounds:
            res = next(r for r in pub_results if r["topic"] == topic)
            sent += res["sent"]
            delivered += sub_result["received"][topic]
            lat += sub_result["latencies_ms"][topic]
            disp += sub_result.get("dispatch_ms", {}).get(topic, [])
            cpu.append(res["cpu_percent"])
            for key, value in sub_result["drops"].get(topic, {}).items():
                extra[key] = extra.get(key, 0) + value
        all_lat += lat
        kind = by_kind.setdefault(_kind(typename), {"latency": [], "dispatch": []})
        kind["latency"] += lat
        kind["dispatch"] += disp
        topics[topic] = {"sent": sent, "delivered": delivered, "lost": sent - delivered,
                         "latency_ms_p50": _percentile(lat, 0.5), "latency_ms_p99": _percentile(lat, 0.99),
                         "latency_ms_max": round(max(lat), 3) if lat else None,
                         "publisher_cpu_percent": round(sum(cpu) / len(cpu), 1), **extra}
        if disp:
            topics[topic]["dispatch_ms_p50"] = _percentile(disp, 0.5)
            topics[topic]["dispatch_ms_p99"] = _percentile(disp, 0.99)
    for pub_results, sub_result in rounds:
        cpu_sub.append(sub_result["cpu_percent"])
        cpu_pubs.append(sum(r["cpu_percent"] for r in pub_results))
    types = {}
    for kind, values in by_kind.items():
        types[kind] = {"latency_ms_p50": _percentile(values["latency"], 0.5),
                       "latency_ms_p99": _percentile(values["latency"], 0.99)}
        if values["dispatch"]:
            types[kind]["dispatch_ms_p50"] = _percentile(values["dispatch"], 0.5)
            types[kind]["dispatch_ms_p99"] = _percentile(values["dispatch"], 0.99)
    return {
        "delivered": sum(t["delivered"] for t in topics.values()),
        "lost": sum(t["lost"] for t in topics.values()),
        "latency_ms_p50": _percentile(all_lat, 0.5),
        "latency_ms_p99": _percentile(all_lat, 0.99),
        "subscriber_cpu_percent": round(sum(cpu_sub) / len(cpu_sub), 1),
        "publishers_cpu_percent": round(sum(cpu_pubs) / len(cpu_pubs), 1),
        "types": types,
        "topics": topics,
    }


def _ratios(node: dict, raw: dict) -> dict:
    """node / raw_zenoh latency, p50 and p99, overall and per message type."""

    def ratio(a: float | None, b: float | None) -> float | None:
        return round(a / b, 2) if a is not None and b else None

    out = {"overall": {q: ratio(node[f"latency_ms_{q}"], raw[f"latency_ms_{q}"]) for q in ("p50", "p99")}}
    for kind, figures in node["types"].items():
        out[kind] = {q: ratio(figures[f"latency_ms_{q}"], raw["types"][kind][f"latency_ms_{q}"]) for q in ("p50", "p99")}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of publishing per mode (default 20)")
    parser.add_argument("--modes", default="node,raw_zenoh", help="comma-separated: node, raw_zenoh")
    parser.add_argument("--rounds", type=int, default=4,
                        help="split the duration into this many rounds per mode, alternating modes (default 4)")
    parser.add_argument("--drop", action="store_true",
                        help="publish images with the default QoS (congestion control DROP) instead of KEEP_ALL/BLOCK")
    parser.add_argument("--role", choices=["sub", "pub"], help=argparse.SUPPRESS)
    parser.add_argument("--mode", help=argparse.SUPPRESS)
    parser.add_argument("--index", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.role:  # a child: never hang the benchmark; dump stacks and exit if stuck
        faulthandler.dump_traceback_later(args.duration + 60 if args.role == "pub" else 4 * args.duration + 120,
                                          exit=True)
    if args.role == "pub":
        print(json.dumps(_run_publisher(args.mode, args.index, args.duration, not args.drop)), flush=True)
        return 0
    if args.role == "sub":
        print(json.dumps(_run_subscriber(args.mode)), flush=True)
        return 0

    endpoint = f"tcp/127.0.0.1:{_free_port()}"
    router = subprocess.Popen([sys.executable, "-m", "lerobot_ros.cli", "router", "--listen", endpoint],
                              stdout=subprocess.PIPE, text=True)
    router.stdout.readline()
    try:
        modes = args.modes.split(",")
        rounds: dict[str, list] = {mode: [] for mode in modes}
        for _ in range(args.rounds):  # modes alternate, so a load change on a shared machine hits both alike
            for mode in modes:
                rounds[mode].append(_run_round(mode, args.duration / args.rounds, endpoint, args.drop))
        results = {mode: _summarize(rounds[mode]) for mode in modes}
    finally:
        router.send_signal(signal.SIGINT)
        router.wait(10)
    out = {"benchmark": "transport", "duration_s": args.duration, "rounds": args.rounds, "cpu_count": os.cpu_count(),
           "load_average": [round(v, 2) for v in os.getloadavg()],
           "streams": f"{N_CAMERAS}x Image {WIDTH}x{HEIGHT} rgb8 @ {IMAGE_HZ:g} Hz + JointState @ {JOINT_HZ:g} Hz",
           "image_congestion_control": "drop" if args.drop else "block (RELIABLE + KEEP_ALL)",
           **results}
    ratios = _ratios(results["node"], results["raw_zenoh"]) if {"node", "raw_zenoh"} <= results.keys() else {}
    if ratios:
        out["node_vs_raw"] = ratios
    node = results.get("node", {})
    # "latency <= 1.3x raw" is judged on each message type's median: the overall median mixes ~0.5 ms JointStates
    # with ~3 ms Images (ill-conditioned, see the module docstring) and p99 has its own absolute target (two
    # separately run 20 s modes on a shared 2-core machine differ by +-30 % at p99 in raw alone).
    worst = max((figures["p50"] for kind, figures in ratios.items() if kind != "overall" and figures["p50"]),
                default=1e9)
    out["targets_met"] = {"zero_lost": node.get("lost") == 0,
                          "p99_le_15ms": (node.get("latency_ms_p99") or 1e9) <= 15.0,
                          "latency_le_1.3x_raw": worst <= 1.3}
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
