"""The rclpy backend where rclpy is not installed (CI): a clear ImportError, auto picks zenoh, and the adapter
is at least valid, self-consistent Python that implements every method of the backend contract."""

from __future__ import annotations

import ast
import importlib
import importlib.util
import re
import sys
from pathlib import Path

import pytest
from lerobot_ros.runtime import transport

MODULE = Path(transport.__file__).with_name("rclpy_backend.py")


def test_rclpy_is_not_installed_here() -> None:
    assert importlib.util.find_spec("rclpy") is None  # CI has no ROS; the tests below rely on it


def test_importing_without_rclpy_is_a_clear_error() -> None:
    sys.modules.pop("lerobot_ros.runtime.rclpy_backend", None)
    with pytest.raises(ImportError, match=r"source /opt/ros/<distro>/setup.bash.*LEROBOT_ROS_BACKEND=zenoh"):
        importlib.import_module("lerobot_ros.runtime.rclpy_backend")


def test_backend_selection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LEROBOT_ROS_BACKEND", raising=False)
    assert transport.backend_name() == "zenoh"
    assert transport.backend_name("auto") == "zenoh"
    monkeypatch.setenv("LEROBOT_ROS_BACKEND", "rclpy")
    assert transport.backend_name() == "rclpy"
    with pytest.raises(ImportError, match="rclpy backend needs ROS 2"):
        transport.get_backend("rclpy")
    with pytest.raises(ValueError, match="must be auto, zenoh or rclpy"):
        transport.backend_name("dds")


def _classes(tree: ast.Module) -> dict[str, set[str]]:
    return {
        node.name: {f.name for f in node.body if isinstance(f, ast.FunctionDef)}
        for node in tree.body
        if isinstance(node, ast.ClassDef)
    }


def test_adapter_implements_the_backend_contract() -> None:
    ours = _classes(ast.parse(MODULE.read_text()))
    contract = _classes(ast.parse(Path(transport.__file__).read_text()))
    pairs = {"RclpyBackend": "Backend", "_NodeHandle": "NodeHandle", "_Publisher": "PublisherHandle",
             "_Subscription": "SubscriptionHandle", "_Service": "ServiceServerHandle",
             "_Client": "ServiceClientHandle", "_Graph": "Graph"}  # fmt: skip
    for impl, proto in pairs.items():
        missing = contract[proto] - ours[impl] - {"graph"}
        assert not missing, f"{impl} lacks {sorted(missing)} of transport.{proto}"
    assert "graph" in ours["RclpyBackend"]
    assert {"count_publishers", "count_subscribers", "wait_until"} <= ours["_Graph"]


def test_adapter_uses_raw_cdr_and_no_global_ros_arguments() -> None:
    text = MODULE.read_text()
    assert "raw=True" in text and "use_global_arguments=False" in text
    assert "serialize_message" in text and "deserialize_message" in text
    assert '"rmw_zenoh_cpp"' in text and "get_rmw_implementation_identifier" in text


def test_only_the_rclpy_backend_imports_rclpy() -> None:
    package = Path(transport.__file__).parents[1]
    offenders = []
    for path in package.rglob("*.py"):
        if path == MODULE:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(n == "rclpy" or n.startswith("rclpy.") for n in names):
                offenders.append(str(path.relative_to(package)))
    assert not offenders, f"nodes must not import rclpy directly: {offenders}"


def test_adapter_provides_every_builtin_hook_the_node_looks_up() -> None:
    """Node uses rclpy's clock, timers, logger and parameters through optional handle hooks (found by getattr,
    so a renamed hook would silently fall back to the native implementations and duplicate rclpy's)."""
    node_src = MODULE.with_name("node.py").read_text()
    hooks = set(re.findall(r'getattr\(self\._handle, "(\w+)"', node_src))
    assert hooks == {"bind_parameters", "now_ns", "create_timer", "log"}
    assert hooks <= _classes(ast.parse(MODULE.read_text()))["_NodeHandle"]
