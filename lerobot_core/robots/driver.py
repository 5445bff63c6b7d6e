"""The joint-level driver a ``robot_driver`` or ``sim`` node wires to topics (no ROS here).

:class:`JointDriver` runs the safety gate between commands and a :class:`JointBackend` (a real follower in
radians, or the simulator), all in radians (REP-103):

* commands: positions (``JointState`` / ``Float64MultiArray`` style) or a trajectory chunk of points with
  ``time_from_start``, linearly interpolated;
* limits: every target is clamped to the joint limits (URDF / config);
* ``max_relative_target``: each tick moves at most that far from the measured position;
* watchdog: no fresh command for ``command_timeout_s`` → hold the position measured at that moment;
* e-stop: hold the measured position and ignore commands until released; torque on/off.

Call :meth:`JointDriver.update` at the publish rate; it returns the sample to publish as joint states.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np


class JointBackend(Protocol):
    joint_names: Sequence[str]

    def read_positions(self) -> np.ndarray: ...

    def write_targets(self, targets: np.ndarray) -> None: ...

    def set_torque(self, enabled: bool) -> None: ...

    def diagnostics(self) -> dict: ...


@dataclass
class DriverConfig:
    joint_names: list[str]
    lower_limits: list[float]
    upper_limits: list[float]
    max_relative_target: float | list[float] | None = None  # rad per update and joint; None/0 disables
    command_timeout_s: float = 0.5

    def __post_init__(self) -> None:
        n = len(self.joint_names)
        if len(self.lower_limits) != n or len(self.upper_limits) != n:
            raise ValueError(f"DriverConfig: {n} joint_names but {len(self.lower_limits)} lower_limits and "
                             f"{len(self.upper_limits)} upper_limits; give one limit per joint")  # fmt: skip
        bad = [name for name, lo, hi in zip(self.joint_names, self.lower_limits, self.upper_limits) if not lo < hi]
        if bad:
            raise ValueError(f"DriverConfig: lower limit must be below upper limit for joints {bad}")
        if isinstance(self.max_relative_target, list) and len(self.max_relative_target) != n:
            raise ValueError(f"DriverConfig.max_relative_target: {len(self.max_relative_target)} values for {n} joints")


@dataclass
class JointSample:
    """What a driver publishes: ``JointState`` fields plus the stamp (``time.time()``)."""

    names: list[str]
    positions: np.ndarray
    velocities: np.ndarray
    stamp: float
    targets: np.ndarray


@dataclass
class DriverStats:
    updates: int = 0
    commands: int = 0
    rejected_commands: int = 0
    clipped_updates: int = 0
    watchdog_trips: int = 0
    rate_hz: float = 0.0
    extra: dict = field(default_factory=dict)


class JointDriver:
    def __init__(self, backend: JointBackend, config: DriverConfig) -> None:
        if list(backend.joint_names) != list(config.joint_names):
            raise ValueError(f"driver joints {config.joint_names} differ from the backend's {list(backend.joint_names)}")
        self.backend = backend
        self.config = config
        self.names = list(config.joint_names)
        self.lower = np.asarray(config.lower_limits, dtype=float)
        self.upper = np.asarray(config.upper_limits, dtype=float)
        mrt = config.max_relative_target
        self.max_step = None if not mrt else np.broadcast_to(np.asarray(mrt, dtype=float), self.lower.shape)
        self.stats = DriverStats()
        self.estopped = False
        self.torque_enabled = True
        self._trajectory: tuple[float, np.ndarray, np.ndarray] | None = None  # (t0, times, points)
        self._target: np.ndarray | None = None
        self._last_command_t = -np.inf
        self._holding = True
        self._last_sample: JointSample | None = None
        self._rate_window: list[float] = []

    # --- commands ------------------------------------------------------------------------------------------
    def _vector(self, positions: Mapping[str, float] | Sequence[float] | np.ndarray) -> np.ndarray:
        if isinstance(positions, Mapping):
            unknown = set(positions) - set(self.names)
            if unknown:
                raise KeyError(f"unknown joints {sorted(unknown)}; this driver has {self.names}")
            current = self._current_target()
            return np.array([float(positions.get(n, current[i])) for i, n in enumerate(self.names)])
        arr = np.asarray(positions, dtype=float).reshape(-1)
        if arr.shape != self.lower.shape:
            raise ValueError(f"command has {arr.size} values; expected {len(self.names)} ({self.names})")
        if not np.all(np.isfinite(arr)):
            raise ValueError("command contains NaN or infinite values")
        return arr

    def _current_target(self) -> np.ndarray:
        if self._target is not None:
            return self._target
        return self.backend.read_positions()

    def command_positions(self, positions, now: float | None = None) -> bool:
        """A position command (by name, or a full vector in joint order). Ignored (False) while e-stopped."""
        if self.estopped:
            self.stats.rejected_commands += 1
            return False
        target = self._vector(positions)
        self._trajectory = None
        self._target = target
        self._last_command_t = time.monotonic() if now is None else now
        self._holding = False
        self.stats.commands += 1
        return True

    def command_trajectory(self, times_from_start: Sequence[float], points: Sequence, now: float | None = None) -> bool:
        """A chunk of points reached at ``times_from_start`` (s, increasing), interpolated from the current target."""
        if self.estopped:
            self.stats.rejected_commands += 1
            return False
        times = np.asarray(times_from_start, dtype=float)
        if times.ndim != 1 or len(times) != len(points) or len(times) == 0:
            raise ValueError("trajectory needs one time_from_start per point and at least one point")
        if np.any(np.diff(times) <= 0) or times[0] < 0:
            raise ValueError(f"trajectory time_from_start must be >= 0 and strictly increasing, got {times.tolist()}")
        pts = np.stack([self._vector(p) for p in points])
        t0 = time.monotonic() if now is None else now
        start = self._current_target()
        if times[0] > 0:  # interpolate from where we are
            times = np.concatenate([[0.0], times])
            pts = np.vstack([start, pts])
        self._trajectory = (t0, times, pts)
        self._target = pts[0]
        self._last_command_t = t0
        self._holding = False
        self.stats.commands += 1
        return True

    # --- safety ----------------------------------------------------------------------------------------------
    def estop(self) -> None:
        """Hold the measured position and reject commands until :meth:`release_estop`."""
        self.estopped = True
        self._hold()

    def release_estop(self) -> None:
        self.estopped = False

    def set_torque(self, enabled: bool) -> None:
        self.backend.set_torque(enabled)
        self.torque_enabled = enabled
        self._hold()

    def _hold(self) -> None:
        self._trajectory = None
        self._target = self.backend.read_positions()
        self._holding = True

    # --- the loop --------------------------------------------------------------------------------------------
    def update(self, now: float | None = None) -> JointSample:
        """Read, apply the safety gate, write targets; returns the sample to publish."""
        t = time.monotonic() if now is None else now
        measured = self.backend.read_positions()
        if self._target is None:
            self._target = measured.copy()
        if self._trajectory is not None:
            t0, times, pts = self._trajectory
            elapsed = t - t0
            self._target = np.array([np.interp(elapsed, times, pts[:, j]) for j in range(pts.shape[1])])
            if elapsed >= times[-1]:
                self._trajectory = None
                self._last_command_t = t  # the chunk's end counts as its last command
        elif not self._holding and t - self._last_command_t > self.config.command_timeout_s:
            self.stats.watchdog_trips += 1
            self._target = measured.copy()
            self._holding = True
        target = np.clip(self._target, self.lower, self.upper)
        if self.max_step is not None:
            stepped = np.clip(target, measured - self.max_step, measured + self.max_step)
            if not np.array_equal(stepped, target):
                self.stats.clipped_updates += 1
            target = stepped
        if self.torque_enabled:
            self.backend.write_targets(target)
        stamp = time.time()
        velocities = np.zeros_like(measured)
        if self._last_sample is not None and stamp > self._last_sample.stamp:
            velocities = (measured - self._last_sample.positions) / (stamp - self._last_sample.stamp)
        sample = JointSample(self.names, measured, velocities, stamp, target)
        self._last_sample = sample
        self.stats.updates += 1
        self._rate_window = [*self._rate_window[-49:], t]
        if len(self._rate_window) > 1 and self._rate_window[-1] > self._rate_window[0]:
            self.stats.rate_hz = (len(self._rate_window) - 1) / (self._rate_window[-1] - self._rate_window[0])
        return sample

    def diagnostics(self) -> dict:
        """Achieved rate, safety counters and the backend's own (bus errors, temperatures)."""
        s = self.stats
        return {
            "rate_hz": round(s.rate_hz, 2),
            "updates": s.updates,
            "commands": s.commands,
            "rejected_commands": s.rejected_commands,
            "clipped_updates": s.clipped_updates,
            "watchdog_trips": s.watchdog_trips,
            "estopped": self.estopped,
            "torque_enabled": self.torque_enabled,
            **self.backend.diagnostics(),
        }


