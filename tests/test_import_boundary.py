"""The main architectural rule: lerobot_core never imports ROS, rclpy or lerobot_ros code."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import lerobot_core

CORE_DIR = Path(lerobot_core.__file__).resolve().parent
# Top-level names of ROS client libraries, generated ROS message packages and our node package.
FORBIDDEN = {
    "rclpy", "lerobot_ros", "launch", "launch_ros", "ament_index_python", "rcl_interfaces", "std_msgs",
    "std_srvs", "sensor_msgs", "geometry_msgs", "trajectory_msgs", "builtin_interfaces", "tf2_ros", "tf2_msgs",
    "cv_bridge", "message_filters", "diagnostic_msgs", "rosgraph_msgs", "visualization_msgs",
}  # fmt: skip


def _is_forbidden(name: str) -> bool:
    top = name.split(".")[0]
    return top in FORBIDDEN or top.startswith(("rosidl", "rmw", "rcl_"))


def _core_modules() -> list[str]:
    modules = []
    for path in sorted(CORE_DIR.rglob("*.py")):
        rel = path.relative_to(CORE_DIR.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__main__":
            continue
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules.append(".".join(parts))
    return modules


def test_every_core_module_imports_without_ros_side_modules() -> None:
    modules = _core_modules()
    assert "lerobot_core.cli" in modules and len(modules) > 5
    script = (
        "import importlib, json, sys\n"
        f"mods = {modules!r}\n"
        "errors = {}\n"
        "for m in mods:\n"
        "    try:\n"
        "        importlib.import_module(m)\n"
        "    except Exception as e:\n"
        "        errors[m] = repr(e)\n"
        "print(json.dumps({'errors': errors, 'loaded': sorted(sys.modules)}))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["errors"] == {}, f"core modules failed to import: {result['errors']}"
    leaked = [m for m in result["loaded"] if _is_forbidden(m)]
    assert leaked == [], f"lerobot_core pulled in ROS-side modules: {leaked}"


def test_no_core_source_file_imports_ros_side_code() -> None:
    """Catches imports inside functions too, which a plain import would not execute."""
    offenders = []
    for path in sorted(CORE_DIR.rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            offenders += [f"{path.relative_to(CORE_DIR.parent)}:{node.lineno} imports {n}" for n in names
                          if _is_forbidden(n)]  # fmt: skip
    assert offenders == []


def test_boundary_check_detects_a_violation(tmp_path: Path) -> None:
    """The checker itself must flag ROS imports (so a green result means something)."""
    assert _is_forbidden("rclpy.node") and _is_forbidden("lerobot_ros.runtime") and _is_forbidden("std_msgs.msg")
    assert not _is_forbidden("rosbags.typesys") and not _is_forbidden("zenoh")
