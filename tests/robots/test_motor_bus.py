"""Feetech and Dynamixel buses end to end against the servo-bus emulator on a pty."""

from __future__ import annotations

import math
import time

import pytest

from lerobot_core.motors import (
    DynamixelMotorsBus,
    FeetechMotorsBus,
    Motor,
    MotorBusError,
    MotorCalibration,
    MotorNormMode,
)
from lerobot_core.motors.emulator import ServoBusEmulator

VENDORS = {
    "feetech": (FeetechMotorsBus, "sts3215", 777),
    "dynamixel": (DynamixelMotorsBus, "xl330-m288", 1200),
}
NAMES = ["a", "b", "c", "d", "e", "f"]


@pytest.fixture(params=list(VENDORS))
def rig(request):
    vendor = request.param
    bus_cls, model, _ = VENDORS[vendor]
    emu = ServoBusEmulator(vendor, {i: model for i in range(1, 7)})
    motors = {n: Motor(i, model, MotorNormMode.RADIANS) for i, n in enumerate(NAMES, 1)}
    bus = bus_cls(emu.port, motors, timeout_s=0.03, num_retry=1)  # generous: CI machines are busy
    bus.connect()
    yield vendor, emu, bus
    bus.disconnect(disable_torque=False)
    emu.close()


def test_handshake_ping_and_broadcast_ping(rig) -> None:
    vendor, _emu, bus = rig
    model_number = VENDORS[vendor][2]
    assert bus.ping("c") == model_number
    assert bus.broadcast_ping() == {i: model_number for i in range(1, 7)}
    assert bus.ping(42, num_retry=0) is None


def test_read_write_and_sync_read_raw_positions(rig) -> None:
    _, emu, bus = rig
    for i in range(1, 7):
        emu.set_position(i, 1000 + 100 * i)
    assert bus.sync_read("Present_Position", normalize=False) == {n: 1000 + 100 * i for i, n in enumerate(NAMES, 1)}
    assert bus.read("Present_Position", "b", normalize=False) == 1200
    bus.write("Return_Delay_Time", "d", 0, normalize=False)
    assert emu.register(4, "Return_Delay_Time") == 0
    assert bus.read("ID", "e", normalize=False) == 5


def test_sync_write_goal_moves_motors_with_torque_on(rig) -> None:
    _, emu, bus = rig
    bus.calibration = {n: MotorCalibration(i, 0, 0, 0, 4095) for i, n in enumerate(NAMES, 1)}
    bus.enable_torque()
    assert all(emu.register(i, "Torque_Enable") == 1 for i in range(1, 7))
    bus.sync_write("Goal_Position", {"a": 0.5, "f": -0.25})
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        pos = bus.sync_read("Present_Position")
        if abs(pos["a"] - 0.5) < 0.01 and abs(pos["f"] + 0.25) < 0.01:
            break
        time.sleep(0.01)
    assert pos["a"] == pytest.approx(0.5, abs=0.01)
    assert pos["f"] == pytest.approx(-0.25, abs=0.01)
    assert pos["c"] == pytest.approx(0.0, abs=0.01)
    bus.disable_torque(["a"])
    assert emu.register(1, "Torque_Enable") == 0


def test_operating_mode_and_baud_rate(rig) -> None:
    _vendor, emu, bus = rig
    bus.set_operating_mode(1, ["b"])
    assert emu.register(2, "Operating_Mode") == 1
    with pytest.raises(ValueError, match="baud rate must be one of"):
        bus.set_baudrate(1234)
    code = bus.baudrates[57_600]
    bus.write("Baud_Rate", "a", code, normalize=False)
    assert emu.register(1, "Baud_Rate") == code
    # Motor a now listens at 57.6 kbaud only (the emulator checks the rate the driver set on the pty).
    assert bus.ping("a", num_retry=0) is None and bus.ping("b") is not None
    bus.set_baudrate(57_600)
    assert bus.ping("a") is not None and bus.ping("b", num_retry=0) is None
    bus.set_baudrate(1_000_000)


def test_half_turn_homing_and_calibration_round_trip(rig) -> None:
    vendor, emu, bus = rig
    for i in range(1, 7):
        emu.set_position(i, 300 * i)
    bus.disable_torque()
    homings = bus.set_half_turn_homings()
    assert bus.sync_read("Present_Position", normalize=False) == {n: 2047 for n in NAMES}
    # Negative offsets exercise Feetech's sign-magnitude encoding.
    assert any(h < 0 for h in homings.values()) or vendor == "dynamixel"
    calib = {n: MotorCalibration(i, 0, homings[n], 1000, 3000) for i, n in enumerate(NAMES, 1)}
    bus.write_calibration(calib)
    assert bus.read_calibration() == calib
    assert bus.is_calibrated()
    assert bus.sync_read("Present_Position")["a"] == pytest.approx(0.0)


