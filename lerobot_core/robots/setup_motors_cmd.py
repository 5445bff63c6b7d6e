"""``lerobot-core setup-motors --robot.type=so101_follower --robot.port=/dev/ttyACM0``.

Assigns each motor its id (1-6) and the bus baud rate, one motor connected at a time.
"""

from __future__ import annotations

from lerobot_core.configs import parse_config
from lerobot_core.robots.device_cli import DeviceCommandConfig


def main(argv: list[str] | None = None) -> int:
    config = parse_config(DeviceCommandConfig, argv, prog="lerobot-core setup-motors")
    device = config.make()
    try:
        device.setup_motors()
    finally:
        device.bus.disconnect(disable_torque=False)
    return 0
