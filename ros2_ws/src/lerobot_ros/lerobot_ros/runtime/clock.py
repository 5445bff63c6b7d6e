"""The node clock: ROS time that follows ``/clock`` while the ``use_sim_time`` parameter is true.

As rclpy's ``TimeSource`` + ``ROSClock``:

- every node declares ``use_sim_time`` (bool, default false; YAML or ``-p use_sim_time:=true`` override it);
- while it is true the node subscribes ``/clock`` (``rosgraph_msgs/msg/Clock``, KEEP_LAST 1, best effort: rclpy's
  ``QoSProfile(depth=1, reliability=BEST_EFFORT)``, rclcpp's ``ClockQoS``) and ``node.now()`` is the last
  ``/clock`` time: zero until the first message, as in ROS. Setting it false at run time goes back to the
  system clock and drops the subscription; the last sim time is kept for a later switch back;
- node timers run on this clock (rcl timers use the node's ROS_TIME clock): on wall time while sim time is off;
  under sim time a timer fires when ``/clock`` reaches its next period (several periods passed at once fire it
  once; a jump backwards restarts the period), so no ``/clock`` means no ticks.

The clock's callbacks run on the node's executor, like any subscription. A backend with its own ROS clock (rclpy)
passes ``now_ns`` and ``timer_factory`` and the node uses those instead (rclpy's TimeSource then owns ``/clock``).
"""

from __future__ import annotations

import contextlib
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any, Protocol

from .params import ParameterChange
from .qos import QoSProfile, Reliability
from .spin import Executor, Timer, TimerTicks

__all__ = ["CLOCK_TOPIC", "QOS_CLOCK", "USE_SIM_TIME", "ClockTimer", "TimeSource"]

CLOCK_TOPIC = "/clock"
USE_SIM_TIME = "use_sim_time"
QOS_CLOCK = QoSProfile(depth=1, reliability=Reliability.BEST_EFFORT)


class NodeTimer(Protocol):
    period_s: float

    def cancel(self) -> None: ...

    @property
    def is_canceled(self) -> bool: ...


class TimeSource:
    """ROS time of one node (see the module docstring)."""

    def __init__(self, node: Any, *, now_ns: Callable[[], int] | None = None,
                 timer_factory: Callable[[float, Callable[[], Any], Executor], NodeTimer] | None = None) -> None:
        self._node = node
        self._external_now = now_ns
        self._timer_factory = timer_factory
        self._lock = threading.Lock()
        self._active = False
        self._sim_ns = 0
        self._subscription: Any = None
        self._timers: weakref.WeakSet[ClockTimer] = weakref.WeakSet()

    @property
    def ros_time_is_active(self) -> bool:
        """True while the clock follows ``/clock`` (``use_sim_time``)."""
        return self._active

    def now_ns(self) -> int:
        if self._external_now is not None:
            return self._external_now()
        return self._sim_ns if self._active else time.time_ns()

    def on_parameters(self, change: ParameterChange) -> None:
        """Store listener: follow ``use_sim_time`` (declared, set by YAML/``-p``, or set at run time)."""
        for name, value in (*change.new, *change.changed):
            if name == USE_SIM_TIME:
                self.set_ros_time_active(bool(value))

    def set_ros_time_active(self, active: bool) -> None:
        with self._lock:
            if active == self._active:
                return
            self._active = active
        if self._external_now is None:  # a backend with its own clock handles /clock itself
            if active:
                self._subscription = self._node.create_subscription(
                    "rosgraph_msgs/msg/Clock", CLOCK_TOPIC, self._on_clock, QOS_CLOCK)
            elif self._subscription is not None:
                subscription, self._subscription = self._subscription, None
                subscription.destroy()
                with contextlib.suppress(ValueError):
                    self._node._entities.remove(subscription)
        for timer in list(self._timers):
            timer._set_mode(active)

    def _on_clock(self, msg: Any) -> None:
        ns = int(msg.clock.sec) * 1_000_000_000 + int(msg.clock.nanosec)
        self._sim_ns = ns
        for timer in list(self._timers):
            timer._on_sim_time(ns)

    def create_timer(self, period_s: float, callback: Callable[[], Any], executor: Executor) -> NodeTimer:
        if self._timer_factory is not None:
            return self._timer_factory(period_s, callback, executor)
        timer = ClockTimer(period_s, callback, executor, self)
        self._timers.add(timer)
        return timer


class ClockTimer:
    """A node timer on ROS time: a drift-free wall timer (:class:`spin.Timer`) while sim time is off, else
    driven by ``/clock`` (see the module docstring). ``cancel()`` stops it."""

    def __init__(self, period_s: float, callback: Callable[[], Any], executor: Executor, source: TimeSource) -> None:
        if not period_s > 0:
            raise ValueError(f"timer period must be > 0 s, got {period_s!r}")
        self.period_s = float(period_s)
        self._period_ns = max(1, round(period_s * 1e9))
        self._callback = callback
        self._executor = executor
        self._source = source
        self._lock = threading.Lock()
        self._cancelled = False
        self._ticks = TimerTicks(callback, executor, lambda: self._cancelled)
        self._wall: Timer | None = None
        self._next_ns = 0
        self._set_mode(source.ros_time_is_active)

    def _set_mode(self, sim: bool) -> None:
        with self._lock:
            if self._cancelled:
                return
            if sim:
                if self._wall is not None:
                    self._wall.cancel()
                    self._wall = None
                self._next_ns = self._source.now_ns() + self._period_ns
            elif self._wall is None:
                self._wall = Timer(self.period_s, self._callback, self._executor)

    def _on_sim_time(self, now_ns: int) -> None:
        with self._lock:
            if self._cancelled or self._wall is not None:
                return
            if now_ns < self._next_ns - self._period_ns:  # the clock jumped back (a restarted simulation)
                self._next_ns = now_ns + self._period_ns
                return
            if now_ns < self._next_ns:
                return
            self._next_ns += ((now_ns - self._next_ns) // self._period_ns + 1) * self._period_ns
        self._ticks.tick()

    def cancel(self) -> None:
        with self._lock:
            self._cancelled = True
            if self._wall is not None:
                self._wall.cancel()

    destroy = cancel

    @property
    def is_canceled(self) -> bool:
        return self._cancelled
