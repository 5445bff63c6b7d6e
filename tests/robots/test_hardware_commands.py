"""Motor set-up, the calibrate / setup-motors / find-port commands, on the emulator."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lerobot_core.configs.parser import ConfigError
from lerobot_core.motors import DynamixelMotorsBus, FeetechMotorsBus, Motor, MotorBusError
from lerobot_core.motors.emulator import ServoBusEmulator
from lerobot_core.robots import calibrate_cmd, setup_motors_cmd
from lerobot_core.robots.find_port_cmd import find_port
from lerobot_core.robots.so101_model import JOINT_NAMES


def test_setup_motor_gives_a_factory_motor_its_id() -> None:
    emu = ServoBusEmulator("feetech", {1: "sts3215"})  # factory id 1
    try:
        bus = FeetechMotorsBus(emu.port, {"gripper": Motor(6, "sts3215")}, timeout_s=0.02)
        bus.connect(handshake=False)
        bus.setup_motor("gripper")
        assert list(emu.motors) == [6]
        assert emu.register(6, "Baud_Rate") == 0  # 1 Mbaud
        assert bus.ping("gripper") == 777
        bus.disconnect(disable_torque=False)
    finally:
        emu.close()


def test_setup_motor_finds_a_factory_dynamixel_at_57600_baud() -> None:
    emu = ServoBusEmulator("dynamixel", {})
    emu.plug(1, "xl330-m288", baudrate=57_600)  # ROBOTIS factory settings
    try:
        bus = DynamixelMotorsBus(emu.port, {"wrist_roll": Motor(5, "xl330-m288")}, timeout_s=0.02)
        bus.connect(handshake=False)
        bus.setup_motor("wrist_roll")
        assert list(emu.motors) == [5]
        assert emu.register(5, "Baud_Rate") == 3  # 1 Mbaud
        assert bus.baudrate == 1_000_000 and bus.ping("wrist_roll") == 1200
        bus.disconnect(disable_torque=False)
    finally:
        emu.close()


def test_setup_motor_refuses_several_motors() -> None:
    emu = ServoBusEmulator("feetech", {1: "sts3215", 2: "sts3215"})
    try:
        bus = FeetechMotorsBus(emu.port, {"gripper": Motor(6, "sts3215")}, timeout_s=0.02)
        bus.connect(handshake=False)
        with pytest.raises(MotorBusError, match="connect only the 'gripper' motor"):
            bus.setup_motor("gripper")
        bus.disconnect(disable_torque=False)
    finally:
        emu.close()


def test_setup_motors_command_walks_through_every_motor(monkeypatch: pytest.MonkeyPatch) -> None:
    emu = ServoBusEmulator("feetech", {1: "sts3215"})
    try:
        seen: list[str] = []
        done = []

        def user(message: str) -> str:
            # The user unplugs the motor just configured and plugs in a new one with factory id 1.
            seen.append(message)
            done.extend(emu.unplug(mid) for mid in list(emu.motors))
            emu.plug(1, "sts3215")
            return ""

        monkeypatch.setattr("builtins.input", user)
        assert setup_motors_cmd.main(["--robot.type=so101_follower", f"--robot.port={emu.port}"]) == 0
        assert [m.split("'")[1] for m in seen] == list(reversed(JOINT_NAMES))
        configured = done[1:] + list(emu.motors.values())  # done[0] is the motor on the bus at the start
        assert [m.motor_id for m in configured] == [6, 5, 4, 3, 2, 1]
    finally:
        emu.close()


def test_calibrate_command_saves_upstream_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, move_by_hand) -> None:
    emu = ServoBusEmulator("feetech", {i: "sts3215" for i in range(1, 7)})
    try:
        def user(message: str) -> str:
            if "Press ENTER to stop" in message:  # sweep every joint, then press ENTER
                for i in range(1, 7):
                    for ticks in (1200, 2900, 2047):
                        move_by_hand(emu, i, ticks)
            return ""

        monkeypatch.setattr("builtins.input", user)
        argv = ["--teleop.type=so101_leader", f"--teleop.port={emu.port}", "--teleop.id=lead",
                f"--teleop.calibration_dir={tmp_path}"]  # fmt: skip
        assert calibrate_cmd.main(argv) == 0
        saved = json.loads((tmp_path / "lead.json").read_text())
        assert saved["wrist_roll"]["range_min"] == 1200 and saved["wrist_roll"]["range_max"] == 2900
    finally:
        emu.close()
    with pytest.raises((ValueError, ConfigError), match="exactly one"):
        calibrate_cmd.main([])


def test_find_port_detects_the_unplugged_port() -> None:
    states = [{"/dev/ttyACM0", "/dev/ttyACM1"}, {"/dev/ttyACM0"}]
    assert find_port(prompt=lambda m: "", ports=lambda: states.pop(0)) == "/dev/ttyACM1"
    with pytest.raises(OSError, match="0 ports disappeared"):
        find_port(prompt=lambda m: "", ports=lambda: {"/dev/ttyACM0"})
