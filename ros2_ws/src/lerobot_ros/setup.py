"""lerobot_ros: installs with `colcon build` (ament_python) or `pip install -e ros2_ws/src/lerobot_ros`.

The repository's top-level launch/, urdf/ and config/ folders are linked into this package and installed
into share/lerobot_ros, where `$(find-pkg-share lerobot_ros)` finds them.
"""

from pathlib import Path

from setuptools import find_packages, setup

PACKAGE = "lerobot_ros"
HERE = Path(__file__).resolve().parent


def share_files(folder: str) -> list[tuple[str, list[str]]]:
    """(install dir, files) pairs for every file below ``folder``, keeping sub-folders."""
    entries: dict[str, list[str]] = {}
    for path in sorted((HERE / folder).rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            rel = path.relative_to(HERE)
            entries.setdefault(f"share/{PACKAGE}/{rel.parent.as_posix()}", []).append(rel.as_posix())
    return sorted(entries.items())


# Node executables: `ros2 run lerobot_ros <name>` and `lerobot-ros run <name>` resolve the same table.
NODES: dict[str, str] = {
    "demo_talker": "lerobot_ros.nodes.demo_talker:main",
    "demo_listener": "lerobot_ros.nodes.demo_listener:main",
    "robot_driver": "lerobot_ros.nodes.robot_driver:main",
    "camera": "lerobot_ros.nodes.camera:main",
    "sim": "lerobot_ros.nodes.sim:main",
    "recorder": "lerobot_ros.nodes.recorder:main",
    "teleop": "lerobot_ros.nodes.teleop:main",
    "keyboard_teleop": "lerobot_ros.nodes.keyboard_teleop:main",
    "robot_description": "lerobot_ros.nodes.robot_description:main",
    "policy": "lerobot_ros.nodes.policy:main",
}

setup(
    name="lerobot-ros",
    version="0.1.0",
    packages=find_packages(include=[PACKAGE, f"{PACKAGE}.*"]),
    package_data={f"{PACKAGE}.runtime.native": ["*.c"]},  # compiled on first use (runtime/native)
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        *share_files("launch"),
        *share_files("urdf"),
        *share_files("config"),
    ],
    install_requires=["lerobot-core", "numpy", "pyyaml", "eclipse-zenoh>=1.4", "rosbags>=0.10", "xxhash>=3.4"],
    zip_safe=False,  # the C source is read from the installed package
    maintainer="lerobot_ros maintainers",
    maintainer_email="maintainers@lerobot-ros.dev",
    description="ROS 2 nodes for LeRobot-style robot learning (rclpy or native rmw_zenoh-compatible backend)",
    license="Apache-2.0",
    python_requires=">=3.10",
    tests_require=["pytest"],
    entry_points={
        "console_scripts": [
            "lerobot-ros = lerobot_ros.cli:main",
            *[f"{name} = {target}" for name, target in NODES.items()],
        ],
    },
)
