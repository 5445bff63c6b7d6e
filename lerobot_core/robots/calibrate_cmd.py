"""``lerobot-core calibrate --robot.type=so101_follower --robot.port=/dev/ttyACM0 --robot.id=arm1``.

Runs the interactive calibration and saves it in upstream's format and place (see docs/robots.md).
"""

from __future__ import annotations

from lerobot_core.configs import parse_config
from lerobot_core.robots.device_cli import DeviceCommandConfig


def main(argv: list[str] | None = None) -> int:
    config = parse_config(DeviceCommandConfig, argv, prog="lerobot-core calibrate")
    device = config.make()
    device.bus.connect()
    try:
        device.calibrate()
    finally:
        device.bus.disconnect()
    print(f"calibration saved to {device.calibration_fpath}")
    return 0
