"""Thread-safe action queue with latency-compensated chunk merging, and a latency tracker.

The queue holds two aligned views of the same actions: ``model`` (the policy's output before the
post-processor, what an RTC-style policy is conditioned on) and ``robot`` (post-processed, what the robot
executes). ``consumed`` counts the actions popped since the last clear; a chunk request snapshots it
(``idx_before``) so that the merge knows how many actions the control loop executed while the chunk was
being computed.

Merge rule (one chunk at a time, see :meth:`ActionQueue.merge`): action ``i`` of a new chunk is meant for
the control tick ``i`` steps after its observation. ``delay = min(ceil(latency / dt), consumed since
idx_before)`` steps have passed when it arrives (the clamp avoids trimming steps that were never executed
because the queue had run dry, e.g. the first chunk of an episode), so ``chunk[delay:]`` is kept:
``replace`` mode drops what remains of the previous chunk, ``append`` mode keeps it and appends only the
part of the new chunk that starts where the previous one ends.
"""

from __future__ import annotations

import enum
import math
import threading
from collections import deque

import numpy as np


class FallbackMode(str, enum.Enum):
    """What the control loop gets when no fresh policy action is available."""

    HOLD = "hold"  # no action: the caller keeps commanding its current position
    REPEAT_LAST = "repeat_last"  # the last executed policy action again
    ZERO = "zero"  # all zeros (the safe stop of velocity-controlled robots)


class MergeMode(str, enum.Enum):
    REPLACE = "replace"
    APPEND = "append"


def delay_steps(latency_s: float, dt: float) -> int:
    """Control steps covered by ``latency_s`` (rounded up; a tiny epsilon absorbs float noise)."""
    if latency_s <= 0:
        return 0
    return max(0, math.ceil(latency_s / dt - 1e-9))


class LatencyTracker:
    """Sliding window of measured chunk latencies (seconds, client-local monotonic)."""

    def __init__(self, maxlen: int = 100) -> None:
        self._values: deque[float] = deque(maxlen=maxlen)
        self._lock = threading.Lock()

    def add(self, latency_s: float) -> None:
        with self._lock:
            self._values.append(float(latency_s))

    def max(self) -> float:
        with self._lock:
            return max(self._values, default=0.0)

    def percentile(self, q: float) -> float:
        with self._lock:
            if not self._values:
                return 0.0
            return float(np.percentile(np.asarray(self._values), q))

    def __len__(self) -> int:
        return len(self._values)


class ActionQueue:
    """Actions waiting for the control loop; every method is short and thread-safe (never blocks on I/O)."""

    def __init__(self, action_dim: int, mode: MergeMode | str = MergeMode.REPLACE) -> None:
        self.action_dim = int(action_dim)
        self.mode = MergeMode(mode)
        self._lock = threading.Lock()
        self._model = np.zeros((0, self.action_dim), np.float32)
        self._robot = np.zeros((0, self.action_dim), np.float32)
        self._stamps = np.zeros((0,), np.float64)  # monotonic stamp of the observation behind each action
        self._consumed = 0
        self.stale_chunks = 0  # chunks that arrived entirely out of date
        self.stale_drops = 0  # actions dropped for being older than max_action_age_s

    # -- control side -------------------------------------------------------------------------------------
    def pop(self, now: float | None = None, max_age_s: float | None = None) -> np.ndarray | None:
        """The next robot-space action, or None when empty. Actions whose observation is older than
        ``max_age_s`` at ``now`` are dropped (counted in ``stale_drops``) and never returned."""
        with self._lock:
            if max_age_s is not None and now is not None and len(self._stamps):
                fresh = np.nonzero(now - self._stamps <= max_age_s)[0]
                first = int(fresh[0]) if len(fresh) else len(self._stamps)
                if first:
                    self.stale_drops += first
                    self._drop_front(first)
            if not len(self._robot):
                return None
            action = self._robot[0].copy()
            self._drop_front(1)
            self._consumed += 1
            return action

    def _drop_front(self, n: int) -> None:
        self._model, self._robot, self._stamps = self._model[n:], self._robot[n:], self._stamps[n:]

    # -- inference side ------------------------------------------------------------------------------------
    def qsize(self) -> int:
        with self._lock:
            return len(self._robot)

    @property
    def consumed(self) -> int:
        with self._lock:
            return self._consumed

    def snapshot(self, horizon: int | None = None) -> tuple[int, np.ndarray, np.ndarray]:
        """``(idx_before, prefix_model, prefix_robot)`` taken atomically; prefixes are the first ``horizon``
        remaining actions (all of them when None): the RTC prefix of the next request."""
        with self._lock:
            end = len(self._model) if horizon is None else horizon
            return self._consumed, self._model[:end].copy(), self._robot[:end].copy()

    def merge(self, chunk_model: np.ndarray, chunk_robot: np.ndarray, latency_steps: int, idx_before: int,
              source_stamp: float) -> int:
        """Merge a chunk computed from an observation stamped ``source_stamp`` (monotonic) and requested
        when ``consumed`` was ``idx_before``. Returns the number of leading steps dropped as stale."""
        chunk_model = np.asarray(chunk_model, np.float32).reshape(-1, self.action_dim)
        chunk_robot = np.asarray(chunk_robot, np.float32).reshape(-1, self.action_dim)
        if chunk_model.shape != chunk_robot.shape:
            raise ValueError(f"chunk_model {chunk_model.shape} and chunk_robot {chunk_robot.shape} differ")
        with self._lock:
            executed = self._consumed - idx_before
            if executed < 0:
                raise ValueError(f"idx_before={idx_before} is ahead of the queue (consumed={self._consumed})")
            delay = max(0, min(int(latency_steps), executed))
            if delay >= len(chunk_robot):
                self.stale_chunks += 1
                return delay
            new_model, new_robot = chunk_model[delay:], chunk_robot[delay:]
            if self.mode is MergeMode.APPEND and len(self._robot):
                keep = len(self._robot)
                new_model, new_robot = new_model[keep:], new_robot[keep:]
                self._model = np.concatenate([self._model, new_model])
                self._robot = np.concatenate([self._robot, new_robot])
                self._stamps = np.concatenate([self._stamps, np.full(len(new_robot), source_stamp)])
            else:
                self._model, self._robot = new_model.copy(), new_robot.copy()
                self._stamps = np.full(len(new_robot), float(source_stamp))
            return delay

    def clear(self) -> None:
        with self._lock:
            self._drop_front(len(self._robot))
            self._consumed = 0

    def contents(self) -> tuple[np.ndarray, np.ndarray]:
        """Copies of the queued ``(model, robot)`` actions (for tests and previews)."""
        with self._lock:
            return self._model.copy(), self._robot.copy()
