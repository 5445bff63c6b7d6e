"""Executors, timers and process shutdown (SIGINT/SIGTERM) for nodes.

Each node runs its callbacks (subscriptions, timers, service handlers) one at a time on its own executor
thread, so a node's callbacks never race each other (rclpy's default mutually exclusive group) and a slow
callback never blocks the transport. Callbacks run as soon as the node exists; :func:`spin` only blocks the
main thread until shutdown. An exception in a callback is logged with its traceback and counted; it never
stops the executor.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import signal
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["Executor", "Timer", "ok", "request_shutdown", "reset_shutdown", "spin", "wait_for_shutdown"]

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
    """A single worker thread running submitted callables in order."""

    def __init__(self, name: str, on_error: Callable[[str, BaseException], None] | None = None) -> None:
        self.name = name
        self.errors = 0
        self._queue: queue.SimpleQueue[Callable[[], Any] | None] = queue.SimpleQueue()
        self._on_error = on_error
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=f"executor:{name}", daemon=True)
        self._thread.start()

    def submit(self, fn: Callable[[], Any]) -> None:
        if not self._closed:
            self._queue.put(fn)

    def _run(self) -> None:
        while True:
            fn = self._queue.get()
            if fn is None:
                return
            try:
                fn()
            except Exception as exc:
                self.errors += 1
                if self._on_error:
                    self._on_error(f"callback {getattr(fn, '__qualname__', fn)!s} raised", exc)
                else:
                    _log.exception("%s: callback raised", self.name)

    def in_executor_thread(self) -> bool:
        return threading.current_thread() is self._thread

    def close(self, timeout: float = 2.0) -> None:
        if self._closed:
            return
        self._closed = True
        self._queue.put(None)
        if not self.in_executor_thread():
            self._thread.join(timeout)


class Timer:
    """Calls ``callback()`` on ``executor`` every ``period_s`` (drift-free; a late tick is skipped, not queued)."""

    def __init__(self, period_s: float, callback: Callable[[], Any], executor: Executor) -> None:
        if not period_s > 0:
            raise ValueError(f"timer period must be > 0 s, got {period_s!r}")
        self.period_s = float(period_s)
        self._callback = callback
        self._executor = executor
        self._cancelled = threading.Event()
        self._busy = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="timer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        next_t = time.monotonic() + self.period_s
        while not self._cancelled.wait(max(0.0, next_t - time.monotonic())):
            next_t += self.period_s
            now = time.monotonic()
            if next_t < now:  # fell behind: skip missed ticks
                next_t = now + self.period_s - ((now - next_t) % self.period_s)
            if self._busy.acquire(blocking=False):
                self._executor.submit(self._fire)

    def _fire(self) -> None:
        try:
            if not self._cancelled.is_set():
                self._callback()
        finally:
            self._busy.release()

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
