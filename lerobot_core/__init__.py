"""lerobot_core: LeRobot v3.0-compatible robot learning with no ROS imports."""

__version__ = "0.1.0"
