"""Servo buses (Feetech, Dynamixel 2.0) over pyserial, calibration in upstream's format, a test emulator.

pyserial is imported only when a bus connects.
"""

from lerobot_core.motors.bus import (
    BusStats,
    DynamixelMotorsBus,
    FeetechMotorsBus,
    Motor,
    MotorBusError,
    MotorsBus,
)
from lerobot_core.motors.calibration import MotorCalibration, MotorNormMode

__all__ = [
    "BusStats",
    "DynamixelMotorsBus",
    "FeetechMotorsBus",
    "Motor",
    "MotorBusError",
    "MotorCalibration",
    "MotorNormMode",
    "MotorsBus",
]
