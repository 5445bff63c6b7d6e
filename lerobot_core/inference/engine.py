"""Asynchronous chunked inference: a background worker keeps an :class:`ActionQueue` filled while the
control loop pops one action per tick without ever blocking.

The same engine drives local inference (:class:`~lerobot_core.inference.local.LocalPolicyBackend`) and remote
inference (:class:`~lerobot_core.inference.remote.RemotePolicyBackend`): only the backend differs, so both
paths merge chunks identically.

Control side (any thread, never blocks on inference or I/O)::

    engine.notify_observation(obs, task="pick", stamp=time.monotonic())
    action = engine.pop_action()           # PoppedAction(values, kind): kind "policy" | "hold" | ...

Worker cycle (one request in flight): wait until the queue holds ≤ ``buffer_time_s`` of playback and a
new observation no older than ``max_observation_age_s`` is there → snapshot ``idx_before`` and the RTC
prefix → ``backend.infer`` → measure the latency on the local monotonic clock → merge (dropping the stale
prefix, see :mod:`~lerobot_core.inference.action_queue`).

States: CONNECTING → STREAMING (first merge) → DEGRADED (a request outstanding for ``degraded_after_s`` or
timed out while actions remain) → STALLED (queue empty) → RECONNECTING (timeout streak or backend not alive;
exponential backoff) → DEAD (offline longer than ``max_offline_s`` or a contract mismatch). A merge returns
to STREAMING.
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

import numpy as np

from lerobot_core.inference.action_queue import (
    ActionQueue,
    FallbackMode,
    LatencyTracker,
    MergeMode,
    delay_steps,
)
from lerobot_core.inference.policy_runner import ChunkReply, ChunkRequest

_log = logging.getLogger(__name__)


class BackendUnavailable(RuntimeError):
    """The backend cannot answer now (timeout, server gone); the engine retries."""


class ContractError(RuntimeError):
    """The backend can never serve this client (model/action mismatch, refused session): fatal."""


class InferenceBackend(Protocol):
    def connect(self) -> None: ...
    def infer(self, request: ChunkRequest, timeout_s: float) -> ChunkReply: ...
    def alive(self) -> bool: ...
    def reset(self, episode_id: int) -> None: ...
    def disconnect(self) -> None: ...
    def close(self) -> None: ...


class EngineState(str, enum.Enum):
    CONNECTING = "CONNECTING"
    STREAMING = "STREAMING"
    DEGRADED = "DEGRADED"
    STALLED = "STALLED"
    RECONNECTING = "RECONNECTING"
    DEAD = "DEAD"


@dataclass
class EngineConfig:
    fps: float = 30.0
    buffer_time_s: float = 0.5  # request a chunk when the queue holds at most this much playback
    max_observation_age_s: float = 0.5  # older observations never start an inference
    max_action_age_s: float = 3.0  # actions computed from older observations are dropped, never executed
    fallback: FallbackMode = FallbackMode.HOLD
    merge_mode: MergeMode = MergeMode.REPLACE
    execution_horizon: int = 10  # RTC prefix length sent with each request
    degraded_after_s: float = 1.0
    request_timeout_s: float = 5.0
    reconnect_initial_backoff_s: float = 0.5
    reconnect_max_backoff_s: float = 10.0
    max_offline_s: float = 60.0

    def __post_init__(self) -> None:
        self.fallback = FallbackMode(self.fallback)
        self.merge_mode = MergeMode(self.merge_mode)
        if self.fps <= 0:
            raise ValueError(f"fps must be > 0, got {self.fps}")
        for name in ("buffer_time_s", "max_observation_age_s", "max_action_age_s", "request_timeout_s"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")


class PoppedAction(NamedTuple):
    values: np.ndarray | None  # None with kind "hold": keep commanding the current position
    kind: str  # "policy" | "hold" | "repeat_last" | "zero"


class _Observation(NamedTuple):
    data: dict[str, np.ndarray]
    task: str
    stamp: float
    seq: int


class InferenceEngine:
    """Background chunk inference feeding an :class:`ActionQueue` (see the module docstring)."""

    def __init__(self, backend: InferenceBackend, action_dim: int, config: EngineConfig | None = None, *,
                 task: str = "", clock: Callable[[], float] = time.monotonic,
                 latency_override: Callable[[ChunkReply], float] | None = None) -> None:
        self.backend = backend
        self.config = config or EngineConfig()
        self.action_dim = int(action_dim)
        self.dt = 1.0 / self.config.fps
        self.task = task
        self.queue = ActionQueue(self.action_dim, self.config.merge_mode)
        self.latency = LatencyTracker()
        self._clock = clock
        self._latency_override = latency_override
        self._lock = threading.Lock()  # observation slot, episode bookkeeping, state
        self._wake = threading.Event()
        self._stop = threading.Event()
        self.dead = threading.Event()  # set once in DEAD: the caller should shut down
        self._thread: threading.Thread | None = None
        self._obs: _Observation | None = None
        self._obs_seq = 0
        self._last_used_seq = 0
        self._episode_id = 0
        self._episode_start = True
        self._pending_reset = False
        self._paused = False
        self._connected = False
        self._state = EngineState.CONNECTING
        self._last_action: np.ndarray | None = None
        self._in_flight_since: float | None = None
        self._offline_since: float | None = None
        self._server_ms: deque[float] = deque(maxlen=100)
        self.counters = dict(requests=0, merges=0, timeouts=0, errors=0, reconnects=0, starvation=0,
                             fallbacks=0, stale_observations=0, discarded_replies=0)

    # ------------------------------------------------------------------------------------------- control side
    def notify_observation(self, observation: dict[str, np.ndarray], task: str | None = None,
                           stamp: float | None = None) -> None:
        """Offer the newest observation (latest wins); ``stamp`` is its monotonic capture time."""
        with self._lock:
            self._obs_seq += 1
            self._obs = _Observation(observation, self.task if task is None else task,
                                     self._clock() if stamp is None else float(stamp), self._obs_seq)
        self._wake.set()

    def pop_action(self, now: float | None = None) -> PoppedAction:
        """One action for this control tick: from the queue, or the fallback ladder. Never blocks."""
        now = self._clock() if now is None else now
        if not self._paused and self._state is not EngineState.DEAD:
            values = self.queue.pop(now, self.config.max_action_age_s)
            if values is not None:
                self._last_action = values
                if self._needs_chunk():
                    self._wake.set()
                in_flight = self._in_flight_since
                if (self._state is EngineState.STREAMING and in_flight is not None
                        and now - in_flight > self.config.degraded_after_s):
                    self._state = EngineState.DEGRADED
                return PoppedAction(values, "policy")
            with self._lock:
                if self.counters["merges"]:  # starving after the first chunk (not while warming up)
                    self.counters["starvation"] += 1
                if self._state in (EngineState.STREAMING, EngineState.DEGRADED):
                    self._state = EngineState.STALLED
            self._wake.set()
        return self._fallback()

    def _fallback(self) -> PoppedAction:
        self.counters["fallbacks"] += 1
        mode = self.config.fallback
        if mode is FallbackMode.ZERO:
            return PoppedAction(np.zeros(self.action_dim, np.float32), "zero")
        if mode is FallbackMode.REPEAT_LAST and self._last_action is not None:
            return PoppedAction(self._last_action.copy(), "repeat_last")
        return PoppedAction(None, "hold")

    def reset(self) -> None:
        """Episode boundary: drop queued actions and the observation, discard any in-flight chunk."""
        with self._lock:
            self.queue.clear()
            self._episode_id += 1
            self._episode_start = True
            self._pending_reset = True
            self._obs = None
            self._last_action = None
        self._wake.set()

    def pause(self) -> None:
        """Stop requesting chunks (human intervention); pops return the fallback."""
        self._paused = True

    def resume(self) -> None:
        """Resume after a pause; actions computed before the pause are dropped."""
        with self._lock:
            self.queue.clear()
            self._obs = None
            self._paused = False
            self._offline_since = None if self._offline_since is None else self._clock()
        self._wake.set()

    @property
    def state(self) -> EngineState:
        return self._state

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def failed(self) -> bool:
        return self.dead.is_set()

    @property
    def episode_id(self) -> int:
        return self._episode_id

    def stats(self) -> dict[str, Any]:
        server = np.asarray(self._server_ms) if self._server_ms else np.zeros(1)
        return dict(
            state=self._state.value, paused=self._paused, queue_depth=self.queue.qsize(),
            latency_ms_p50=self.latency.percentile(50) * 1e3, latency_ms_p99=self.latency.percentile(99) * 1e3,
            inference_ms_p50=float(np.percentile(server, 50)), inference_ms_p99=float(np.percentile(server, 99)),
            stale_actions=self.queue.stale_drops, stale_chunks=self.queue.stale_chunks, **self.counters)

    # ----------------------------------------------------------------------------------------------- lifecycle
    def start(self, connect: bool = True) -> None:
        """Connect the backend (errors propagate: a bad deployment fails before the robot moves) and start
        the worker thread."""
        if connect:
            self.connect()
        self._stop.clear()
        self._thread = threading.Thread(target=self._worker, name="InferenceEngine", daemon=True)
        self._thread.start()

    def connect(self) -> None:
        """Handshake with the backend now (raises :class:`ContractError` / :class:`BackendUnavailable`)."""
        self.backend.connect()
        self._connected = True

    def stop(self, timeout: float | None = None) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout if timeout is not None else self.config.request_timeout_s + 2.0)
            self._thread = None
        try:
            self.backend.close()
        except Exception:
            _log.exception("closing the inference backend failed")

    # --------------------------------------------------------------------------------------------- worker side
    def _worker(self) -> None:
        while not self._stop.is_set():
            try:
                if self._state is EngineState.DEAD:
                    break
                if not self.run_once():
                    self._wake.wait(min(self.dt / 2, 0.02))
                    self._wake.clear()
            except Exception:
                self.counters["errors"] += 1
                _log.exception("inference cycle failed")
                self._stop.wait(0.1)

    def _go_dead(self, reason: str) -> None:
        _log.error("inference engine DEAD: %s", reason)
        self._state = EngineState.DEAD
        self.dead.set()

    def _ensure_connected(self) -> bool:
        if self._connected:
            return True
        backoff = self.config.reconnect_initial_backoff_s
        while not self._stop.is_set():
            try:
                self.backend.connect()
            except ContractError as exc:
                self._go_dead(f"backend refused this client: {exc}")
                return False
            except Exception as exc:
                now = self._clock()
                if self._offline_since is None or self._paused:  # paused time is not offline time
                    self._offline_since = now
                offline = now - self._offline_since
                if offline > self.config.max_offline_s:
                    self._go_dead(f"offline for {offline:.1f} s > max_offline_s={self.config.max_offline_s}")
                    return False
                _log.warning("reconnect failed (%s); retrying in %.1f s", exc, backoff)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, self.config.reconnect_max_backoff_s)
                continue
            self._connected = True
            if self._state is EngineState.RECONNECTING:
                self.counters["reconnects"] += 1
            return True
        return False

    def _enter_reconnect(self) -> None:
        self._state = EngineState.RECONNECTING
        self._connected = False
        if self._offline_since is None:
            self._offline_since = self._clock()
        try:
            self.backend.disconnect()
        except Exception:
            _log.exception("backend disconnect failed")

    def _needs_chunk(self) -> bool:
        return self.queue.qsize() * self.dt <= self.config.buffer_time_s + 1e-9

    def run_once(self) -> bool:
        """One request cycle on the calling thread (the worker calls it; tests may too). Returns whether a
        request was made."""
        if self._paused or self._state is EngineState.DEAD:
            return False
        if not self._ensure_connected():
            return False
        if self._pending_reset:
            with self._lock:
                self._pending_reset = False
                episode = self._episode_id
            self.backend.reset(episode)
        if not self._needs_chunk():
            return False
        with self._lock:
            obs = self._obs
            if obs is None or obs.seq <= self._last_used_seq:
                return False
            now = self._clock()
            if now - obs.stamp > self.config.max_observation_age_s:
                self._last_used_seq = obs.seq
                self.counters["stale_observations"] += 1
                return False
            self._last_used_seq = obs.seq
            episode = self._episode_id
            idx_before, prefix_model, prefix_robot = self.queue.snapshot(self.config.execution_horizon)
            request = ChunkRequest(observation=obs.data, task=obs.task, stamp=obs.stamp, episode_id=episode,
                                   episode_start=self._episode_start,
                                   delay_steps=delay_steps(self.latency.max(), self.dt),
                                   prefix_model=prefix_model, prefix_robot=prefix_robot)
        self.counters["requests"] += 1
        t_send = self._clock()
        self._in_flight_since = t_send
        try:
            reply = self.backend.infer(request, self.config.request_timeout_s)
        except ContractError as exc:
            self._in_flight_since = None
            self._go_dead(str(exc))
            return True
        except BackendUnavailable as exc:
            self._in_flight_since = None
            self._on_timeout(t_send, exc)
            return True
        self._in_flight_since = None
        latency = self._latency_override(reply) if self._latency_override else self._clock() - t_send
        with self._lock:
            if episode != self._episode_id or self._paused:
                self.counters["discarded_replies"] += 1
                return True
            self.queue.merge(reply.chunk_model, reply.chunk_robot, delay_steps(latency, self.dt), idx_before,
                             obs.stamp)
            self._episode_start = False
            self._offline_since = None
            self._state = EngineState.STREAMING
        self.latency.add(latency)
        self._server_ms.append(reply.inference_ms)
        self.counters["merges"] += 1
        return True

    def _on_timeout(self, t_send: float, exc: Exception) -> None:
        self.counters["timeouts"] += 1
        now = self._clock()
        if self._offline_since is None:
            self._offline_since = t_send
        self._state = EngineState.DEGRADED if self.queue.qsize() else EngineState.STALLED
        offline = now - self._offline_since
        _log.warning("chunk request failed (%s); offline for %.1f s", exc, offline)
        if offline > self.config.max_offline_s:
            self._go_dead(f"offline for {offline:.1f} s > max_offline_s={self.config.max_offline_s}")
        elif not self.backend.alive() or offline >= 2 * self.config.request_timeout_s:
            self._enter_reconnect()
