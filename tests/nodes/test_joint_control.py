"""JointCommands: the three command messages reach the core JointDriver gate (names, chunks, stamps); malformed
ones are rejected and counted (callbacks called directly, a fake backend)."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from lerobot_ros.nodes.joint_control import DEFAULT_TOPICS, JointCommands, diagnostic_status, flatten
from lerobot_ros.runtime import Node, make
from lerobot_ros.runtime.conversions import sec_to_stamp

from lerobot_core.robots.driver import DriverConfig, JointDriver

NAMES = ["a", "b", "c"]


class FakeArm:
    joint_names = NAMES

    def __init__(self) -> None:
        self.q = np.zeros(3)
        self.written: list[np.ndarray] = []

    def read_positions(self) -> np.ndarray:
        return self.q.copy()

    def write_targets(self, targets: np.ndarray) -> None:
        self.written.append(targets.copy())

    def set_torque(self, enabled: bool) -> None:
        pass

    def diagnostics(self) -> dict:
        return {"bus": {"timeouts": 2, "lost_by_motor": {"a": 1}}}


@pytest.fixture
def rig(make_context):
    node = Node("cmds", context=make_context())
    driver = JointDriver(FakeArm(), DriverConfig(NAMES, [-1.0] * 3, [1.0] * 3, command_timeout_s=10.0))
    yield driver, JointCommands(node, driver, DEFAULT_TOPICS, threading.RLock())
    node.destroy()


def point(positions, sec: float):
    return make("trajectory_msgs/msg/JointTrajectoryPoint", positions=np.array(positions, float),
                time_from_start=make("builtin_interfaces/msg/Duration", sec=int(sec),
                                     nanosec=round((sec % 1) * 1e9)))  # fmt: skip


def trajectory(names, points, stamp: float = 0.0):
    header = make("std_msgs/msg/Header", stamp=sec_to_stamp(stamp))
    return make("trajectory_msgs/msg/JointTrajectory", header=header, joint_names=names, points=points)


def test_position_commands_by_name_and_in_joint_order(rig) -> None:
    driver, cmds = rig
    cmds._on_joint_state(make("sensor_msgs/msg/JointState", name=["c"], position=np.array([0.3])))
    assert driver.update().targets.tolist() == pytest.approx([0.0, 0.0, 0.3])  # joints not named keep theirs
    cmds._on_forward(make("std_msgs/msg/Float64MultiArray", data=np.array([0.1, 5.0, -0.2])))
    assert driver.update().targets.tolist() == pytest.approx([0.1, 1.0, -0.2])  # clamped to the limit
    assert driver.stats.commands == 2 and cmds.rejected == 0


def test_trajectory_chunks_partial_joints_and_stamps(rig) -> None:
    driver, cmds = rig
    cmds._on_trajectory(trajectory(["c", "a"], [point([0.4, -0.2], 1.0), point([0.8, -0.6], 2.0)]))
    _t0, times, pts = driver._trajectory
    assert times.tolist() == [0.0, 1.0, 2.0]  # interpolated from the current target
    np.testing.assert_allclose(pts, [[0, 0, 0], [-0.2, 0, 0.4], [-0.6, 0, 0.8]])
    cmds._on_trajectory(trajectory(["a"], [point([0.5], 0.5), point([0.7], 1.0)], stamp=time.time() + 1.0))
    _t0, times, _ = driver._trajectory
    assert times[1:] == pytest.approx([1.5, 2.0], abs=0.05)  # starts at its stamp
    cmds._on_trajectory(trajectory(["b"], [point([0.2], 0.1), point([0.3], 0.2)], stamp=time.time() - 5.0))
    assert driver._trajectory is None and driver._target[1] == pytest.approx(0.3)  # all in the past: last point


@pytest.mark.parametrize("call", [
    lambda c: c._on_forward(make("std_msgs/msg/Float64MultiArray", data=np.array([0.1, 0.2]))),
    lambda c: c._on_joint_state(make("sensor_msgs/msg/JointState", name=["z"], position=np.array([0.1]))),
    lambda c: c._on_joint_state(make("sensor_msgs/msg/JointState", name=["a", "b"], position=np.array([0.1]))),
    lambda c: c._on_joint_state(make("sensor_msgs/msg/JointState", name=["a"], position=np.array([np.nan]))),
    lambda c: c._on_trajectory(trajectory(["a"], [point([0.1], 2.0), point([0.2], 1.0)])),
    lambda c: c._on_trajectory(trajectory(["a"], [])),
])  # fmt: skip
def test_malformed_commands_are_rejected_and_counted(rig, call) -> None:
    driver, cmds = rig
    call(cmds)
    assert cmds.rejected == 1 and driver.stats.commands == 0


def test_commands_while_estopped_are_refused_by_the_gate(rig) -> None:
    driver, cmds = rig
    driver.estop()
    cmds._on_forward(make("std_msgs/msg/Float64MultiArray", data=np.array([0.1, 0.2, 0.3])))
    assert driver.stats.rejected_commands == 1 and driver.update().targets.tolist() == [0.0, 0.0, 0.0]


def test_diagnostics_are_flattened_to_key_values() -> None:
    assert flatten({"bus": {"timeouts": 2, "lost_by_motor": {"a": 1}}, "rate_hz": 9.5}) == {
        "bus_timeouts": 2, "bus_lost_by_motor_a": 1, "rate_hz": 9.5}
    status = diagnostic_status("drv", "hw", 1, "warn", {"rate_hz": 99.123456, "bus": {"timeouts": 2}})
    assert [(kv.key, kv.value) for kv in status.values] == [("rate_hz", "99.12"), ("bus_timeouts", "2")]
    assert (status.level, status.name, status.hardware_id) == (1, "drv", "hw")
