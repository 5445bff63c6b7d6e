"""What ``robot_driver`` and ``sim`` share: command topics feeding the core safety gate, joint states and diagnostics.

The gate itself is ``lerobot_core.robots.driver.JointDriver`` (joint limits, ``max_relative_target`` per update,
command watchdog, e-stop, torque); :class:`JointCommands` only turns the three command messages a ROS arm takes
into its calls:

- ``joint_commands`` — ``sensor_msgs/JointState`` (positions by joint name; a leader arm / teleop stream);
- ``forward_position_controller/commands`` — ``std_msgs/Float64MultiArray``, one value per joint in joint order
  (ros2_control's forward command controller);
- ``joint_trajectory`` — ``trajectory_msgs/JointTrajectory``: one point or a chunk with ``time_from_start``,
  interpolated from the current target; ``header.stamp`` 0 starts it now, a later stamp delays it.

Malformed commands are logged and counted (``rejected``); they never reach the gate.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lerobot_core.robots.driver import DriverConfig, JointBackend, JointDriver
from lerobot_ros.runtime import QOS_DEFAULT, Node, make
from lerobot_ros.runtime.conversions import sec_to_stamp, stamp_to_sec

__all__ = [
    "DEFAULT_TOPICS",
    "JointCommands",
    "declare_topics",
    "diagnostic_status",
    "flatten",
    "joint_driver_from_params",
    "joint_limits_from_params",
    "joint_state_msg",
    "resolve_share_file",
]

# role -> default topic name (each is a parameter ``<role>_topic`` of the nodes using them)
DEFAULT_TOPICS = {
    "joint_states": "joint_states",
    "joint_commands": "joint_commands",
    "forward_commands": "forward_position_controller/commands",
    "joint_trajectory": "joint_trajectory",
}
OK, WARN, ERROR = 0, 1, 2  # diagnostic_msgs/DiagnosticStatus levels


def declare_topics(node: Node) -> dict[str, str]:
    """``<role>_topic`` parameters for the command and state topics."""
    return {role: node.declare_parameter(f"{role}_topic", default, f"topic of {role}")
            for role, default in DEFAULT_TOPICS.items()}  # fmt: skip


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


def joint_limits_from_params(node: Node, joint_names: Sequence[str]) -> tuple[list[float], list[float]]:
    """(lower, upper) radians from ``joint_lower_limits``/``joint_upper_limits``, else from the ``urdf`` parameter."""
    lower = list(node.declare_parameter("joint_lower_limits", [], "rad, one per joint (empty: from the URDF)",
                                        type_="double_array"))  # fmt: skip
    upper = list(node.declare_parameter("joint_upper_limits", [], "rad, one per joint (empty: from the URDF)",
                                        type_="double_array"))  # fmt: skip
    urdf = node.declare_parameter("urdf", "so101.urdf", "URDF file (a path or a file in share/urdf)")
    if not lower or not upper:
        from lerobot_core.robots.kinematics import UrdfModel

        limits = UrdfModel.from_file(resolve_share_file(urdf, "urdf")).limits()
        missing = [j for j in joint_names if j not in limits]
        if missing:
            raise ValueError(f"joints {missing} have no limits in {urdf}; set joint_lower_limits/joint_upper_limits")
        lower, upper = [limits[j][0] for j in joint_names], [limits[j][1] for j in joint_names]
    n = len(joint_names)
    if len(lower) != n or len(upper) != n:
        raise ValueError(f"joint_lower_limits/joint_upper_limits need {n} values (one per joint of {list(joint_names)}), "
                         f"got {len(lower)} and {len(upper)}")  # fmt: skip
    if any(lo >= hi for lo, hi in zip(lower, upper)):
        raise ValueError(f"joint_lower_limits must be below joint_upper_limits, got {lower} and {upper}")
    return lower, upper


def joint_driver_from_params(node: Node, backend: JointBackend, joint_names: Sequence[str],
                             command_timeout_s: float) -> JointDriver:  # fmt: skip
    """The core gate configured by the node's parameters (limits, ``max_relative_target``, ``command_timeout_s``)."""
    lower, upper = joint_limits_from_params(node, joint_names)
    scalar = node.declare_parameter("max_relative_target", 0.0, "rad per update and joint (0: no clip)")
    per_joint = list(node.declare_parameter("max_relative_target_per_joint", [], "rad per joint (overrides the "
                                            "scalar; 0 disables that joint's clip)", type_="double_array"))  # fmt: skip
    timeout = node.declare_parameter("command_timeout_s", command_timeout_s,
                                     "watchdog: hold when no command came for this long (0: off)")  # fmt: skip
    n = len(joint_names)
    if per_joint and len(per_joint) != n:
        raise ValueError(f"max_relative_target_per_joint needs {n} values, got {len(per_joint)}")
    caps: float | list[float] | None = [c if c > 0 else math.inf for c in per_joint] if per_joint else (scalar or None)
    config = DriverConfig(list(joint_names), lower, upper, max_relative_target=caps,
                          command_timeout_s=timeout if timeout > 0 else math.inf)  # fmt: skip
    return JointDriver(backend, config)


