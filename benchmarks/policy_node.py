"""Policy-serving speed: remote-vs-local overhead on loopback and the control loop's period error.

Prints one JSON object with one entry per section:

- ``remote_overhead``: the upstream ACT fixture served by ``PolicyServer`` through an in-process Zenoh
  router on loopback; two 480×640 cameras and a 6-D state. For each request: the client round trip minus
  the server's reported inference time = transport + (de)serialization + queueing (target ≤ 10 ms), for raw
  pixels and for JPEG (quality 90); plus the local compute time of the same request for comparison.
- ``engine_control_loop``: an :class:`InferenceEngine` with the local backend while inference runs in its
  worker thread; a 30 Hz loop on the monotonic clock pops one action per tick; tick lateness p50/p99
  (target p99 ≤ 3 ms on 2 cores) and ``pop_action`` cost.

The ROS policy node adds its own section (publishing included) by registering a function in ``SECTIONS``.

    python benchmarks/policy_node.py [--sections remote_overhead,engine_control_loop] [--requests 40]
                                     [--duration 10]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from lerobot_core.inference import ChunkRequest, EngineConfig, InferenceEngine, LocalPolicyBackend

FIXTURE = Path(__file__).resolve().parents[1] / ".." / "shared" / "fixtures" / "upstream_lerobot" / "act" / \
    "pretrained_model"
TARGETS = {"remote_overhead_ms_p50": 10.0, "control_period_error_ms_p99": 3.0}


def _observation(rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {"observation.state": rng.normal(size=6).astype(np.float32),
            "observation.images.front": rng.integers(0, 256, (480, 640, 3), dtype=np.uint8),
            "observation.images.wrist": rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)}


def _pct(values: list[float]) -> dict[str, float]:
    arr = np.asarray(values, dtype=np.float64)
    return {"p50": round(float(np.percentile(arr, 50)), 3), "p99": round(float(np.percentile(arr, 99)), 3),
            "max": round(float(arr.max()), 3), "n": len(values)}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def remote_overhead(args: argparse.Namespace) -> dict[str, Any]:
    import zenoh

    from lerobot_core.inference.manifest import ModelSpec, PolicyServerManifest, ZenohSpec
    from lerobot_core.inference.remote import RemoteInferenceConfig, RemotePolicyBackend
    from lerobot_core.inference.server import PolicyServer

    endpoint = f"tcp/127.0.0.1:{_free_port()}"
    conf = zenoh.Config()
    conf.insert_json5("mode", '"router"')
    conf.insert_json5("listen/endpoints", json.dumps([endpoint]))
    conf.insert_json5("scouting/multicast/enabled", "false")
    router = zenoh.open(conf)
    model = str(args.model)
    server = PolicyServer(PolicyServerManifest(model=ModelSpec(repo_or_path=model), default_task="bench",
                                               zenoh=ZenohSpec(connect_endpoints=[endpoint]), health_port=0))
    server.load_policy()
    server.start()
    local = LocalPolicyBackend.from_pretrained(model)
    rng = np.random.default_rng(0)
    out: dict[str, Any] = {"model": "upstream ACT fixture (chunk 10, dim_model 64)", "cameras": "2 × 480×640"}
    try:
        local_ms = []
        for i in range(max(5, args.requests // 2) + 3):
            t0 = time.perf_counter()
            local.infer(ChunkRequest(observation=_observation(rng), task="bench"), 5.0)
            if i >= 3:  # warm-up
                local_ms.append((time.perf_counter() - t0) * 1e3)
        out["local_request_ms"] = _pct(local_ms)
        for name, quality in (("raw", 0), ("jpeg90", 90)):
            backend = RemotePolicyBackend(
                RemoteInferenceConfig(connect_endpoint=endpoint, service_model_id=model, jpeg_quality=quality),
                action_names=[], camera_names=sorted(server.policy.config.image_features), state_dim=6, fps=30,
                task="bench")
            backend.connect()
            overhead, total, encode = [], [], []
            for i in range(args.requests + 3):
                request = ChunkRequest(observation=_observation(rng), task="bench", episode_id=0)
                t0 = time.perf_counter()
                backend.encode_request(request)
                t_enc = time.perf_counter() - t0
                t0 = time.perf_counter()
                reply = backend.infer(request, 10.0)
                rtt = (time.perf_counter() - t0) * 1e3
                if i >= 3:  # warm-up
                    total.append(rtt)
                    overhead.append(rtt - reply.inference_ms)
                    encode.append(t_enc * 1e3)
            backend.close()
            out[name] = {"round_trip_ms": _pct(total), "overhead_ms": _pct(overhead),
                         "client_encode_ms": _pct(encode)}
    finally:
        server.stop()
        router.close()
    return out


def engine_control_loop(args: argparse.Namespace) -> dict[str, Any]:
    backend = LocalPolicyBackend.from_pretrained(str(args.model))
    engine = InferenceEngine(backend, backend.action_dim, EngineConfig(fps=30, buffer_time_s=0.2), task="bench")
    rng = np.random.default_rng(1)
    frames = [_observation(rng) for _ in range(4)]
    engine.start()
    period = 1 / 30
    lateness, pop_cost = [], []
    try:
        next_tick = time.monotonic() + period
        end = next_tick + args.duration
        i = 0
        while next_tick < end:
            delay = next_tick - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            now = time.monotonic()
            lateness.append((now - next_tick) * 1e3)
            engine.notify_observation(frames[i % len(frames)], stamp=now)
            t0 = time.perf_counter()
            engine.pop_action()
            pop_cost.append((time.perf_counter() - t0) * 1e3)
            i += 1
            next_tick += period
    finally:
        engine.stop()
    stats = engine.stats()
    return {"fps": 30, "duration_s": args.duration, "period_error_ms": _pct(lateness), "pop_action_ms": _pct(pop_cost),
            "inference_ms_p50": round(stats["inference_ms_p50"], 2), "merges": stats["merges"],
            "starvation": stats["starvation"]}


SECTIONS: dict[str, Callable[[argparse.Namespace], dict[str, Any]]] = {
    "remote_overhead": remote_overhead,
    "engine_control_loop": engine_control_loop,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sections", default=",".join(SECTIONS))
    parser.add_argument("--model", default=str(FIXTURE.resolve()))
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--duration", type=float, default=10.0)
    args = parser.parse_args()
    result: dict[str, Any] = {"cpu_count": os.cpu_count(), "targets": TARGETS}
    for name in args.sections.split(","):
        result[name] = SECTIONS[name](args)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
