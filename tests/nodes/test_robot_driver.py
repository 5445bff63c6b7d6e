"""robot_driver against the Feetech servo-bus emulator on a pty, over a real in-process Zenoh router."""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Iterator

import numpy as np
import pytest
from helpers.inbox import Inbox
from lerobot_ros.nodes.robot_driver import RobotDriver
from lerobot_ros.runtime import QOS_DEFAULT, Node, make

from lerobot_core.robots.so101_model import JOINT_NAMES, joint_limits

TICKS_PER_RAD = 4096 / (2 * math.pi)


def emu_rad(emu, motor_id: int) -> float:
    return (emu.present_position(motor_id) - 2047) / TICKS_PER_RAD


@pytest.fixture
def rig(make_context, so101_emulator) -> Iterator[tuple]:
    emu, calib_dir = so101_emulator

    def start(**params) -> tuple[RobotDriver, Node, Inbox]:
        overrides = {"port": emu.port, "id": "test", "calibration_dir": str(calib_dir), "rate_hz": 100.0,
                     "command_timeout_s": 0.0, "diagnostics_period_s": 0.3, **params}  # fmt: skip
        node = Node("robot_driver", context=make_context(), parameter_overrides=overrides)
        driver = RobotDriver(node)
        client = Node("tester", context=make_context())
        states = Inbox()
        client.create_subscription("sensor_msgs/msg/JointState", "/joint_states", states, QOS_DEFAULT)
        created.append((driver, node, client))
        states.wait(timeout=10)
        return driver, client, states

    created: list = []
    yield emu, start
    for driver, node, client in created:
        client.destroy()
        driver.close()
        node.destroy()


