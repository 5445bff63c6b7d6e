"""A fixed-rate loop on the steady (monotonic) clock, on its own thread, with period statistics.

Ticks are due at ``start + k × period``: the loop sleeps until shortly before a deadline and yields in a short
spin for the last fraction of a millisecond (``time.sleep`` alone oversleeps by up to a scheduler quantum). A
tick that starts more than one period late skips the missed deadlines (counted in ``missed``) instead of
running a burst. ``tick(index, deadline)`` must not block; an exception in it is logged and the loop goes on.

``realtime_priority`` > 0 puts the loop's thread (only it) under ``SCHED_FIFO`` at that priority (Linux; needs
root or ``CAP_SYS_NICE``/an rtprio limit, else a warning and normal scheduling): on a loaded machine this is
what keeps the period error well under a millisecond.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["SteadyLoop", "percentiles"]

_log = logging.getLogger(__name__)


def percentiles(values: Any, qs: tuple[float, ...] = (50, 99)) -> list[float]:
    """Percentiles of ``values`` (0.0 each when empty)."""
    arr = np.asarray(list(values), np.float64)
    return [float(np.percentile(arr, q)) if arr.size else 0.0 for q in qs]


class SteadyLoop:
    """Calls ``tick(index, deadline)`` every ``period_s`` on a dedicated thread (see the module docstring)."""

    def __init__(self, period_s: float, tick: Callable[[int, float], None], *, name: str = "control-loop",
                 spin_s: float = 0.0005, window: int = 600, realtime_priority: int = 0,
                 clock: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        if period_s <= 0:
            raise ValueError(f"period must be > 0, got {period_s}")
        self.period = float(period_s)
        self._tick, self._name, self._spin, self._clock = tick, name, spin_s, clock
        self.errors_ms: deque[float] = deque(maxlen=window)  # |start − deadline| per tick
        self.starts: deque[float] = deque(maxlen=window)
        self.ticks = 0
        self.missed = 0
        self.failures = 0
        self.realtime_priority = int(realtime_priority)
        self.realtime = False  # whether SCHED_FIFO was granted
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _wait_until(self, deadline: float) -> bool:
        """Sleep then spin until ``deadline``; False when stopped meanwhile."""
        while True:
            remaining = deadline - self._clock()
            if remaining <= 0:
                return not self._stop.is_set()
            if remaining > self._spin:
                if self._stop.wait(remaining - self._spin):
                    return False
            else:
                time.sleep(0)  # yield the GIL while spinning

    def _set_realtime(self) -> None:
        try:
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(self.realtime_priority))  # this thread only
            self.realtime = True
        except (AttributeError, OSError) as exc:
            _log.warning("realtime_priority %d not granted (%s): normal scheduling", self.realtime_priority, exc)

    def _run(self) -> None:
        if self.realtime_priority > 0:
            self._set_realtime()
        deadline = self._clock()
        index = 0
        while self._wait_until(deadline):
            now = self._clock()
            late = now - deadline
            if late > self.period:  # skip the deadlines we slept through
                skipped = int(late // self.period)
                self.missed += skipped
                index += skipped
                deadline += skipped * self.period
                late = now - deadline
            self.errors_ms.append(abs(late) * 1e3)
            self.starts.append(now)
            try:
                self._tick(index, deadline)
            except Exception:
                self.failures += 1
                _log.exception("control tick %d failed", index)
            self.ticks += 1
            index += 1
            deadline += self.period

    def stats(self) -> dict[str, float]:
        """Achieved rate (Hz) over the window and the period error p50/p99 (ms)."""
        starts = list(self.starts)
        rate = (len(starts) - 1) / (starts[-1] - starts[0]) if len(starts) > 1 and starts[-1] > starts[0] else 0.0
        p50, p99 = percentiles(self.errors_ms)
        return {"rate_hz": rate, "period_error_ms_p50": p50, "period_error_ms_p99": p99, "ticks": self.ticks,
                "missed_ticks": self.missed, "realtime": int(self.realtime)}  # fmt: skip
