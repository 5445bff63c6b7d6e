"""JointController and Trajectory on their own: interpolation, partial commands, rejected commands, watchdog,
e-stop (callbacks called directly, a fake clock)."""

from __future__ import annotations

import numpy as np
import pytest
from lerobot_ros.nodes.joint_control import JointController, Trajectory
from lerobot_ros.runtime import Node, make

NAMES = ["a", "b", "c"]


class Clock:
    t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def ctl(make_context):
    node = Node("ctl", context=make_context())
    clock = Clock()
    c = JointController(node, NAMES, np.array([-1.0, -1, -1]), np.array([1.0, 1, 1]),
                        max_relative_target=np.array([0.0, 0.5, 0.0]), command_timeout_s=0.5, clock=clock)  # fmt: skip
    yield c, clock
    node.destroy()


def point(positions, sec: float):
    return make("trajectory_msgs/msg/JointTrajectoryPoint", positions=np.array(positions, float),
                time_from_start=make("builtin_interfaces/msg/Duration", sec=int(sec),
                                     nanosec=round((sec % 1) * 1e9)))  # fmt: skip


def test_trajectory_interpolates_and_holds_the_ends() -> None:
    traj = Trajectory([0.0, 1.0, 3.0], [np.zeros(2), np.array([1.0, 2.0]), np.array([3.0, 2.0])])
    assert traj.sample(-1).tolist() == [0, 0]
    assert traj.sample(0.5).tolist() == [0.5, 1.0]
    assert traj.sample(2.0).tolist() == [2.0, 2.0]
    assert traj.sample(9).tolist() == [3.0, 2.0]
    with pytest.raises(ValueError, match="must not decrease"):
        Trajectory([1.0, 0.0], [np.zeros(1), np.zeros(1)])


def test_trajectory_chunk_starts_from_the_current_goal(ctl) -> None:
    c, clock = ctl
    present = np.zeros(3)
    assert c.update(present) is None  # nothing commanded yet
    c._on_trajectory(make("trajectory_msgs/msg/JointTrajectory", joint_names=["c", "a"],
                          points=[point([0.4, -0.2], 1.0), point([0.8, -0.6], 2.0)]))  # fmt: skip
    assert c.update(present).tolist() == pytest.approx([0.0, 0.0, 0.0])
    clock.t += 0.5
    assert c.update(present).tolist() == pytest.approx([-0.1, 0.0, 0.2])
    clock.t += 1.0
    assert c.update(present).tolist() == pytest.approx([-0.4, 0.0, 0.6])
    clock.t += 0.9
    assert c.update(present).tolist() == pytest.approx([-0.6, 0.0, 0.8])
    assert not c.trajectory_active
    assert c.update(present) is None  # a finished trajectory is not rewritten
    clock.t += 0.2
    assert c.update(present).tolist() == pytest.approx([0.0, 0.0, 0.0])  # watchdog: 0.5 s after its end


def test_bad_commands_are_rejected_and_counted(ctl) -> None:
    c, _ = ctl
    c._on_forward(make("std_msgs/msg/Float64MultiArray", data=np.array([0.1, 0.2])))
    c._on_joint_state(make("sensor_msgs/msg/JointState", name=["z"], position=np.array([0.1])))
    c._on_joint_state(make("sensor_msgs/msg/JointState", name=["a", "b"], position=np.array([0.1])))
    c._on_joint_state(make("sensor_msgs/msg/JointState", name=["a"], position=np.array([np.nan])))
    c._on_trajectory(make("trajectory_msgs/msg/JointTrajectory", joint_names=["a"],
                          points=[point([0.1], 2.0), point([0.2], 1.0)]))  # fmt: skip
    assert c.rejected == 5 and c.commands == 0
    assert c.update(np.zeros(3)) is None


def test_clips_watchdog_and_estop(ctl) -> None:
    c, clock = ctl
    present = np.array([0.0, 0.0, 0.0])
    c._on_forward(make("std_msgs/msg/Float64MultiArray", data=np.array([3.0, 0.9, -0.2])))
    assert c.update(present).tolist() == pytest.approx([1.0, 0.5, -0.2])  # limit on a, relative cap on b
    assert c.clipped == 1
    assert c.update(present) is None  # a streamed command is written once
    clock.t += 0.6
    present = np.array([0.7, 0.4, -0.2])
    assert c.update(present).tolist() == pytest.approx(present.tolist())  # watchdog: hold where it is
    assert c.holding and c.watchdog_holds == 1
    clock.t += 1.0
    assert c.update(present) is None  # holds once, not every cycle
    c.set_estop(True)
    assert c.update(present).tolist() == pytest.approx(present.tolist())
    c._on_forward(make("std_msgs/msg/Float64MultiArray", data=np.array([0.0, 0.0, 0.0])))
    assert c.rejected == 1 and c.update(present) is None
    c.set_estop(False)
    c._on_joint_state(make("sensor_msgs/msg/JointState", name=["c"], position=np.array([0.3])))
    assert c.update(present).tolist() == pytest.approx([0.7, 0.4, 0.3])  # joints not named keep their goal
