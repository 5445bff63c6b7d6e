"""Node-test fixtures: an in-process Zenoh router, Zenoh contexts on it, the servo-bus emulator with a calibrated
SO-101 follower on its pty, and helpers that wait for messages.

The router and context fixtures are the runtime's (``tests/runtime/conftest.py``), re-declared here.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from helpers.zenoh_router import open_router
from lerobot_ros.runtime.spin import reset_shutdown
from lerobot_ros.runtime.zenoh_backend import ZenohContext

from lerobot_core.motors.bus import MotorsBus
from lerobot_core.motors.calibration import calibration_from_limits, save_calibration
from lerobot_core.motors.emulator import ServoBusEmulator
from lerobot_core.robots.so101_model import JOINT_NAMES, joint_limits

_ids = itertools.count(1)


@pytest.fixture(scope="session")
def zenoh_router() -> Iterator[str]:
    with open_router() as endpoint:
        yield endpoint


@pytest.fixture
def make_context(zenoh_router: str) -> Iterator[Callable[..., ZenohContext]]:
    contexts: list[ZenohContext] = []

    def factory() -> ZenohContext:
        overrides = {"connect/endpoints": json.dumps([zenoh_router]), "listen/endpoints": '["tcp/127.0.0.1:0"]',
                     "id": f"b{next(_ids):031x}"}  # fmt: skip
        ctx = ZenohContext(overrides=overrides, router_check_attempts=5)
        contexts.append(ctx)
        return ctx

    reset_shutdown()
    yield factory
    for ctx in contexts:
        ctx.close()



@pytest.fixture(autouse=True)
def patient_buses(monkeypatch: pytest.MonkeyPatch) -> None:
    """Drivers built in-process wait 50 ms for emulator replies: the emulator shares a busy CPU."""
    monkeypatch.setattr(MotorsBus, "default_timeout_s", 0.05)


@pytest.fixture
def so101_emulator(tmp_path: Path) -> Iterator[tuple[ServoBusEmulator, Path]]:
    """A Feetech bus emulator with six STS3215 (ids 1-6) and a calibration file ``<tmp>/calib/test.json`` whose
    range is the URDF joint range (0 rad at the encoder centre)."""
    emu = ServoBusEmulator("feetech", {i: "sts3215" for i in range(1, 7)}, max_speed_ticks_s=3000.0)
    calib_dir = tmp_path / "calib"
    ids = {name: i for i, name in enumerate(JOINT_NAMES, 1)}
    save_calibration(calib_dir / "test.json", calibration_from_limits(joint_limits(), ids))
    yield emu, calib_dir
    emu.close()
