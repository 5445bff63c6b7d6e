"""InferenceEngine: triggering, latency compensation, fail-safes, fallback ladder, reset, pause, states."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from lerobot_core.inference import (
    BackendUnavailable,
    ChunkReply,
    ChunkRequest,
    ContractError,
    EngineConfig,
    EngineState,
    InferenceEngine,
)


class CountingBackend:
    """Deterministic test backend: chunk[i] = 100·request_number + i (robot space = model space + 1000)."""

    def __init__(self, horizon: int = 10, dim: int = 2) -> None:
        self.horizon, self.dim = horizon, dim
        self.requests: list[ChunkRequest] = []
        self.fail: Exception | None = None
        self.resets: list[int] = []
        self.connects = 0
        self.is_alive = True
        self.gate: threading.Event | None = None

    def connect(self) -> None:
        self.connects += 1
        if isinstance(self.fail, ContractError):
            raise self.fail

    def infer(self, request: ChunkRequest, timeout_s: float) -> ChunkReply:
        if self.gate is not None:
            self.gate.wait(5)
        if self.fail is not None:
            raise self.fail
        self.requests.append(request)
        base = 100.0 * len(self.requests)
        model = np.repeat((base + np.arange(self.horizon, dtype=np.float32))[:, None], self.dim, 1)
        return ChunkReply(chunk_model=model, chunk_robot=model + 1000, inference_ms=1.0)

    def alive(self) -> bool:
        return self.is_alive

    def reset(self, episode_id: int) -> None:
        self.resets.append(episode_id)

    def disconnect(self) -> None:
        pass

    def close(self) -> None:
        pass


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def make(backend=None, latency=0.1, **cfg):
    backend = backend or CountingBackend()
    clock = Clock()
    engine = InferenceEngine(backend, backend.dim, EngineConfig(fps=10, buffer_time_s=0.3, **cfg), task="t",
                             clock=clock, latency_override=lambda reply: latency)
    return engine, backend, clock


def obs() -> dict:
    return {"observation.state": np.zeros(2, np.float32)}


def test_requests_only_below_threshold_and_with_a_fresh_observation() -> None:
    engine, _backend, clock = make()
    assert not engine.run_once()  # no observation yet
    engine.notify_observation(obs(), stamp=clock.t)
    assert engine.run_once() and engine.queue.qsize() == 10
    assert engine.state is EngineState.STREAMING
    engine.notify_observation(obs(), stamp=clock.t)
    assert not engine.run_once()  # 10 queued × 0.1 s > 0.3 s buffer
    for _ in range(7):
        assert engine.pop_action(clock.t).kind == "policy"
    assert engine.run_once()  # 3 left ≤ 0.3 s
    assert not engine.run_once()  # the same observation is never used twice


def test_merge_drops_steps_executed_while_inferring_and_sends_the_prefix() -> None:
    engine, backend, clock = make(latency=0.25, execution_horizon=2)  # 3 steps at 10 Hz
    engine.notify_observation(obs(), stamp=clock.t)
    engine.run_once()
    for _ in range(7):
        engine.pop_action(clock.t)
    engine.notify_observation(obs(), stamp=clock.t)
    # the control loop pops 3 more while the request is in flight
    backend.gate = threading.Event()
    worker = threading.Thread(target=engine.run_once)
    worker.start()
    time.sleep(0.05)
    popped = [engine.pop_action(clock.t).values[0] for _ in range(3)]
    backend.gate.set()
    worker.join()
    assert popped == [1107.0, 1108.0, 1109.0]
    req = backend.requests[-1]
    assert req.prefix_model[:, 0].tolist() == [107.0, 108.0]  # the remaining prefix of the previous chunk
    assert req.delay_steps == 3  # from the latency tracker (0.25 s at 10 Hz)
    assert engine.queue.contents()[1][:, 0].tolist() == [1203.0 + i for i in range(7)]


def test_stale_observation_stops_inference() -> None:
    engine, backend, clock = make(max_observation_age_s=0.5)
    engine.notify_observation(obs(), stamp=clock.t - 1.0)
    assert not engine.run_once()
    assert engine.counters["stale_observations"] == 1 and not backend.requests


@pytest.mark.parametrize("mode,expected", [("hold", None), ("zero", [0.0, 0.0]), ("repeat_last", [1109.0, 1109.0])])
def test_fallback_ladder_on_empty_queue(mode, expected) -> None:
    engine, _backend, clock = make(fallback=mode)
    engine.notify_observation(obs(), stamp=clock.t)
    engine.run_once()
    for _ in range(10):
        assert engine.pop_action(clock.t).kind == "policy"
    popped = engine.pop_action(clock.t)
    assert popped.kind == mode
    assert (popped.values is None) if expected is None else popped.values.tolist() == expected
    assert engine.state is EngineState.STALLED and engine.counters["starvation"] == 1


def test_actions_older_than_max_action_age_are_not_executed() -> None:
    engine, _backend, clock = make(max_action_age_s=3.0, fallback="hold")
    engine.notify_observation(obs(), stamp=clock.t)
    engine.run_once()
    clock.t += 3.5
    assert engine.pop_action().kind == "hold"
    assert engine.stats()["stale_actions"] == 10


def test_reset_discards_queue_and_in_flight_reply_and_resets_backend() -> None:
    engine, backend, clock = make()
    engine.notify_observation(obs(), stamp=clock.t)
    engine.run_once()
    assert backend.requests[0].episode_start
    engine.notify_observation(obs(), stamp=clock.t)
    for _ in range(8):
        engine.pop_action(clock.t)
    backend.gate = threading.Event()
    worker = threading.Thread(target=engine.run_once)
    worker.start()
    time.sleep(0.05)
    engine.reset()  # episode boundary while a chunk is in flight
    backend.gate.set()
    worker.join()
    assert engine.queue.qsize() == 0 and engine.counters["discarded_replies"] == 1
    assert engine.pop_action(clock.t).kind == "hold"
    backend.gate = None
    engine.notify_observation(obs(), stamp=clock.t)
    assert engine.run_once()
    assert backend.resets == [1] and backend.requests[-1].episode_start and backend.requests[-1].episode_id == 1


def test_pause_and_resume() -> None:
    engine, _backend, clock = make()
    engine.notify_observation(obs(), stamp=clock.t)
    engine.run_once()
    engine.pause()
    assert engine.pop_action(clock.t).kind == "hold"
    engine.notify_observation(obs(), stamp=clock.t)
    assert not engine.run_once()
    engine.resume()
    assert engine.queue.qsize() == 0  # actions from before the intervention are dropped
    engine.notify_observation(obs(), stamp=clock.t)
    assert engine.run_once() and engine.pop_action(clock.t).kind == "policy"


def test_timeouts_degrade_then_reconnect_then_die() -> None:
    engine, backend, clock = make(request_timeout_s=1.0, max_offline_s=5.0, reconnect_initial_backoff_s=0.0)
    engine.notify_observation(obs(), stamp=clock.t)
    engine.run_once()
    for _ in range(8):
        engine.pop_action(clock.t)
    backend.fail = BackendUnavailable("timeout")
    engine.notify_observation(obs(), stamp=clock.t)
    engine.run_once()
    assert engine.state is EngineState.DEGRADED  # actions remain
    engine.pop_action(clock.t), engine.pop_action(clock.t)
    assert engine.pop_action(clock.t).kind == "hold" and engine.state is EngineState.STALLED
    backend.is_alive = False
    engine.notify_observation(obs(), stamp=clock.t)
    engine.run_once()
    assert engine.state is EngineState.RECONNECTING
    backend.fail = None
    backend.is_alive = True
    engine.notify_observation(obs(), stamp=clock.t)
    assert engine.run_once()
    assert engine.state is EngineState.STREAMING and engine.counters["reconnects"] == 1
    # offline past max_offline_s → DEAD
    backend.fail = BackendUnavailable("timeout")
    engine.queue.clear()
    for _ in range(3):
        clock.t += 4.0
        engine.notify_observation(obs(), stamp=clock.t)
        engine.run_once()
    assert engine.state is EngineState.DEAD and engine.failed
    assert engine.pop_action(clock.t).kind == "hold"


def test_contract_error_is_fatal() -> None:
    backend = CountingBackend()
    backend.fail = ContractError("different model")
    engine, _, clock = make(backend)
    with pytest.raises(ContractError):
        engine.start()
    engine.notify_observation(obs(), stamp=clock.t)
    engine.run_once()
    assert engine.failed and engine.state is EngineState.DEAD


def test_background_worker_keeps_the_queue_filled() -> None:
    backend = CountingBackend(horizon=6)
    engine = InferenceEngine(backend, 2, EngineConfig(fps=200, buffer_time_s=0.01))
    engine.start()
    kinds = []
    try:
        deadline = time.monotonic() + 0.5
        while time.monotonic() < deadline:
            engine.notify_observation(obs())
            kinds.append(engine.pop_action().kind)
            time.sleep(0.005)
    finally:
        engine.stop()
    assert kinds.count("policy") >= 5
    stats = engine.stats()
    assert stats["merges"] >= 2 and stats["latency_ms_p99"] >= stats["latency_ms_p50"] > 0


def test_background_connect_gives_up_after_max_offline() -> None:
    class NeverThere(CountingBackend):
        def connect(self) -> None:
            self.connects += 1
            raise BackendUnavailable("no server")

    backend = NeverThere()
    engine = InferenceEngine(backend, 2, EngineConfig(max_offline_s=0.3, reconnect_initial_backoff_s=0.02,
                                                      reconnect_max_backoff_s=0.05))
    engine.start(connect=False)  # the worker connects; start() returns at once
    try:
        assert engine.dead.wait(5.0)
        assert engine.state is EngineState.DEAD and backend.connects >= 2
        assert engine.pop_action().kind == "hold"
    finally:
        engine.stop()