def joint_state_msg(names: Sequence[str], position: np.ndarray, velocity: np.ndarray | None, stamp_s: float,
                    frame_id: str = "") -> Any:  # fmt: skip
    """A stamped ``sensor_msgs/JointState`` (velocity left empty when ``None``)."""
    header = make("std_msgs/msg/Header", stamp=sec_to_stamp(stamp_s), frame_id=frame_id)
    return make("sensor_msgs/msg/JointState", header=header, name=list(names),
                position=np.asarray(position, np.float64),
                velocity=np.zeros(0) if velocity is None else np.asarray(velocity, np.float64),
                effort=np.zeros(0))  # fmt: skip


def flatten(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested diagnostics (``{"bus": {"timeouts": 3}}``) as flat keys (``bus_timeouts``)."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, f"{name}_"))
        else:
            out[name] = value
    return out


def diagnostic_status(name: str, hardware_id: str, level: int, message: str, values: Mapping[str, Any]) -> Any:
    """One ``diagnostic_msgs/DiagnosticStatus`` with ``values`` (flattened) as key/value strings."""
    kvs = [make("diagnostic_msgs/msg/KeyValue", key=str(k), value=f"{v:.4g}" if isinstance(v, float) else str(v))
           for k, v in flatten(values).items()]  # fmt: skip
    return make("diagnostic_msgs/msg/DiagnosticStatus", level=level, name=name, message=message,
                hardware_id=hardware_id, values=kvs)  # fmt: skip


class JointCommands:
    """Subscribes the three command topics and hands their positions to ``driver``.

    Every driver call (here and in the node's loop and services) holds ``lock``.
    """

    def __init__(self, node: Node, driver: JointDriver, topics: Mapping[str, str], lock: threading.RLock) -> None:
        self.node = node
        self.driver = driver
        self.names = list(driver.names)
        self.lock = lock
        self.rejected = 0  # malformed commands (the gate counts those refused while e-stopped)
        self._last_log = 0.0
        node.create_subscription("sensor_msgs/msg/JointState", topics["joint_commands"], self._on_joint_state,
                                 QOS_DEFAULT)  # fmt: skip
        node.create_subscription("std_msgs/msg/Float64MultiArray", topics["forward_commands"], self._on_forward,
                                 QOS_DEFAULT)  # fmt: skip
        node.create_subscription("trajectory_msgs/msg/JointTrajectory", topics["joint_trajectory"],
                                 self._on_trajectory, QOS_DEFAULT)  # fmt: skip

    def _reject(self, what: str, reason: Any) -> None:
        self.rejected += 1
        if time.monotonic() - self._last_log > 1.0:  # rate-limited: a bad publisher must not flood the log
            self._last_log = time.monotonic()
            self.node.get_logger().warning(f"{what} rejected ({self.rejected} so far): {reason}")

    def _by_name(self, names: Sequence[str], values: Sequence[float], what: str) -> dict[str, float]:
        if len(values) != len(names):
            raise ValueError(f"{len(values)} positions for {len(names)} joint names")
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate joint names {list(names)}")
        out = {str(n): float(v) for n, v in zip(names, values)}
        if not all(math.isfinite(v) for v in out.values()):
            raise ValueError(f"non-finite positions {list(values)}")
        return out

    def _on_joint_state(self, msg: Any) -> None:
        try:
            target = self._by_name(list(msg.name), list(msg.position), "JointState")
            with self.lock:
                self.driver.command_positions(target)
        except (ValueError, KeyError) as exc:
            self._reject("JointState command", exc)

    def _on_forward(self, msg: Any) -> None:
        try:
            with self.lock:
                self.driver.command_positions(np.asarray(msg.data, float))
        except (ValueError, KeyError) as exc:
            self._reject("Float64MultiArray command", exc)

    def _on_trajectory(self, msg: Any) -> None:
        try:
            names = list(msg.joint_names)
            points = [self._by_name(names, list(p.positions), "JointTrajectory") for p in msg.points]
            if not points:
                raise ValueError("no points")
            times = np.array([stamp_to_sec(p.time_from_start) for p in msg.points])
            stamp = stamp_to_sec(msg.header.stamp)
            if stamp:  # a stamped trajectory starts at its stamp: shift, and drop points already in the past
                times = times + (stamp - time.time())
                keep = times > 0
                if not keep.any():
                    keep[-1], times[-1] = True, 0.0
                times, points = times[keep], [p for p, k in zip(points, keep) if k]
            with self.lock:
                if len(points) == 1 and times[0] <= 0:
                    self.driver.command_positions(points[0])
                else:
                    self.driver.command_trajectory(times.tolist(), points)
        except (ValueError, KeyError) as exc:
            self._reject("JointTrajectory command", exc)
