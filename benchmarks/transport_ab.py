"""JointState latency, node API vs raw Zenoh, interleaved in the same two processes under image load (prints JSON).

``transport.py`` runs each mode in its own processes, one after the other, so a load change between modes moves
their ratio (±0.1 on the shared 2-core development machine). Here one publisher process sends every variant's
JointState stream in turn (one message every 10 ms, variants round-robin) and one subscriber process receives
them all, while three raw-Zenoh 640x480 rgb8 Image publishers at 30 Hz load the machine as in ``transport.py``:
machine drift hits every variant alike. Variants:

- ``raw``: Zenoh ``put``/``subscribe`` of CDR bytes with the rmw_zenoh attachment (``transport.py``'s floor);
- ``node``: ``msg.header.stamp = node.now(); pub.publish(msg)`` into a node subscription's callback;
- ``node_bytes``: the node API with CDR bytes both ways (``publish(cdr)``, ``raw=True``): the codec's share.

Reported per variant: latency p50/p90/p99 (header stamp to callback, ms), the publisher's own cost per message
(stamp to publish return, µs), the node subscriptions' inline/queued/demoted counts, and p50 ratios to ``raw``.

    python benchmarks/transport_ab.py [--duration 30] [--variants raw,node,node_bytes]
"""

from __future__ import annotations

import argparse
import json
import signal
import struct
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import transport  # benchmarks/transport.py: the same messages, environment and percentiles

JOINT_STATE = "sensor_msgs/msg/JointState"
VARIANTS = ("raw", "node", "node_bytes")
PERIOD_S = 0.01


def _topic(variant: str) -> str:
    return f"/ab/{variant}/joint_states"


def _sender(variant: str, node, session) -> Callable[[], None]:
    import zenoh
    from lerobot_ros.runtime import QoSProfile, msgs, wire

    msg = transport._message(JOINT_STATE)
    cdr = bytearray(msgs.serialize(msg))
    if variant == "raw":
        key = wire.data_key(0, _topic(variant), JOINT_STATE, msgs.type_hash(JOINT_STATE))
        zpub = session.declare_publisher(key, congestion_control=zenoh.CongestionControl.DROP)
        gid, seq = bytes(range(16)), [0]

        def send_raw() -> None:
            seq[0] += 1
            transport._stamp_cdr(cdr)
            zpub.put(bytes(cdr), attachment=wire.encode_attachment(seq[0], time.time_ns(), gid))
        return send_raw
    pub = node.create_publisher(JOINT_STATE, _topic(variant), QoSProfile(depth=10))
    if variant == "node_bytes":
        def send_bytes() -> None:
            transport._stamp_cdr(cdr)
            pub.publish(bytes(cdr))
        return send_bytes

    def send_msg() -> None:
        msg.header.stamp = node.now()
        pub.publish(msg)
    return send_msg


def _run_publisher(variants: list[str], duration: float) -> dict:
    from lerobot_ros.runtime import Node
    from lerobot_ros.runtime.zenoh_backend import get_default_context

    node = Node("ab_pub", enable_rosout=False)
    senders = [_sender(v, node, get_default_context().session) for v in variants]
    for v in variants:  # raw Zenoh subscribers declare no liveliness token: the second below covers them
        if v != "raw" and not node.backend.graph.wait_until(lambda g, v=v: g.count_subscribers(_topic(v)) > 0, 10):
            raise SystemExit(f"no subscriber for {_topic(v)}")
    time.sleep(1.0)
    cost: dict[str, list[float]] = {v: [] for v in variants}
    start = next_t = time.monotonic()
    i = 0
    while time.monotonic() - start < duration:
        t0 = time.perf_counter_ns()
        senders[i % len(variants)]()
        cost[variants[i % len(variants)]].append((time.perf_counter_ns() - t0) / 1e3)
        i += 1
        next_t += PERIOD_S
        delay = next_t - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    time.sleep(0.5)
    node.destroy()
    return {"publish_us_p50": {v: transport._percentile(c, 0.5) for v, c in cost.items()}}


