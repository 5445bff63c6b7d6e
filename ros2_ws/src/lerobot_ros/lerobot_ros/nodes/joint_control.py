"""What the real driver and the simulator share: joint commands in, a safety gate, joint states and diagnostics out.

:class:`JointController` subscribes to the three command forms a ROS arm takes and turns them into goal
positions (radians, REP-103) for the node's control loop:

- ``joint_commands`` — ``sensor_msgs/JointState`` (position by joint name; a leader arm / teleop stream);
- ``forward_position_controller/commands`` — ``std_msgs/Float64MultiArray``, one value per joint in
  ``joint_names`` order (ros2_control's forward command controller);
- ``joint_trajectory`` — ``trajectory_msgs/JointTrajectory``: one point, or a chunk of points with
  ``time_from_start`` that is interpolated linearly from the current goal (``header.stamp`` 0 = start now).

The gate, in order: e-stop (commands rejected, the arm holds), joint limits (clip), ``max_relative_target`` per
joint (upstream LeRobot's clip relative to the present position, applied to each streamed command and to each
trajectory setpoint), and a command watchdog: once no command arrived for ``command_timeout_s`` (and no
trajectory is running) the goal becomes the present position once, so a stale target is never chased.
"""

from __future__ import annotations

import itertools
import math
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lerobot_core.robots.safety import ensure_safe_goal_position
from lerobot_ros.runtime import QOS_DEFAULT, Node, make
from lerobot_ros.runtime.conversions import sec_to_stamp, stamp_to_sec

__all__ = [
    "DEFAULT_TOPICS",
    "JointController",
    "Trajectory",
    "diagnostic_status",
    "joint_limits_from_params",
    "joint_state_msg",
    "resolve_share_file",
]

# role -> default topic name (each is a parameter ``<role>_topic`` of the nodes using the controller)
DEFAULT_TOPICS = {
    "joint_states": "joint_states",
    "joint_commands": "joint_commands",
    "forward_commands": "forward_position_controller/commands",
    "joint_trajectory": "joint_trajectory",
}
OK, WARN, ERROR = 0, 1, 2  # diagnostic_msgs/DiagnosticStatus levels


def resolve_share_file(name: str, folder: str) -> Path:
    """``name`` as a path, or a file of lerobot_ros' share ``folder`` (``so101.urdf`` -> share/urdf/so101.urdf)."""
    path = Path(name).expanduser()
    if path.is_file():
        return path
    from lerobot_ros.share import package_share_directory

    candidate = package_share_directory() / folder / name
    if candidate.is_file():
        return candidate
    raise FileNotFoundError(f"{name!r} is neither a file nor a file in lerobot_ros' share/{folder} ({candidate})")