def publish_until(client: Node, pub, msg, condition, timeout: float = 5.0) -> None:
    """Publish ``msg`` until ``condition()`` holds (the first samples may race subscription discovery)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pub.publish(msg)
        t_end = time.monotonic() + 0.3
        while time.monotonic() < t_end:
            if condition():
                return
            time.sleep(0.02)
    pytest.fail("condition not reached")


def test_joint_states_are_stamped_radians_in_joint_order(rig) -> None:
    emu, start = rig
    emu.set_position(1, 2047 + round(0.5 * TICKS_PER_RAD))
    _driver, _client, states = start()
    msg = states.wait_new(lambda m: abs(m.position[0] - 0.5) < 0.01)
    assert list(msg.name) == list(JOINT_NAMES)
    assert msg.header.frame_id == "base_link"
    assert abs(msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9 - time.time()) < 2.0
    assert np.allclose(msg.position[1:], 0.0, atol=0.01)
    assert len(msg.velocity) == 6


def test_joint_state_float_array_and_trajectory_commands_move_the_motors(rig) -> None:
    emu, start = rig
    _driver, client, states = start()
    js = client.create_publisher("sensor_msgs/msg/JointState", "/joint_commands", QOS_DEFAULT)
    publish_until(client, js, make("sensor_msgs/msg/JointState", name=["elbow_flex"], position=np.array([0.4])),
                  lambda: abs(emu_rad(emu, 3) - 0.4) < 0.01)  # fmt: skip
    assert abs(emu_rad(emu, 1)) < 0.01  # joints not named keep their goal

    fwd = client.create_publisher("std_msgs/msg/Float64MultiArray", "/forward_position_controller/commands",
                                  QOS_DEFAULT)  # fmt: skip
    target = np.array([0.2, -0.3, 0.1, 0.25, -0.5, 0.6])
    publish_until(client, fwd, make("std_msgs/msg/Float64MultiArray", data=target),
                  lambda: all(abs(emu_rad(emu, i + 1) - target[i]) < 0.01 for i in range(6)))  # fmt: skip

    traj = client.create_publisher("trajectory_msgs/msg/JointTrajectory", "/joint_trajectory", QOS_DEFAULT)
    points = [make("trajectory_msgs/msg/JointTrajectoryPoint", positions=np.array([p]),
                   time_from_start=make("builtin_interfaces/msg/Duration", sec=s, nanosec=0))
              for p, s in ((-0.2, 1), (-0.6, 2))]  # fmt: skip
    msg = make("trajectory_msgs/msg/JointTrajectory", joint_names=["shoulder_pan"], points=points)
    states.messages.clear()
    t0 = time.time()
    traj.publish(msg)
    mid = states.wait(lambda m: m.header.stamp.sec + m.header.stamp.nanosec * 1e-9 > t0 + 0.5 and
                      m.position[0] < 0.15, timeout=5)  # fmt: skip
    assert -0.2 < mid.position[0] < 0.15  # interpolated from 0.2 towards -0.2 over the first second
    states.wait(lambda m: abs(m.position[0] + 0.6) < 0.01, timeout=5)
    assert abs(emu_rad(emu, 2) + 0.3) < 0.01  # other joints unchanged


def test_joint_limits_and_max_relative_target_clip_commands(rig) -> None:
    emu, start = rig
    driver, client, states = start(max_relative_target=0.01)  # rad per update: at most ~1 rad/s at 100 Hz
    js = client.create_publisher("sensor_msgs/msg/JointState", "/joint_commands", QOS_DEFAULT)
    msg = make("sensor_msgs/msg/JointState", name=["shoulder_pan"], position=np.array([1.0]))
    states.messages.clear()
    t0 = time.monotonic()
    publish_until(client, js, msg, lambda: driver.driver.stats.commands >= 1)
    states.wait_new(lambda m: abs(m.position[0] - 1.0) < 0.02, timeout=15)
    assert time.monotonic() - t0 > 0.8  # 1 rad took at least ~100 updates
    pans = [m.position[0] for m in states.messages]
    assert max(b - a for a, b in itertools.pairwise(pans)) < 0.015  # never more than the cap per update
    assert driver.driver.stats.clipped_updates > 50

    driver.driver.max_step = None
    upper = joint_limits()["shoulder_pan"][1]
    js.publish(make("sensor_msgs/msg/JointState", name=["shoulder_pan"], position=np.array([5.0])))
    states.wait_new(lambda m: abs(m.position[0] - upper) < 0.01, timeout=5)
    time.sleep(0.2)
    assert emu_rad(emu, 1) == pytest.approx(upper, abs=0.01)  # never beyond the joint limit


def test_watchdog_holds_the_present_position_when_commands_stop(rig) -> None:
    emu, start = rig
    emu.max_speed = 250.0  # ~0.38 rad/s: slow enough to stop mid-way
    driver, client, _states = start(command_timeout_s=0.3)
    js = client.create_publisher("sensor_msgs/msg/JointState", "/joint_commands", QOS_DEFAULT)
    publish_until(client, js, make("sensor_msgs/msg/JointState", name=["wrist_flex"], position=np.array([1.5])),
                  lambda: driver.driver.stats.commands >= 1)  # fmt: skip
    deadline = time.monotonic() + 5
    while not driver.driver.stats.watchdog_trips and time.monotonic() < deadline:
        time.sleep(0.02)
    assert driver.driver.stats.watchdog_trips == 1
    time.sleep(0.4)
    held = emu_rad(emu, 4)
    time.sleep(0.5)
    assert 0.02 < held < 1.0  # stopped well short of the stale 1.5 rad target
    assert emu_rad(emu, 4) == pytest.approx(held, abs=0.02)


def test_estop_rejects_commands_and_torque_service_switches_torque(rig) -> None:
    emu, start = rig
    driver, client, _states = start()
    estop = client.create_client("std_srvs/srv/SetBool", "/robot_driver/estop")
    torque = client.create_client("std_srvs/srv/SetBool", "/robot_driver/enable_torque")
    assert estop.wait_for_service(10) and torque.wait_for_service(10)
    reply = estop.call(make("std_srvs/srv/SetBool_Request", data=True))
    assert reply.success and "engaged" in reply.message
    js = client.create_publisher("sensor_msgs/msg/JointState", "/joint_commands", QOS_DEFAULT)
    msg = make("sensor_msgs/msg/JointState", name=["gripper"], position=np.array([1.0]))
    publish_until(client, js, msg, lambda: driver.driver.stats.rejected_commands >= 1)
    time.sleep(0.3)
    assert abs(emu_rad(emu, 6)) < 0.01  # not moved
    assert estop.call(make("std_srvs/srv/SetBool_Request", data=False)).success
    publish_until(client, js, msg, lambda: abs(emu_rad(emu, 6) - 1.0) < 0.01)

    assert torque.call(make("std_srvs/srv/SetBool_Request", data=False)).success
    assert all(emu.register(i, "Torque_Enable") == 0 for i in range(1, 7))
    assert torque.call(make("std_srvs/srv/SetBool_Request", data=True)).success
    assert all(emu.register(i, "Torque_Enable") == 1 for i in range(1, 7))


def test_lost_replies_are_counted_in_diagnostics_and_the_loop_keeps_running(rig) -> None:
    emu, start = rig
    _driver, client, states = start()
    diags = Inbox()
    client.create_subscription("diagnostic_msgs/msg/DiagnosticArray", "/diagnostics", diags, QOS_DEFAULT)
    emu.loss_rate = 0.2
    time.sleep(1.0)
    emu.loss_rate = 0.0
    count = len(states.messages)
    states.wait_new(timeout=5)
    assert len(states.messages) > count

    def values(msg) -> dict[str, str]:
        return {kv.key: kv.value for kv in msg.status[0].values}

    msg = diags.wait_new(lambda m: int(values(m).get("bus_timeouts", 0)) > 0, timeout=5)
    v = values(msg)
    assert sum(int(v.get(f"bus_lost_by_motor_{n}", 0)) for n in JOINT_NAMES) > 0
    assert float(v["rate_hz"]) > 20
    assert v["temperatures_c_gripper"] == "31"  # the emulator's temperature register
    assert msg.status[0].hardware_id.startswith("so101_follower:")


def test_koch_follower_on_a_dynamixel_bus(make_context, tmp_path) -> None:
    from lerobot_core.motors.calibration import calibration_from_limits, save_calibration
    from lerobot_core.motors.emulator import ServoBusEmulator
    from lerobot_core.robots.koch import FOLLOWER_MODELS

    emu = ServoBusEmulator("dynamixel", {i: m for i, m in enumerate(FOLLOWER_MODELS, 1)})
    save_calibration(tmp_path / "koch.json",
                     calibration_from_limits(joint_limits(), {n: i for i, n in enumerate(JOINT_NAMES, 1)}))
    node = Node("robot_driver", context=make_context(), parameter_overrides={
        "robot_type": "koch_follower", "port": emu.port, "id": "koch", "calibration_dir": str(tmp_path),
        "command_timeout_s": 0.0})  # fmt: skip
    driver = RobotDriver(node)
    client = Node("tester", context=make_context())
    try:
        fwd = client.create_publisher("std_msgs/msg/Float64MultiArray", "/forward_position_controller/commands",
                                      QOS_DEFAULT)  # fmt: skip
        target = np.array([0.3, 0.0, -0.2, 0.0, 0.0, 0.1])
        publish_until(client, fwd, make("std_msgs/msg/Float64MultiArray", data=target),
                      lambda: abs(emu_rad(emu, 1) - 0.3) < 0.01 and abs(emu_rad(emu, 3) + 0.2) < 0.01)  # fmt: skip
        assert driver.hardware_id.startswith("koch_follower:")
    finally:
        client.destroy()
        driver.close()
        node.destroy()
        emu.close()
