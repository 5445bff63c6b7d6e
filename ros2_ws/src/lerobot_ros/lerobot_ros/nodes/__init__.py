"""lerobot_ros nodes: each module has a ``main()`` listed in setup.py's ``NODES`` (``ros2 run lerobot_ros <name>``,
``lerobot-ros run <name>``). Nodes use only the runtime's node API (never rclpy directly)."""