def joint_limits_from_params(node: Node, joint_names: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(lower, upper) radians from ``joint_lower_limits``/``joint_upper_limits``, else from the ``urdf`` parameter."""
    lower = list(node.declare_parameter("joint_lower_limits", [], "rad, one per joint (empty: from the URDF)",
                                        type_="double_array"))  # fmt: skip
    upper = list(node.declare_parameter("joint_upper_limits", [], "rad, one per joint (empty: from the URDF)",
                                        type_="double_array"))  # fmt: skip
    urdf = node.declare_parameter("urdf", "so101.urdf", "URDF file (a path or a file in share/urdf)")
    n = len(joint_names)
    if not lower or not upper:
        from lerobot_core.robots.kinematics import UrdfModel

        limits = UrdfModel.from_file(resolve_share_file(urdf, "urdf")).limits()
        missing = [j for j in joint_names if j not in limits]
        if missing:
            raise ValueError(f"joints {missing} have no limits in {urdf}; set joint_lower_limits/joint_upper_limits")
        lower, upper = [limits[j][0] for j in joint_names], [limits[j][1] for j in joint_names]
    if len(lower) != n or len(upper) != n:
        raise ValueError(f"joint_lower_limits/joint_upper_limits need {n} values (one per joint of {list(joint_names)}), "
                         f"got {len(lower)} and {len(upper)}")  # fmt: skip
    lo, hi = np.asarray(lower, float), np.asarray(upper, float)
    if np.any(lo >= hi):
        raise ValueError(f"joint_lower_limits must be below joint_upper_limits, got {lower} and {upper}")
    return lo, hi


def joint_state_msg(names: Sequence[str], position: np.ndarray, velocity: np.ndarray | None, stamp_s: float,
                    frame_id: str = "") -> Any:  # fmt: skip
    """A stamped ``sensor_msgs/JointState`` (velocity left empty when ``None``)."""
    header = make("std_msgs/msg/Header", stamp=sec_to_stamp(stamp_s), frame_id=frame_id)
    return make("sensor_msgs/msg/JointState", header=header, name=list(names),
                position=np.asarray(position, np.float64),
                velocity=np.zeros(0) if velocity is None else np.asarray(velocity, np.float64),
                effort=np.zeros(0))  # fmt: skip


def diagnostic_status(name: str, hardware_id: str, level: int, message: str, values: dict[str, Any]) -> Any:
    """One ``diagnostic_msgs/DiagnosticStatus`` with ``values`` as key/value strings."""
    kvs = [make("diagnostic_msgs/msg/KeyValue", key=str(k), value=_fmt(v)) for k, v in values.items()]
    return make("diagnostic_msgs/msg/DiagnosticStatus", level=level, name=name,
                message=message, hardware_id=hardware_id, values=kvs)  # fmt: skip


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


class Trajectory:
    """Piecewise-linear joint targets over wall-clock time: ``[(t, q), ...]`` with non-decreasing ``t``."""

    def __init__(self, times: Sequence[float], points: Sequence[np.ndarray]) -> None:
        if len(times) != len(points) or not times:
            raise ValueError("a trajectory needs as many times as points, and at least one point")
        if any(b < a for a, b in itertools.pairwise(times)):
            raise ValueError(f"trajectory times must not decrease, got {list(times)}")
        self.times = np.asarray(times, float)
        self.points = np.stack([np.asarray(p, float) for p in points])

    @property
    def end(self) -> float:
        return float(self.times[-1])

    def sample(self, t: float) -> np.ndarray:
        if t <= self.times[0]:
            return self.points[0].copy()
        if t >= self.times[-1]:
            return self.points[-1].copy()
        i = int(np.searchsorted(self.times, t, side="right"))
        t0, t1 = self.times[i - 1], self.times[i]
        s = 0.0 if t1 <= t0 else (t - t0) / (t1 - t0)
        return (1 - s) * self.points[i - 1] + s * self.points[i]


class JointController:
    """Command subscriptions + safety gate + watchdog; the node's loop calls :meth:`update` each cycle.

    Callbacks and ``update`` run on the node's executor (one at a time); e-stop/hold requests from service
    threads go through a lock.
    """

    def __init__(
        self,
        node: Node,
        joint_names: Sequence[str],
        lower: np.ndarray,
        upper: np.ndarray,
        *,
        max_relative_target: np.ndarray | None = None,
        command_timeout_s: float = 0.5,
        topics: dict[str, str] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.node = node
        self.joint_names = list(joint_names)
        self.index = {n: i for i, n in enumerate(self.joint_names)}
        self.lower, self.upper = np.asarray(lower, float), np.asarray(upper, float)
        caps = None if max_relative_target is None else np.asarray(max_relative_target, float)
        self.max_relative = (
            {n: float(c) for n, c in zip(self.joint_names, caps) if c > 0} if caps is not None else {}
        )
        self.command_timeout_s = command_timeout_s
        self.clock = clock
        self.goal: np.ndarray | None = None  # last goal written
        self._pending: np.ndarray | None = None  # a streamed command not yet written
        self._trajectory: Trajectory | None = None
        self._last_command = -math.inf
        self._hold_request = False
        self._lock = threading.Lock()
        self.estopped = False
        self.holding = False
        self.commands = 0
        self.rejected = 0
        self.clipped = 0
        self.watchdog_holds = 0
        topics = {**DEFAULT_TOPICS, **(topics or {})}
        self.topics = topics
        log = node.get_logger()
        self._warn = lambda text: log.warning(text)
        node.create_subscription("sensor_msgs/msg/JointState", topics["joint_commands"], self._on_joint_state,
                                 QOS_DEFAULT)  # fmt: skip
        node.create_subscription("std_msgs/msg/Float64MultiArray", topics["forward_commands"], self._on_forward,
                                 QOS_DEFAULT)  # fmt: skip
        node.create_subscription("trajectory_msgs/msg/JointTrajectory", topics["joint_trajectory"],
                                 self._on_trajectory, QOS_DEFAULT)  # fmt: skip

    # --- commands ------------------------------------------------------------------------------------------
    def _reject(self, reason: str) -> None:
        self.rejected += 1
        self._warn(f"command rejected: {reason}")

    def _accepting(self) -> bool:
        if self.estopped:
            self.rejected += 1
            return False
        return True

    def _base(self) -> np.ndarray | None:
        """The goal partial commands start from (the last goal, or the pending one)."""
        if self._pending is not None:
            return self._pending.copy()
        return None if self.goal is None else self.goal.copy()

    def _by_name(self, names: Sequence[str], values: Sequence[float], what: str) -> dict[int, float] | None:
        unknown = [n for n in names if n not in self.index]
        if unknown:
            self._reject(f"{what} names unknown joints {unknown}; joints are {self.joint_names}")
            return None
        if len(values) != len(names):
            self._reject(f"{what} has {len(values)} positions for {len(names)} joint names")
            return None
        out = {self.index[n]: float(v) for n, v in zip(names, values)}
        if any(not math.isfinite(v) for v in out.values()):
            self._reject(f"{what} has non-finite positions {list(values)}")
            return None
        return out

    def set_target(self, target: dict[int, float]) -> None:
        """A streamed goal (joint index -> rad); joints not given keep their goal."""
        base = self._base()
        if base is None:
            base = np.full(len(self.joint_names), np.nan)
        for i, v in target.items():
            base[i] = v
        self._pending = base
        self._trajectory = None
        self._command_arrived()

    def _command_arrived(self) -> None:
        self.commands += 1
        self._last_command = self.clock()
        self.holding = False

    def _on_joint_state(self, msg: Any) -> None:
        if not self._accepting():
            return
        target = self._by_name(list(msg.name), list(msg.position), "JointState command")
        if target is not None:
            self.set_target(target)

    def _on_forward(self, msg: Any) -> None:
        if not self._accepting():
            return
        data = list(msg.data)
        if len(data) != len(self.joint_names):
            self._reject(f"Float64MultiArray command has {len(data)} values; expected {len(self.joint_names)} "
                         f"({self.joint_names})")  # fmt: skip
            return
        target = self._by_name(self.joint_names, data, "Float64MultiArray command")
        if target is not None:
            self.set_target(target)

    def _on_trajectory(self, msg: Any) -> None:
        if not self._accepting():
            return
        names = list(msg.joint_names)
        if not msg.points:
            self._trajectory, self._pending = None, None  # an empty trajectory stops the current one
            self._command_arrived()
            return
        now = self.clock()
        stamp = stamp_to_sec(msg.header.stamp)
        start = now if stamp == 0.0 else stamp
        times, targets = [], []
        for k, point in enumerate(msg.points):
            target = self._by_name(names, list(point.positions), f"JointTrajectory point {k}")
            if target is None:
                return
            times.append(start + stamp_to_sec(point.time_from_start))
            targets.append(target)
        if any(b < a for a, b in itertools.pairwise(times)):
            self._reject("JointTrajectory points' time_from_start must not decrease")
            return
        self._trajectory_from(times, targets, now)

    def _trajectory_from(self, times: list[float], targets: list[dict[int, float]], now: float) -> None:
        base = self._base()
        if base is None:
            base = np.full(len(self.joint_names), np.nan)
        points = []
        for target in targets:
            q = base.copy()
            for i, v in target.items():
                q[i] = v
            points.append(q)
            base = q
        start = self._base()
        if times[0] > now:  # move from the current goal to the first point
            times = [now, *times]
            points = [start if start is not None else np.full(len(self.joint_names), np.nan), *points]
        self._trajectory = Trajectory(times, points)
        self._pending = None
        self._command_arrived()

    # --- e-stop and hold -----------------------------------------------------------------------------------
    def set_estop(self, engaged: bool) -> None:
        with self._lock:
            self.estopped = engaged
            if engaged:
                self._hold_request = True

    def request_hold(self) -> None:
        """Hold the present position at the next update (e.g. after torque is re-enabled)."""
        with self._lock:
            self._hold_request = True

    # --- the control loop ----------------------------------------------------------------------------------
    def update(self, present: np.ndarray) -> np.ndarray | None:
        """The goal to write this cycle, or ``None`` when nothing changes; ``present`` in rad, joint order."""
        present = np.asarray(present, float)
        now = self.clock()
        with self._lock:
            hold, self._hold_request = self._hold_request, False
        if self.goal is None:
            self.goal = present.copy()
        if hold:
            self._pending = self._trajectory = None
            self.holding = True
            return self._write(present.copy(), present)
        if self.estopped:
            return None
        if self._trajectory is not None:
            target = self._trajectory.sample(now)
            if now >= self._trajectory.end:  # done: the watchdog counts from its end
                self._last_command = max(self._last_command, self._trajectory.end)
                self._trajectory = None
            return self._write(target, present)
        if self._pending is not None:
            target, self._pending = self._pending, None
            return self._write(target, present)
        stale = self.command_timeout_s > 0 and now - self._last_command > self.command_timeout_s
        if stale and not self.holding and math.isfinite(self._last_command):
            self.holding = True
            self.watchdog_holds += 1
            self._warn(f"no command for {self.command_timeout_s:g} s: holding the present position")
            return self._write(present.copy(), present)
        return None

    def _write(self, target: np.ndarray, present: np.ndarray) -> np.ndarray:
        target = np.where(np.isnan(target), self.goal, target)  # joints never commanded keep their goal
        safe = np.clip(target, self.lower, self.upper)
        if self.max_relative:
            clipped = ensure_safe_goal_position(
                {n: (safe[i], present[i]) for n, i in self.index.items() if n in self.max_relative},
                self.max_relative,
            )
            for n, v in clipped.items():
                safe[self.index[n]] = v
        if not np.allclose(safe, target, atol=1e-9):
            self.clipped += 1
        self.goal = safe
        return safe.copy()

    @property
    def trajectory_active(self) -> bool:
        return self._trajectory is not None
