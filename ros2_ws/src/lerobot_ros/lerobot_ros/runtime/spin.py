"""Executors, timers and process shutdown (SIGINT/SIGTERM) for nodes.

A node's callbacks (subscriptions, timers) run one at a time under its executor's lock, so they never race
each other (rclpy's SingleThreadedExecutor / mutually exclusive group); service handlers run on a second
executor, so a callback may call a service of its own node. Timers and queued samples run on the executor
thread. A subscription whose callback has proven fast (:class:`InlineGate`) runs inline on the transport
thread that delivered the sample when the node's lock is free and none of its samples are queued: no thread
hand-off, and a slow callback is demoted to the executor, so it never stalls the transport for long.
Callbacks run as soon as the node exists; :func:`spin` only blocks the main thread until shutdown. An
exception in a callback is logged with its traceback and counted; it never stops the executor.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import signal
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from typing import Any

__all__ = [
    "Executor",
    "InlineGate",
    "Timer",
    "note_blocking_call",
    "ok",
    "request_shutdown",
    "reset_shutdown",
    "spin",
    "wait_for_shutdown",
]

_log = logging.getLogger("lerobot_ros.runtime")
_shutdown = threading.Event()


def ok() -> bool:
    """False once shutdown was requested (signal or :func:`request_shutdown`)."""
    return not _shutdown.is_set()


def request_shutdown() -> None:
    _shutdown.set()


def reset_shutdown() -> None:
    """Clear the shutdown flag (tests; a process that spins again after a shutdown)."""
    _shutdown.clear()


def wait_for_shutdown(timeout: float | None = None) -> bool:
    return _shutdown.wait(timeout)


class Executor:
    """A node's callback group: a worker thread running submitted callables in order, and a lock (``lock``)
    held while any callback of the node runs, so a node's callbacks never overlap. A transport thread may run a
    callback inline: it takes ``lock`` without blocking (unless ``closed``), sets ``owner`` to its thread id
    (and ``running`` for a subscription callback), reports an exception with :meth:`report`, then clears both
    and releases ``lock``."""

    def __init__(self, name: str, on_error: Callable[[str, BaseException], None] | None = None) -> None:
        self.name = name
        self.errors = 0
        self.lock = threading.Lock()  # not reentrant: a callback that triggers its own node queues, never nests
        self._queue: queue.SimpleQueue[Callable[[], Any] | None] = queue.SimpleQueue()
        self._on_error = on_error
        self.closed = False
        self.owner: int | None = None  # the thread running a callback right now
        self.running: tuple[InlineGate, bool] | None = None  # (gate, inline) of the subscription callback running
        self._thread = threading.Thread(target=self._run, name=f"executor:{name}", daemon=True)
        self._thread.start()
        with _executors_lock:
            _executors.add(self)

    def submit(self, fn: Callable[[], Any]) -> None:
        if not self.closed:
            self._queue.put(fn)

    def _run(self) -> None:
        while True:
            fn = self._queue.get()
            if fn is None:
                return
            with self.lock:
                self._call(fn)

    def _call(self, fn: Callable[[], Any]) -> None:
        self.owner = threading.get_ident()
        try:
            fn()
        except Exception as exc:
            self.report(fn, exc)
        finally:
            self.owner = None

    def report(self, fn: Callable[..., Any], exc: BaseException) -> None:
        """Count and log an exception a callback ``fn`` raised."""
        self.errors += 1
        if self._on_error:
            self._on_error(f"callback {getattr(fn, '__qualname__', fn)!s} raised", exc)
        else:
            _log.error("%s: callback raised", self.name, exc_info=exc)

    def in_executor_thread(self) -> bool:
        """True on the worker thread, and on any thread while it runs one of this executor's callbacks."""
        return threading.current_thread() is self._thread or self.owner == threading.get_ident()

    def close(self, timeout: float = 2.0) -> None:
        if self.closed:
            return
        self.closed = True
        self._queue.put(None)
        if not self.in_executor_thread():
            self._thread.join(timeout)


