"""lerobot_ros: thin ROS 2 nodes over lerobot_core, with rclpy and native Zenoh backends."""

__version__ = "0.1.0"
