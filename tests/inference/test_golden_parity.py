"""Golden parity: remote inference (encode → Zenoh → server decode → compute → encode → Zenoh → decode →
merge) yields byte-identical merged action queues and popped actions to local inference on the same inputs,
with the same injected latencies."""

from __future__ import annotations

import itertools

import numpy as np

from lerobot_core.inference import EngineConfig, InferenceEngine, LocalPolicyBackend
from lerobot_core.inference.remote import RemoteInferenceConfig, RemotePolicyBackend

from .conftest import ACTION_NAMES, CAMERAS, STATE_DIM, make_observation

LATENCIES_S = [0.0, 0.05, 0.1, 0.2, 0.034, 0.5]
POPS_PER_CYCLE = [0, 3, 5, 2, 7, 4, 1, 6]


class FixedClock:
    t = 50.0

    def __call__(self) -> float:
        return self.t


def drive(engine: InferenceEngine, clock: FixedClock) -> list[tuple]:
    trace = []
    pops = itertools.cycle(POPS_PER_CYCLE)
    for step in range(14):
        if step == 8:
            engine.reset()  # an episode boundary in the middle
        engine.notify_observation(make_observation(100 + step), task="stack", stamp=clock.t)
        merged = engine.run_once()
        model, robot = engine.queue.contents()
        trace.append(("merge", merged, model.tobytes(), robot.tobytes()))
        for _ in range(next(pops)):
            popped = engine.pop_action()
            trace.append(("pop", popped.kind, None if popped.values is None else popped.values.tobytes()))
            clock.t += 1 / 30
    return trace


def test_remote_and_local_merged_queues_are_identical(zenoh_router, make_server, tiny_checkpoint) -> None:
    config = dict(fps=30, buffer_time_s=0.2, max_observation_age_s=1.0, execution_horizon=4)

    local_clock = FixedClock()
    lat_local = itertools.cycle(LATENCIES_S)
    local = InferenceEngine(LocalPolicyBackend.from_pretrained(tiny_checkpoint), len(ACTION_NAMES),
                            EngineConfig(**config), clock=local_clock, latency_override=lambda r: next(lat_local))
    local.connect()
    local_trace = drive(local, local_clock)

    server = make_server()
    remote_clock = FixedClock()
    lat_remote = itertools.cycle(LATENCIES_S)
    backend = RemotePolicyBackend(
        RemoteInferenceConfig(connect_endpoint=zenoh_router, service_model_id=str(tiny_checkpoint), jpeg_quality=0),
        action_names=list(ACTION_NAMES), camera_names=list(CAMERAS), state_dim=STATE_DIM, fps=30, task="stack")
    remote = InferenceEngine(backend, len(ACTION_NAMES), EngineConfig(**config), clock=remote_clock,
                             latency_override=lambda r: next(lat_remote))
    remote.connect()
    try:
        remote_trace = drive(remote, remote_clock)
    finally:
        remote.stop()

    assert sum(1 for t in local_trace if t[0] == "merge" and t[1]) >= 6
    assert any(t[0] == "pop" and t[1] == "policy" for t in local_trace)
    assert server.metrics["requests_total"] == local.counters["requests"] == remote.counters["merges"]
    assert len(remote_trace) == len(local_trace)
    for i, (a, b) in enumerate(zip(local_trace, remote_trace)):
        assert a == b, f"traces differ at entry {i}: {a[:2]} vs {b[:2]}"
    assert local.stats()["stale_chunks"] == remote.stats()["stale_chunks"]
    assert np.array_equal(local.queue.contents()[1], remote.queue.contents()[1])