class FollowerBackend:
    """A connected follower arm configured with ``units="radians"``."""

    def __init__(self, follower) -> None:
        if follower.config.units != "radians":
            raise ValueError("FollowerBackend needs a follower configured with units='radians'")
        self.follower = follower
        self.joint_names = follower.motor_names

    def read_positions(self) -> np.ndarray:
        values = self.follower.bus.sync_read("Present_Position")
        return np.array([values[n] for n in self.joint_names])

    def write_targets(self, targets: np.ndarray) -> None:
        self.follower.bus.sync_write("Goal_Position", dict(zip(self.joint_names, targets.tolist())))

    def set_torque(self, enabled: bool) -> None:
        (self.follower.bus.enable_torque if enabled else self.follower.bus.disable_torque)()

    def diagnostics(self) -> dict:
        out = {"bus": self.follower.bus.stats.as_dict()}
        try:
            temps = self.follower.bus.sync_read("Present_Temperature", normalize=False)
            out["temperatures_c"] = {n: int(v) for n, v in temps.items()}
        except Exception as e:  # diagnostics never break the loop
            out["temperatures_error"] = str(e)
        return out


class SimBackend:
    """The simulated SO-101 (targets apply at the next ``sim.step()``)."""

    def __init__(self, sim) -> None:
        self.sim = sim
        self.joint_names = list(sim.joint_names)
        self._torque = True

    def read_positions(self) -> np.ndarray:
        return self.sim.joint_positions()

    def write_targets(self, targets: np.ndarray) -> None:
        self.sim.send_action(dict(zip(self.joint_names, targets.tolist())))

    def set_torque(self, enabled: bool) -> None:
        self._torque = enabled
        self.sim.set_torque(enabled)

    def diagnostics(self) -> dict:
        return {"sim_time_s": round(self.sim.time_s, 3), "success": self.sim.success()}
