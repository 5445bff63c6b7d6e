"""Helpers for tests that play the user's hands on the servo-bus emulator."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from lerobot_core.motors.bus import MotorsBus
from lerobot_core.motors.emulator import ServoBusEmulator


def _seen_by_the_bus(emu: ServoBusEmulator) -> None:
    """Hold a hand-set position until the driver has polled the bus twice (so a recorder saw it)."""
    start = emu.stats.requests
    deadline = time.monotonic() + 5.0
    while emu.stats.requests < start + 2 and time.monotonic() < deadline:
        time.sleep(0.002)


@pytest.fixture(autouse=True)
def patient_buses(monkeypatch: pytest.MonkeyPatch) -> None:
    """Buses built inside robots and commands wait 50 ms for replies: the emulator shares a busy CPU."""
    monkeypatch.setattr(MotorsBus, "default_timeout_s", 0.05)


@pytest.fixture
def move_by_hand() -> Callable[[ServoBusEmulator, int, float], None]:
    """``move_by_hand(emu, motor_id, ticks)``: set a joint and wait until the bus has read it."""

    def move(emu: ServoBusEmulator, motor_id: int, ticks: float) -> None:
        emu.set_position(motor_id, ticks)
        _seen_by_the_bus(emu)

    return move