def _run_subscriber(variants: list[str]) -> dict:
    import zenoh
    from lerobot_ros.runtime import Node, QoSProfile, msgs, wire
    from lerobot_ros.runtime.zenoh_backend import get_default_context

    node = Node("ab_sub", enable_rosout=False)
    latencies: dict[str, list[float]] = {v: [] for v in variants}
    stop = {"flag": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.update(flag=True))

    def record(variant: str, sec: int, nanosec: int) -> None:
        latencies[variant].append((time.time_ns() - (sec * 1_000_000_000 + nanosec)) / 1e6)

    keep, subs = [], {}
    for v in variants:
        if v == "raw":
            def on_sample(sample, v=v) -> None:
                payload = sample.payload.to_bytes()
                wire.decode_attachment(sample.attachment.to_bytes())
                record(v, *struct.unpack_from("<iI", payload, 4))
            key = wire.data_key(0, _topic(v), JOINT_STATE, msgs.type_hash(JOINT_STATE))
            keep.append(get_default_context().session.declare_subscriber(
                key, zenoh.handlers.Callback(on_sample, None, indirect=False)))
        elif v == "node_bytes":
            subs[v] = node.create_subscription(JOINT_STATE, _topic(v),
                                               lambda cdr, v=v: record(v, *struct.unpack_from("<iI", cdr, 4)),
                                               QoSProfile(depth=10), raw=True)
        else:
            subs[v] = node.create_subscription(
                JOINT_STATE, _topic(v), lambda m, v=v: record(v, m.header.stamp.sec, m.header.stamp.nanosec),
                QoSProfile(depth=10))
    print("READY", flush=True)
    while not stop["flag"]:
        time.sleep(0.05)
    dispatch = {v: {"inline_runs": s.dispatch.inline_runs, "queued_runs": s.dispatch.queued_runs,
                    "demotions": s.dispatch.demotions} for v, s in subs.items()}
    node.destroy()
    return {"latencies_ms": latencies, "dispatch": dispatch}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of publishing (default 30)")
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated, first is the reference: "
                                                                       f"{', '.join(VARIANTS)}")
    parser.add_argument("--role", choices=["sub", "pub"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    variants = args.variants.split(",")
    unknown = set(variants) - set(VARIANTS)
    if unknown:
        parser.error(f"--variants: unknown {sorted(unknown)}; choose from {', '.join(VARIANTS)}")
    if args.role == "pub":
        print(json.dumps(_run_publisher(variants, args.duration)), flush=True)
        return 0
    if args.role == "sub":
        print(json.dumps(_run_subscriber(variants)), flush=True)
        return 0

    endpoint = f"tcp/127.0.0.1:{transport._free_port()}"
    env = transport._env(endpoint)
    me = [sys.executable, str(Path(__file__).resolve()), "--variants", args.variants]
    images = [sys.executable, str(Path(transport.__file__).resolve())]
    router = subprocess.Popen([sys.executable, "-m", "lerobot_ros.cli", "router", "--listen", endpoint],
                              stdout=subprocess.PIPE, text=True)
    router.stdout.readline()
    procs: list[subprocess.Popen] = []
    try:
        sub = subprocess.Popen([*me, "--role", "sub"], stdout=subprocess.PIPE, text=True, env=env)
        image_sub = subprocess.Popen([*images, "--role", "sub", "--mode", "raw_zenoh"], stdout=subprocess.PIPE,
                                     text=True, env=env)
        procs += [sub, image_sub]
        for proc in (sub, image_sub):
            if proc.stdout.readline().strip() != "READY":
                raise SystemExit("a subscriber did not start")
        procs += [subprocess.Popen([*images, "--role", "pub", "--mode", "raw_zenoh", "--index", str(i),
                                    "--duration", str(args.duration + 3)], stdout=subprocess.PIPE, text=True,
                                   env=env) for i in range(transport.N_CAMERAS)]
        pub = subprocess.Popen([*me, "--role", "pub", "--duration", str(args.duration)], stdout=subprocess.PIPE,
                               text=True, env=env)
        procs.append(pub)
        published = json.loads(pub.communicate(timeout=args.duration + 60)[0].strip().splitlines()[-1])
        for proc in procs[2:]:
            proc.communicate(timeout=60)
        time.sleep(0.5)
        for proc in (sub, image_sub):
            proc.send_signal(signal.SIGTERM)
        received = json.loads(sub.communicate(timeout=30)[0].strip().splitlines()[-1])
        image_sub.communicate(timeout=30)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
        router.send_signal(signal.SIGINT)
        router.wait(10)
    out: dict = {"benchmark": "transport_ab", "duration_s": args.duration, "variants": {}}
    for v in variants:
        lat = received["latencies_ms"][v]
        out["variants"][v] = {"delivered": len(lat), **{f"latency_ms_{q}": transport._percentile(lat, x)
                                                         for q, x in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99))},
                              "publish_us_p50": published["publish_us_p50"][v],
                              **received["dispatch"].get(v, {})}
    reference = out["variants"][variants[0]]["latency_ms_p50"]
    out["p50_vs_" + variants[0]] = {v: round(f["latency_ms_p50"] / reference, 2) for v, f in out["variants"].items()}
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
