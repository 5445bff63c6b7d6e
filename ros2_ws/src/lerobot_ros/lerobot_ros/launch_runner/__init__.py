"""`lerobot-ros launch`: run ROS 2 YAML launch files (``launch/*.launch.yaml``) without ROS.

``description`` turns a launch file into node specs (args, substitutions, include, group, conditions);
``runner`` starts a Zenoh router when none answers, spawns each node as a process and supervises them.
"""

from .description import LaunchError, NodeSpec, load_launch_file

__all__ = ["LaunchError", "NodeSpec", "load_launch_file"]
