"""JointDriver safety gate on the simulator and on an emulated SO-101: limits, clip, watchdog, e-stop."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from lerobot_core.motors.calibration import MotorCalibration, save_calibration
from lerobot_core.motors.emulator import ServoBusEmulator
from lerobot_core.robots.config import SO101FollowerConfig
from lerobot_core.robots.driver import DriverConfig, FollowerBackend, JointDriver, SimBackend
from lerobot_core.robots.factory import make_robot
from lerobot_core.robots.so101_model import JOINT_NAMES, joint_limits
from lerobot_core.sim.env import SO101Sim, SO101SimConfig

LOWER = [joint_limits()[n][0] for n in JOINT_NAMES]
UPPER = [joint_limits()[n][1] for n in JOINT_NAMES]


@pytest.fixture
def sim_driver():
    sim = SO101Sim(SO101SimConfig(cameras=[]))
    driver = JointDriver(SimBackend(sim), DriverConfig(list(JOINT_NAMES), LOWER, UPPER, command_timeout_s=0.5))
    yield sim, driver
    sim.close()


def _run(sim: SO101Sim, driver: JointDriver, t0: float, seconds: float) -> float:
    t = t0
    for _ in range(round(seconds * sim.config.fps)):
        driver.update(now=t)
        sim.step()
        t += 1.0 / sim.config.fps
    return t


def test_position_command_moves_the_arm_and_targets_are_clamped_to_limits(sim_driver) -> None:
    sim, driver = sim_driver
    driver.command_positions({"shoulder_pan": 0.5, "wrist_roll": 9.0}, now=0.0)
    sample = driver.update(now=0.0)
    assert sample.names == list(JOINT_NAMES)
    assert sample.targets[4] == pytest.approx(UPPER[4])  # clamped to the joint limit
    _run(sim, driver, 0.0, 0.3)
    assert sim.joint_positions()[0] == pytest.approx(0.5, abs=0.03)
    with pytest.raises(ValueError, match="expected 6"):
        driver.command_positions([0.0, 1.0])
    with pytest.raises(KeyError, match="unknown joints"):
        driver.command_positions({"elbow": 0.1})


def test_max_relative_target_limits_each_update(sim_driver) -> None:
    sim, _ = sim_driver
    driver = JointDriver(SimBackend(sim), DriverConfig(list(JOINT_NAMES), LOWER, UPPER, max_relative_target=0.05))
    driver.command_positions({"shoulder_pan": 1.5}, now=0.0)
    measured = sim.joint_positions()
    sample = driver.update(now=0.0)
    assert sample.targets[0] == pytest.approx(measured[0] + 0.05)
    assert driver.stats.clipped_updates == 1


def test_watchdog_holds_position_when_commands_stop(sim_driver) -> None:
    sim, _ = sim_driver
    slow = DriverConfig(list(JOINT_NAMES), LOWER, UPPER, max_relative_target=0.01, command_timeout_s=0.5)
    driver = JointDriver(SimBackend(sim), slow)  # slow, so the arm is still on its way at the timeout
    driver.command_positions({"shoulder_pan": 1.0}, now=0.0)
    t = _run(sim, driver, 0.0, 0.2)  # still within the timeout: moving
    assert driver.stats.watchdog_trips == 0
    t = _run(sim, driver, t, 0.4)  # > 0.5 s without a command
    assert driver.stats.watchdog_trips == 1
    held = driver.update(now=t).targets.copy()
    assert held[0] < 0.5  # stopped short of the stale target
    _run(sim, driver, t, 0.3)
    np.testing.assert_allclose(driver.update(now=t + 1.0).targets, held, atol=1e-3)


def test_trajectory_chunk_is_interpolated(sim_driver) -> None:
    _sim, driver = sim_driver
    start = driver.update(now=0.0).targets.copy()
    p1, p2 = start.copy(), start.copy()
    p1[0], p2[0] = 0.4, 0.8
    driver.command_trajectory([0.5, 1.0], [p1, p2], now=0.0)
    assert driver.update(now=0.25).targets[0] == pytest.approx((start[0] + 0.4) / 2, abs=1e-9)
    assert driver.update(now=0.75).targets[0] == pytest.approx(0.6, abs=1e-9)
    assert driver.update(now=2.0).targets[0] == pytest.approx(0.8, abs=1e-9)
    with pytest.raises(ValueError, match="strictly increasing"):
        driver.command_trajectory([1.0, 0.5], [p1, p2])


def test_estop_holds_and_rejects_commands_until_released(sim_driver) -> None:
    sim, driver = sim_driver
    driver.command_positions({"elbow_flex": 0.0}, now=0.0)
    _run(sim, driver, 0.0, 0.1)
    driver.estop()
    held = sim.joint_positions()
    assert driver.command_positions({"elbow_flex": 1.0}, now=0.2) is False
    np.testing.assert_allclose(driver.update(now=0.2).targets, np.clip(held, LOWER, UPPER))
    assert driver.diagnostics()["estopped"] is True and driver.stats.rejected_commands == 1
    driver.release_estop()
    assert driver.command_positions({"elbow_flex": 1.0}, now=0.3) is True


def test_torque_off_makes_the_simulated_arm_limp(sim_driver) -> None:
    sim, driver = sim_driver
    before = sim.joint_positions()
    driver.set_torque(False)
    _run(sim, driver, 0.0, 0.5)
    assert np.abs(sim.joint_positions() - before).max() > 0.05  # gravity wins
    driver.set_torque(True)
    after = sim.joint_positions()
    _run(sim, driver, 1.0, 0.3)
    assert np.abs(sim.joint_positions() - after).max() < 0.05  # holds again


def test_driver_on_an_emulated_so101_with_lost_packets(tmp_path: Path) -> None:
    emu = ServoBusEmulator("feetech", {i: "sts3215" for i in range(1, 7)})
    try:
        save_calibration(tmp_path / "d.json", {n: MotorCalibration(i, 0, 0, 900, 3200) for i, n in enumerate(JOINT_NAMES, 1)})
        robot = make_robot(SO101FollowerConfig(port=emu.port, id="d", calibration_dir=tmp_path, units="radians"))
        robot.connect(prompt=lambda message: "")  # ENTER: reuse the calibration file
        driver = JointDriver(FollowerBackend(robot), DriverConfig(list(JOINT_NAMES), LOWER, UPPER, max_relative_target=0.2))
        driver.command_positions({"elbow_flex": 0.3})
        emu.loss_rate = 0.1
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline:
            sample = driver.update()
            if abs(sample.positions[2] - 0.3) < 0.01:
                break
            time.sleep(0.005)
        assert sample.positions[2] == pytest.approx(0.3, abs=0.01)
        diag = driver.diagnostics()
        assert diag["rate_hz"] > 0 and set(diag["temperatures_c"]) == set(JOINT_NAMES)
        assert sum(diag["bus"]["lost_by_motor"].values()) > 0
        # E-stop on the real driver path: the arm holds, a new command is refused.
        emu.loss_rate = 0.0
        driver.estop()
        assert driver.command_positions({"elbow_flex": -0.3}) is False
        for _ in range(20):
            sample = driver.update()
        assert sample.positions[2] == pytest.approx(0.3, abs=0.01)
        # Watchdog on the real driver path: a stale far target is dropped for the measured position.
        driver.release_estop()
        driver.command_positions({"elbow_flex": 1.2}, now=0.0)
        driver.update(now=0.0)
        held = driver.update(now=10.0).targets[2]  # long after command_timeout_s
        assert driver.stats.watchdog_trips == 1 and held < 1.0
        robot.disconnect()
    finally:
        emu.close()


def test_driver_config_errors_name_the_problem() -> None:
    with pytest.raises(ValueError, match="one limit per joint"):
        DriverConfig(["a", "b"], [0.0], [1.0, 1.0])
    with pytest.raises(ValueError, match=r"lower limit must be below upper limit for joints \['b'\]"):
        DriverConfig(["a", "b"], [0.0, 2.0], [1.0, 1.0])
    with pytest.raises(ValueError, match="max_relative_target"):
        DriverConfig(["a"], [0.0], [1.0], max_relative_target=[0.1, 0.2])