class InlineGate:
    """Whether one subscription's callback may run inline on the receive thread that delivered the sample.

    A callback starts queued (on the executor). It is promoted to inline after ``promote_after`` consecutive runs
    during which its average run time (``average_s``, an exponential moving average over about the last 8 runs)
    stayed under ``fast_s``. It is demoted when that average reaches ``fast_s`` or one run takes
    ``SLOW_FACTOR * fast_s`` or longer, so a slow callback keeps its samples queued (where KEEP_LAST drops the
    oldest) instead of letting them back up in the receive FIFO; a single preempted run on a busy machine does not
    demote. A demotion doubles ``promote_after`` (up to ``MAX_PROMOTE_AFTER``): a callback that keeps having slow
    runs is inlined ever more rarely; ``promote_after`` consecutive fast inline runs halve it again (down to
    ``PROMOTE_AFTER``), so rare slow runs do not pin a fast callback to the executor for good. A callback that
    made a blocking runtime call (a service call: its reply may have to come through the very thread running the
    callback) is never inlined again (:func:`note_blocking_call`).
    """

    FAST_S = 0.001
    SLOW_FACTOR = 20
    PROMOTE_AFTER = 8
    MAX_PROMOTE_AFTER = 4096

    def __init__(self, enabled: bool = True, fast_s: float = FAST_S) -> None:
        self._enabled = enabled
        self._blocking = False
        self.fast_s = fast_s
        self.average_s = fast_s  # unproven: a callback must show fast runs first
        self.promote_after = self.PROMOTE_AFTER
        self.inline_runs = 0
        self.queued_runs = 0
        self.demotions = 0
        self._streak = 0  # consecutive runs with a fast average
        self._inline_streak = 0  # consecutive fast runs inline
        self.inline_ok = False  # allows(), kept as an attribute: the per-message path reads it

    @property
    def enabled(self) -> bool:
        return self._enabled

    @enabled.setter
    def enabled(self, value: bool) -> None:
        self._enabled = value
        self._decide()

    @property
    def blocking(self) -> bool:
        return self._blocking

    @blocking.setter
    def blocking(self, value: bool) -> None:
        self._blocking = value
        self._decide()

    def _decide(self) -> None:
        self.inline_ok = self._enabled and not self._blocking and self._streak >= self.promote_after

    def allows(self) -> bool:
        return self.inline_ok

    def record(self, seconds: float, inline: bool) -> None:
        """Account one run of ``seconds`` (``inline``: on a receive thread)."""
        if inline:
            self.inline_runs += 1
        else:
            self.queued_runs += 1
        self.average_s += (seconds - self.average_s) * 0.125
        if self.average_s < self.fast_s and seconds < self.SLOW_FACTOR * self.fast_s:
            self._streak += 1
            if inline:
                self._inline_streak += 1
                if self._inline_streak >= self.promote_after > self.PROMOTE_AFTER:  # proven again: relax
                    self.promote_after //= 2
                    self._inline_streak = 0
        else:
            if self._streak >= self.promote_after:  # was inline-eligible: demote, and wait longer next time
                self.demotions += 1
                self.promote_after = min(self.promote_after * 2, self.MAX_PROMOTE_AFTER)
            self._streak = self._inline_streak = 0
        self.inline_ok = self._enabled and not self._blocking and self._streak >= self.promote_after  # _decide()


_executors: weakref.WeakSet[Executor] = weakref.WeakSet()
_executors_lock = threading.Lock()


def note_blocking_call(what: str) -> None:
    """Called by blocking runtime calls (service calls): the running subscription callback is never inlined
    again. Inline right now, the reply may have to come through this very thread: warn."""
    me = threading.get_ident()
    with _executors_lock:
        running = next((ex.running for ex in _executors if ex.owner == me and ex.running is not None), None)
    if running is None or running[0].blocking:
        return
    gate, inline = running
    gate.blocking = True
    if inline:
        _log.warning("%s from a subscription callback running inline on the transport thread: its reply may "
                     "wait for this thread (up to the call's timeout); this callback now always runs on the "
                     "executor", what)


class TimerTicks:
    """Hands a timer's ticks to ``executor`` one at a time: a tick that finds the previous one still queued or
    running is skipped, not queued; a tick that runs after ``cancelled()`` turned true does nothing."""

    def __init__(self, callback: Callable[[], Any], executor: Executor, cancelled: Callable[[], bool]) -> None:
        self._callback, self._executor, self._cancelled = callback, executor, cancelled
        self._busy = threading.Lock()

    def tick(self) -> None:
        if self._busy.acquire(blocking=False):
            self._executor.submit(self._fire)

    def _fire(self) -> None:
        try:
            if not self._cancelled():
                self._callback()
        finally:
            self._busy.release()


class Timer:
    """Calls ``callback()`` on ``executor`` every ``period_s`` (drift-free; a late tick is skipped, not queued)."""

    def __init__(self, period_s: float, callback: Callable[[], Any], executor: Executor) -> None:
        if not period_s > 0:
            raise ValueError(f"timer period must be > 0 s, got {period_s!r}")
        self.period_s = float(period_s)
        self._cancelled = threading.Event()
        self._ticks = TimerTicks(callback, executor, self._cancelled.is_set)
        self._thread = threading.Thread(target=self._run, name="timer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        next_t = time.monotonic() + self.period_s
        while not self._cancelled.wait(max(0.0, next_t - time.monotonic())):
            next_t += self.period_s
            now = time.monotonic()
            if next_t < now:  # fell behind: skip missed ticks
                next_t = now + self.period_s - ((now - next_t) % self.period_s)
            self._ticks.tick()

    def cancel(self) -> None:
        self._cancelled.set()

    destroy = cancel

    @property
    def is_canceled(self) -> bool:
        return self._cancelled.is_set()


def _install_signal_handlers() -> Callable[[], None]:
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = {}

    def handler(signum: int, _frame: Any) -> None:
        _shutdown.set()
        signal.signal(signum, previous.get(signum, signal.SIG_DFL))  # a second signal acts as usual

    for sig in (signal.SIGINT, signal.SIGTERM):
        previous[sig] = signal.getsignal(sig)
        signal.signal(sig, handler)

    def restore() -> None:
        for sig, prev in previous.items():
            with contextlib.suppress(ValueError, TypeError):
                signal.signal(sig, prev)

    return restore


def spin(nodes: Any = None, timeout_s: float | None = None) -> bool:
    """Block until SIGINT/SIGTERM, :func:`request_shutdown` or ``timeout_s``; True when shutdown was requested.

    ``nodes`` (one node or several) are accepted for rclpy-style call sites; their callbacks run on their own
    executors whether or not anyone spins. Destroy the nodes afterwards (``node.destroy()``).
    """
    restore = _install_signal_handlers()
    try:
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while not _shutdown.is_set():
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                break
            _shutdown.wait(0.2 if remaining is None else min(0.2, remaining))  # wakes for signals
            for node in _as_list(nodes):
                if getattr(node, "destroyed", False):
                    return True
        return _shutdown.is_set()
    finally:
        restore()


def _as_list(nodes: Any) -> Iterable[Any]:
    if nodes is None:
        return []
    return list(nodes) if isinstance(nodes, (list, tuple, set)) else [nodes]
