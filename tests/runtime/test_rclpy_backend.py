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


# Keyword arguments that rclpy accepts in both Humble (3.3) and Jazzy (7.1): rclpy/__init__.py init,
# node.py Node.__init__/create_*/declare_parameter, executors.py MultiThreadedExecutor/Executor.shutdown.
RCLPY_KWARGS = {
    "init": {"args", "context", "domain_id", "signal_handler_options"},
    "_RclNode": {"context", "cli_args", "namespace", "use_global_arguments", "enable_rosout",
                 "start_parameter_services", "parameter_overrides", "allow_undeclared_parameters",
                 "automatically_declare_parameters_from_overrides"},
    "MultiThreadedExecutor": {"num_threads", "context"},
    "create_subscription": {"callback_group", "event_callbacks", "qos_overriding_options", "raw"},
    "create_publisher": {"callback_group", "event_callbacks", "qos_overriding_options", "publisher_class"},
    "create_service": {"qos_profile", "callback_group"},
    "create_client": {"qos_profile", "callback_group"},
    "create_timer": {"callback_group", "clock"},
    "declare_parameter": {"ignore_override"},
    "wait_for_service": {"timeout_sec"},
}  # fmt: skip


def _calls(tree: ast.AST, name: str) -> list[ast.Call]:
    def called(node: ast.Call) -> str | None:
        func = node.func
        return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)

    return [n for n in ast.walk(tree) if isinstance(n, ast.Call) and called(n) == name]


def _function(tree: ast.Module, cls: str, name: str) -> ast.FunctionDef:
    klass = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == cls)
    return next(f for f in klass.body if isinstance(f, ast.FunctionDef) and f.name == name)


def test_rclpy_calls_use_keywords_both_distros_accept() -> None:
    tree = ast.parse(MODULE.read_text())
    for name, accepted in RCLPY_KWARGS.items():
        calls = _calls(tree, name)
        assert calls, f"the adapter no longer calls {name}; update RCLPY_KWARGS"
        for call in calls:
            used = {k.arg for k in call.keywords if k.arg is not None}
            assert used <= accepted, f"{name}(...) passes {sorted(used - accepted)}, unknown to Humble or Jazzy"
    init_keys = set()  # rclpy.init(**init_kwargs): the dict's literal keys and the keys assigned later
    for node in ast.walk(tree):
        if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", "") == "init_kwargs":
            init_keys |= {k.value for k in node.value.keys}
        if isinstance(node, ast.Subscript) and getattr(node.value, "id", "") == "init_kwargs":
            init_keys.add(node.slice.value)
    assert "context" in init_keys and init_keys <= RCLPY_KWARGS["init"], sorted(init_keys)


def test_logging_has_one_call_site_per_severity() -> None:
    """rclpy's RcutilsLogger.log keys a context on its call site and raises ValueError('Logger severity cannot be
    changed between calls.') when one site logs at a second severity, so each severity needs its own call."""
    log = _function(ast.parse(MODULE.read_text()), "_NodeHandle", "log")
    severities = []
    for call in _calls(log, "log") + [c for m in ("debug", "info", "warning", "error", "fatal") for c in _calls(log, m)]:
        severity = call.args[1] if len(call.args) > 1 else None
        assert isinstance(severity, ast.Attribute), f"severity must be a constant: {ast.unparse(call)}"
        severities.append(severity.attr)
    assert sorted(severities) == sorted({"DEBUG", "INFO", "WARN", "ERROR", "FATAL"})


def test_subscription_reads_only_keys_of_rclpys_message_info() -> None:
    """The keys of the dict rclpy's take_message returns (_rclpy subscription.cpp; ``MessageInfo`` TypedDict in
    subscription.py: Jazzy has the first four, later distros add publisher_gid)."""
    keys = {"source_timestamp", "received_timestamp", "publication_sequence_number", "reception_sequence_number",
            "publisher_gid"}  # fmt: skip
    init = _function(ast.parse(MODULE.read_text()), "_Subscription", "__init__")
    used = {c.args[0].value for c in _calls(init, "get") if getattr(c.func, "value", None) is not None
            and getattr(c.func.value, "id", "") == "info"}  # fmt: skip
    assert used and used <= keys, sorted(used - keys)
    assert "CallbackType" in MODULE.read_text()  # Humble (3.3) has no message-info callbacks; Iron+ has


def test_no_unbounded_waits_on_rclpy_threads() -> None:
    """A service callback holds an rclpy executor thread, and Executor.shutdown waits for running callbacks: its
    wait for the runtime's answer must be bounded (shutdown sets ``_closing``); the executor thread keeps spinning
    after a callback raised (MultiThreadedExecutor.spin_once re-raises it)."""
    tree = ast.parse(MODULE.read_text())
    service = _function(tree, "_Service", "__init__")
    assert all(c.args or c.keywords for c in _calls(service, "wait")), "unbounded wait in a service callback"
    assert any(isinstance(n, ast.While) for n in ast.walk(_function(tree, "RclpyBackend", "_spin")))
    shutdown = ast.unparse(_function(tree, "RclpyBackend", "shutdown"))
    assert shutdown.index("_closing.set()") < shutdown.index("_executor.shutdown(")
