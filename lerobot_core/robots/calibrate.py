"""Interactive calibration of an arm: half-turn homing at the middle pose, then the range of motion.

Works with or without a terminal: ``prompt`` (default ``input``) is called for each step and ``stop``
(an Event or callable) can end the range recording instead of the ENTER key, so tests drive it directly.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable

from lerobot_core.motors.bus import MotorsBus
from lerobot_core.motors.calibration import MotorCalibration

MIDDLE_PROMPT = "Move the arm to the middle of its range of motion and press ENTER...."
RANGE_PROMPT = "Move all joints sequentially through their entire ranges of motion.\nRecording positions. Press ENTER to stop..."


def calibrate_bus(
    bus: MotorsBus,
    *,
    position_mode: int,
    prompt: Callable[[str], str] | None = None,
    stop: threading.Event | Callable[[], bool] | None = None,
    full_turn_motors: Iterable[str] = (),
    drive_modes: dict[str, int] | None = None,
    poll_s: float = 0.02,
) -> dict[str, MotorCalibration]:
    """Run the calibration flow on a connected bus, write the result to the motors and return it."""
    prompt = prompt or input
    full_turn = set(full_turn_motors)
    bus.disable_torque()
    bus.set_operating_mode(position_mode)
    prompt(MIDDLE_PROMPT)
    homings = bus.set_half_turn_homings()
    ranged = [m for m in bus.motors if m not in full_turn]
    # ENTER (``prompt`` returning) ends the recording, or ``stop`` when given.
    entered = threading.Event()
    threading.Thread(target=lambda: (prompt(RANGE_PROMPT), entered.set()), daemon=True).start()
    stop_check = stop.is_set if isinstance(stop, threading.Event) else stop

    def finished() -> bool:
        return entered.is_set() or (stop_check is not None and stop_check())

    mins, maxes = bus.record_ranges_of_motion(ranged, stop=finished, poll_s=poll_s) if ranged else ({}, {})
    calibration = {}
    for name, motor in bus.motors.items():
        lo, hi = (0, 4095) if name in full_turn else (mins[name], maxes[name])
        calibration[name] = MotorCalibration(
            id=motor.id,
            drive_mode=(drive_modes or {}).get(name, 0),
            homing_offset=homings[name],
            range_min=int(lo),
            range_max=int(hi),
        )
    bus.write_calibration(calibration)
    return calibration