def test_lost_and_corrupt_replies_keep_last_state_and_are_counted(rig) -> None:
    _, emu, bus = rig
    emu.set_position(3, 2500)
    first = bus.sync_read("Present_Position", normalize=False)
    emu.set_position(3, 2600)
    emu.drop_next(3)
    emu.corrupt_next(5)
    second = bus.sync_read("Present_Position", normalize=False)
    assert second["c"] == first["c"] == 2500  # last known state
    assert bus.stats.lost_by_motor["c"] == 1 and bus.stats.lost_by_motor["e"] == 1
    assert bus.stats.corrupt >= 1 and bus.stats.timeouts >= 2
    assert bus.sync_read("Present_Position", normalize=False)["c"] == 2600  # recovers


def test_control_loop_survives_random_packet_loss_and_an_unplugged_motor(rig) -> None:
    _, emu, bus = rig
    emu.loss_rate = 0.2
    bus.sync_read("Present_Position", normalize=False)
    emu.silence(6)
    for _ in range(30):
        values = bus.sync_read("Present_Position", normalize=False)
        assert set(values) == set(NAMES)
    assert bus.stats.lost_by_motor["f"] >= 30
    assert sum(bus.stats.lost_by_motor.values()) > 30
    emu.loss_rate = 0.0
    with pytest.raises(MotorBusError, match=r"motor f did not answer"):
        bus.read("Present_Position", "f", normalize=False)


def test_connect_reports_missing_and_wrong_motors() -> None:
    emu = ServoBusEmulator("feetech", {1: "sts3215", 2: "scs0009"})
    try:
        motors = {"x": Motor(1, "sts3215"), "y": Motor(2, "sts3215"), "z": Motor(3, "sts3215")}
        bus = FeetechMotorsBus(emu.port, motors, timeout_s=0.03, num_retry=0)
        with pytest.raises(MotorBusError, match=r"no answer from z \(id 3\).*wrong models: y"):
            bus.connect()
        assert not bus.is_connected
    finally:
        emu.close()
    with pytest.raises(ConnectionError, match="could not open"):
        FeetechMotorsBus("/nonexistent/tty", {"x": Motor(1, "sts3215")}).connect()
    with pytest.raises(ValueError, match="unknown feetech model"):
        FeetechMotorsBus("/dev/null", {"x": Motor(1, "xl330-m288")})


def test_positions_need_calibration_to_normalize(rig) -> None:
    _, _, bus = rig
    with pytest.raises(RuntimeError, match="no calibration"):
        bus.sync_read("Present_Position")
    with pytest.raises(KeyError, match="unknown .* register"):
        bus.read("Nope", "a")
    assert math.isfinite(bus.read("Present_Temperature", "a"))


def test_feetech_sign_magnitude_and_dynamixel_twos_complement_registers() -> None:
    fee = FeetechMotorsBus("/dev/null", {"a": Motor(1, "sts3215")})
    assert fee._encode("Homing_Offset", -300, 2) == (0x800 | 300).to_bytes(2, "little")
    assert fee._decode("Homing_Offset", (0x800 | 300).to_bytes(2, "little")) == -300
    assert fee._encode("Goal_Position", -5, 2) == (0x8000 | 5).to_bytes(2, "little")
    assert fee._decode("Present_Position", (4095).to_bytes(2, "little")) == 4095
    with pytest.raises(ValueError, match="does not fit"):
        fee._encode("Homing_Offset", 5000, 2)
    dxl = DynamixelMotorsBus("/dev/null", {"a": Motor(1, "xl330-m288")})
    assert dxl._decode("Present_Position", (-70000).to_bytes(4, "little", signed=True)) == -70000
    assert dxl._decode("Goal_PWM", (65535).to_bytes(2, "little")) == -1


def test_scs_servos_are_big_endian_end_to_end() -> None:
    emu = ServoBusEmulator("feetech", {1: "scs0009", 2: "scs0009"})
    try:
        bus = FeetechMotorsBus(emu.port, {"x": Motor(1, "scs0009"), "y": Motor(2, "scs0009")}, timeout_s=0.03)
        bus.connect()
        emu.set_position(1, 700)
        assert bytes(emu.motors[1].memory[56:58]) == (700).to_bytes(2, "big")
        assert bus.sync_read("Present_Position", normalize=False) == {"x": 700, "y": 511}
        bus.write("Goal_Time", "y", 300, normalize=False)
        assert emu.register(2, "Goal_Time") == 300
        bus.disconnect(disable_torque=False)
    finally:
        emu.close()
    with pytest.raises(ValueError, match="cannot mix SCS"):
        FeetechMotorsBus("/dev/null", {"x": Motor(1, "scs0009"), "y": Motor(2, "sts3215")})
