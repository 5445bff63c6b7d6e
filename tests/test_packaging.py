"""lerobot_ros installs both ways: pip (editable, done by scripts/setup) and colcon (ament_python)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROS_PKG = "ros2_ws/src/lerobot_ros"


def test_package_xml_is_format3_ament_python_with_message_deps(repo_root: Path) -> None:
    root = ET.parse(repo_root / ROS_PKG / "package.xml").getroot()
    assert root.tag == "package" and root.get("format") == "3"
    # REP 149 order and required elements.
    required = ["name", "version", "description", "maintainer", "license"]
    tags = [child.tag for child in root]
    assert [t for t in tags if t in required] == required
    assert root.findtext("name") == "lerobot_ros"
    assert root.find("maintainer").get("email")
    assert root.findtext("buildtool_depend") == "ament_python"
    assert root.find("export").findtext("build_type") == "ament_python"
    exec_deps = {e.text for e in root.findall("exec_depend")}
    for dep in ("rclpy", "std_msgs", "std_srvs", "sensor_msgs", "trajectory_msgs", "geometry_msgs", "tf2_msgs",
                "diagnostic_msgs", "rcl_interfaces", "rmw_zenoh_cpp"):  # fmt: skip
        assert dep in exec_deps, f"package.xml lacks <exec_depend>{dep}</exec_depend>"


def test_setup_cfg_puts_executables_where_ros2_run_looks(repo_root: Path) -> None:
    text = (repo_root / ROS_PKG / "setup.cfg").read_text()
    assert "script_dir=$base/lib/lerobot_ros" in text and "install_scripts=$base/lib/lerobot_ros" in text


@pytest.mark.slow
def test_colcon_build_installs_share_files_and_executables(repo_root: Path, tmp_path: Path) -> None:
    """A real `colcon build` of a copy of the workspace (no ROS needed for ament_python packages)."""
    colcon = Path(sys.executable).parent / "colcon"
    assert colcon.exists(), "colcon missing: scripts/setup installs colcon-core and colcon-ros"
    for folder in ("launch", "urdf", "config"):
        shutil.copytree(repo_root / folder, tmp_path / folder)
    shutil.copytree(repo_root / "ros2_ws" / "src", tmp_path / "ws" / "src", symlinks=True,
                    ignore=shutil.ignore_patterns("*.egg-info", "__pycache__"))  # fmt: skip
    proc = subprocess.run([str(colcon), "build", "--base-paths", "src"], cwd=tmp_path / "ws",
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    prefix = tmp_path / "ws" / "install" / "lerobot_ros"
    assert (prefix / "share" / "ament_index" / "resource_index" / "packages" / "lerobot_ros").is_file()
    assert (prefix / "share" / "lerobot_ros" / "package.xml").is_file()
    for folder in ("launch", "urdf", "config"):
        expected = sorted(p.relative_to(repo_root).as_posix() for p in (repo_root / folder).rglob("*") if p.is_file())
        installed = sorted(p.relative_to(prefix / "share" / "lerobot_ros").as_posix()
                           for p in (prefix / "share" / "lerobot_ros" / folder).rglob("*") if p.is_file())  # fmt: skip
        assert installed == expected
    assert (prefix / "lib" / "lerobot_ros" / "lerobot-ros").is_file()


def test_share_directory_resolves_through_ament_prefix_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from lerobot_ros.share import package_share_directory

    share = tmp_path / "share"
    (share / "ament_index" / "resource_index" / "packages").mkdir(parents=True)
    (share / "ament_index" / "resource_index" / "packages" / "lerobot_ros").touch()
    (share / "lerobot_ros" / "launch").mkdir(parents=True)
    monkeypatch.setenv("AMENT_PREFIX_PATH", str(tmp_path))
    assert package_share_directory() == share / "lerobot_ros"
    monkeypatch.setenv("AMENT_PREFIX_PATH", "")
    assert (package_share_directory() / "package.xml").is_file()
    with pytest.raises(LookupError, match="AMENT_PREFIX_PATH"):
        package_share_directory("no_such_pkg")
