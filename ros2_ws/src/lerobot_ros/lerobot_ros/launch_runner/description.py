"""Read a ROS 2 YAML launch file into the list of nodes to start (the subset ``lerobot-ros launch`` runs).

Supported, with ROS 2's key names (``launch_yaml`` / ``launch_ros`` frontends)::

    launch:
    - arg: {name: rate, default: "10.0", description: "talker rate in Hz"}     # also: choices
    - let: {name: topic, value: "chatter"}
    - set_env: {name: MY_VAR, value: "1"}
    - node:
        pkg: lerobot_ros
        exec: demo_talker
        name: talker                 # optional
        namespace: demo              # optional; relative to pushed namespaces
        output: screen               # screen | log | both
        args: "--some-flag"          # before --ros-args
        ros_args: "--log-level debug"
        param:
        - {from: "$(find-pkg-share lerobot_ros)/config/demo_talker_listener.yaml"}
        - {name: rate, value: "$(var rate)"}
        - {name: gains, param: [{name: p, value: 1.0}]}   # nested: gains.p
        remap: [{from: chatter, to: "$(var topic)"}]
        env: [{name: X, value: "1"}]
        if: "$(var use_talker)"      # also unless; on every entity
    - include:
        file: "$(find-pkg-share lerobot_ros)/launch/other.launch.yaml"   # or `include: <path>`
        arg: [{name: rate, value: "5.0"}]
    - group:                          # or a plain list of children
        scoped: true
        children:
        - push-ros-namespace: {namespace: robot}   # also push_ros_namespace
        - node: {...}

Substitutions: see :mod:`.substitutions`. Anything else is a :class:`LaunchError` naming the construct and file.
Groups and includes are scoped: ``let``, ``set_env`` and pushed namespaces inside do not leak out (includes are
scoped in recent ROS 2 releases as well). An included file's ``arg`` takes, in order, the include's ``arg`` value,
an already-set launch argument of the same name, then its default.
"""

from __future__ import annotations

import dataclasses
import shlex
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Any

import yaml

from ..runtime.names import NameError_, normalize_namespace, validate_node_name
from ..runtime.ros_args import RosArgsError, parse_param_value
from .substitutions import SubstitutionError, substitute

__all__ = ["LaunchArg", "LaunchError", "NodeSpec", "load_launch_file", "parse_cli_args"]

PACKAGE = "lerobot_ros"
OUTPUTS = ("screen", "log", "both")


class LaunchError(ValueError):
    """A launch file this runner cannot run: names the construct and the file."""


@dataclasses.dataclass
class LaunchArg:
    name: str
    default: str | None
    description: str
    file: str


@dataclasses.dataclass
class NodeSpec:
    """One node process to start."""

    pkg: str
    exec: str
    name: str | None = None
    namespace: str | None = None  # absolute, or None for the node's default
    params: list[str | dict[str, Any]] = dataclasses.field(
        default_factory=list
    )  # param files and inline dicts, in order
    remaps: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    args: list[str] = dataclasses.field(default_factory=list)
    ros_args: list[str] = dataclasses.field(default_factory=list)
    output: str = "log"
    env: dict[str, str] = dataclasses.field(default_factory=dict)
    sigterm_timeout: float = 5.0
    sigkill_timeout: float = 5.0
    source: str = ""  # the launch file that declared it

    @property
    def label(self) -> str:
        return self.name or self.exec

    def ros_argv(self, param_file_for: Callable[[dict[str, Any]], str]) -> list[str]:
        """``--ros-args ...`` for this node as launch_ros builds it; inline params go through a temporary
        ``/**: ros__parameters`` file at their position (``param_file_for`` writes it and returns its path)."""
        argv: list[str] = []
        if self.name:
            argv += ["-r", f"__node:={self.name}"]
        if self.namespace:
            argv += ["-r", f"__ns:={self.namespace}"]
        for entry in self.params:
            argv += ["--params-file", entry if isinstance(entry, str) else param_file_for(entry)]
        for source, target in self.remaps:
            argv += ["-r", f"{source}:={target}"]
        argv += self.ros_args
        return ["--ros-args", *argv] if argv else []


def parse_cli_args(items: list[str]) -> dict[str, str]:
    """``name:=value`` launch arguments from the command line."""
    out: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition(":=")
        if not sep or not name:
            raise LaunchError(f"invalid launch argument {item!r}: expected name:=value")
        out[name] = value
    return out


@dataclasses.dataclass
class _Scope:
    variables: dict[str, str]
    namespace: str  # pushed ROS namespace ("" = none)
    env: dict[str, str]
    file: Path

    def child(self, **changes: Any) -> _Scope:
        base = dataclasses.replace(self, variables=dict(self.variables), env=dict(self.env))
        return dataclasses.replace(base, **changes)


class _Loader:
    def __init__(self, find_share: Callable[[str], Path], executables: Collection[str] | None) -> None:
        self.find_share = find_share
        self.executables = executables
        self.nodes: list[NodeSpec] = []
        self.declared: list[LaunchArg] = []
        self._stack: list[Path] = []

    # ------------------------------------------------------------------------------------------ files

    def load(self, path: Path, scope: _Scope) -> None:
        path = path.resolve()
        if path in self._stack:
            raise LaunchError(f"{path}: includes itself (through {' -> '.join(p.name for p in self._stack)})")
        if not path.name.endswith((".yaml", ".yml")):
            raise LaunchError(
                f"{path}: only YAML launch files (.launch.yaml) run without ROS; Python and XML launch files "
                "need `ros2 launch`"
            )
        try:
            data = yaml.safe_load(path.read_text())
        except OSError as exc:
            raise LaunchError(f"cannot read launch file {path}: {exc.strerror or exc}") from None
        except yaml.YAMLError as exc:
            raise LaunchError(f"launch file {path} is not valid YAML: {exc}") from None
        if not isinstance(data, Mapping) or list(data) != ["launch"]:
            raise LaunchError(
                f"{path}: a YAML launch file is a mapping with the single key `launch:` holding a list"
            )
        self._stack.append(path)
        try:
            self.entities(data["launch"] or [], scope.child(file=path), "launch")
        finally:
            self._stack.pop()

    # ------------------------------------------------------------------------------------------ entities

    def entities(self, items: Any, scope: _Scope, parent: str) -> None:
        if not isinstance(items, list):
            raise LaunchError(
                f"{scope.file}: `{parent}` must hold a list of entities, got {type(items).__name__}"
            )
        for item in items:
            if not isinstance(item, Mapping) or len(item) != 1:
                raise LaunchError(
                    f"{scope.file}: each entry under `{parent}` must be a mapping with one key (the entity type), "
                    f"got {item!r}"
                )
            ((kind, body),) = item.items()
            handler = {
                "arg": self.arg, "let": self.let, "set_env": self.set_env, "node": self.node,
                "include": self.include, "group": self.group, "push-ros-namespace": self.push_ns,
                "push_ros_namespace": self.push_ns,
            }.get(kind)  # fmt: skip
            if handler is None:
                raise LaunchError(
                    f"{scope.file}: unsupported launch entity `{kind}` (lerobot-ros launch supports arg, let, set_env, "
                    "node, include, group, push-ros-namespace)"
                )
            if kind == "include" and isinstance(body, str):
                body = {"file": body}
            if kind == "group" and isinstance(body, list):
                body = {"children": body}
            if not isinstance(body, Mapping):
                raise LaunchError(f"{scope.file}: `{kind}` must hold a mapping of attributes, got {body!r}")
            if self.condition(body, kind, scope):
                handler(body, scope)

    def check_keys(self, body: Mapping[str, Any], kind: str, allowed: set[str], scope: _Scope) -> None:
        extra = set(body) - allowed - {"if", "unless"}
        if extra:
            raise LaunchError(
                f"{scope.file}: unsupported attribute(s) {sorted(extra)} in `{kind}` (supported: {sorted(allowed)}, "
                "if, unless)"
            )

    def text(self, value: Any, what: str, scope: _Scope) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        if not isinstance(value, (str, int, float)):
            raise LaunchError(f"{scope.file}: {what} must be a string, got {value!r}")
        try:
            return substitute(str(value), scope.variables, scope.file, self.find_share)
        except SubstitutionError as exc:
            raise LaunchError(f"{scope.file}: {what}: {exc}") from None

    def required(self, body: Mapping[str, Any], key: str, kind: str, scope: _Scope) -> str:
        if body.get(key) is None:
            raise LaunchError(f"{scope.file}: `{kind}` needs the attribute `{key}`")
        return self.text(body[key], f"`{kind}` attribute `{key}`", scope)

    def condition(self, body: Mapping[str, Any], kind: str, scope: _Scope) -> bool:
        result = True
        for key in ("if", "unless"):
            if key in body:
                value = self.text(body[key], f"`{kind}` attribute `{key}`", scope).strip().lower()
                if value not in ("true", "false", "1", "0"):
                    raise LaunchError(
                        f"{scope.file}: `{kind}` attribute `{key}` evaluated to {value!r}; expected true/false/1/0"
                    )
                truth = value in ("true", "1")
                result = result and (truth if key == "if" else not truth)
        return result

    def arg(self, body: Mapping[str, Any], scope: _Scope) -> None:
        self.check_keys(body, "arg", {"name", "default", "description", "choices"}, scope)
        name = self.required(body, "name", "arg", scope)
        default = (
            None
            if body.get("default") is None
            else self.text(body["default"], f"arg {name!r} default", scope)
        )
        self.declared.append(LaunchArg(name, default, str(body.get("description", "")), str(scope.file)))
        if name not in scope.variables:
            if default is None:
                raise LaunchError(
                    f"{scope.file}: launch argument {name!r} has no default and was not given: pass {name}:=<value>"
                )
            scope.variables[name] = default
        choices = body.get("choices")
        if choices is not None:
            allowed = [
                self.text(c, f"arg {name!r} choices", scope)
                for c in (choices if isinstance(choices, list) else [choices])
            ]
            if scope.variables[name] not in allowed:
                raise LaunchError(
                    f"{scope.file}: launch argument {name!r} = {scope.variables[name]!r} is not one of {allowed}"
                )

    def let(self, body: Mapping[str, Any], scope: _Scope) -> None:
        self.check_keys(body, "let", {"name", "value"}, scope)
        name = self.required(body, "name", "let", scope)
        scope.variables[name] = self.required(body, "value", "let", scope)

    def set_env(self, body: Mapping[str, Any], scope: _Scope) -> None:
        self.check_keys(body, "set_env", {"name", "value"}, scope)
        scope.env[self.required(body, "name", "set_env", scope)] = self.required(
            body, "value", "set_env", scope
        )

    def push_ns(self, body: Mapping[str, Any], scope: _Scope) -> None:
        self.check_keys(body, "push-ros-namespace", {"namespace"}, scope)
        scope.namespace = _join_ns(
            scope.namespace, self.required(body, "namespace", "push-ros-namespace", scope)
        )

    def group(self, body: Mapping[str, Any], scope: _Scope) -> None:
        self.check_keys(body, "group", {"children", "scoped"}, scope)
        scoped = body.get("scoped", True)
        if isinstance(scoped, str):
            scoped = self.text(scoped, "`group` attribute `scoped`", scope).lower() in ("true", "1")
        self.entities(body.get("children") or [], scope.child() if scoped else scope, "group")

    def include(self, body: Mapping[str, Any], scope: _Scope) -> None:
        self.check_keys(body, "include", {"file", "arg"}, scope)
        target = Path(self.required(body, "file", "include", scope))
        if not target.is_absolute():
            target = scope.file.parent / target
        inner = scope.child()
        for entry in _entries(body.get("arg"), "include", "arg", scope):
            self.check_keys(entry, "include/arg", {"name", "value"}, scope)
            inner.variables[self.required(entry, "name", "include/arg", scope)] = self.required(
                entry, "value", "include/arg", scope
            )
        try:
            self.load(target, inner)
        except LaunchError as exc:
            raise LaunchError(f"{exc} (included from {scope.file})") from None

    def node(self, body: Mapping[str, Any], scope: _Scope) -> None:
        allowed = {"pkg", "exec", "name", "namespace", "param", "remap", "args", "ros_args", "output", "env",
                   "exec_name", "emulate_tty", "sigterm_timeout", "sigkill_timeout"}  # fmt: skip
        self.check_keys(body, "node", allowed, scope)
        pkg = self.required(body, "pkg", "node", scope)
        exe = self.required(body, "exec", "node", scope)
        where = f"{scope.file}: node {exe!r}"
        if pkg != PACKAGE:
            raise LaunchError(
                f"{where}: package {pkg!r} cannot run without ROS (only {PACKAGE} nodes); use ros2 launch"
            )
        if self.executables is not None and exe not in self.executables:
            raise LaunchError(
                f"{where}: {PACKAGE} has no executable {exe!r} (known: {', '.join(sorted(self.executables))})"
            )
        spec = NodeSpec(pkg=pkg, exec=exe, source=str(scope.file), env=dict(scope.env))
        try:
            if body.get("name") is not None:
                spec.name = validate_node_name(self.text(body["name"], "node name", scope))
            ns = (
                self.text(body["namespace"], "node namespace", scope)
                if body.get("namespace") is not None
                else ""
            )
            if ns or scope.namespace:
                spec.namespace = normalize_namespace(
                    ns if ns.startswith("/") else _join_ns(scope.namespace, ns)
                )
        except NameError_ as exc:
            raise LaunchError(f"{where}: {exc}") from None
        for entry in _entries(body.get("param"), "node", "param", scope):
            value = self.param_entry(entry, scope, where)
            if isinstance(value, dict) and spec.params and isinstance(spec.params[-1], dict):
                spec.params[-1].update(value)  # consecutive inline params share one file
            else:
                spec.params.append(value)
        for entry in _entries(body.get("remap"), "node", "remap", scope):
            self.check_keys(entry, "node/remap", {"from", "to"}, scope)
            spec.remaps.append(
                (self.required(entry, "from", "remap", scope), self.required(entry, "to", "remap", scope))
            )
        for key, field in (("args", "args"), ("ros_args", "ros_args")):
            if body.get(key) is not None:
                setattr(spec, field, shlex.split(self.text(body[key], f"node `{key}`", scope)))
        spec.output = self.text(body.get("output", "log"), "node output", scope)
        if spec.output not in OUTPUTS:
            raise LaunchError(f"{where}: output {spec.output!r} is not one of {', '.join(OUTPUTS)}")
        for entry in _entries(body.get("env"), "node", "env", scope):
            self.check_keys(entry, "node/env", {"name", "value"}, scope)
            spec.env[self.required(entry, "name", "env", scope)] = self.required(entry, "value", "env", scope)
        for key in ("sigterm_timeout", "sigkill_timeout"):
            if body.get(key) is not None:
                try:
                    setattr(spec, key, float(self.text(body[key], key, scope)))
                except ValueError:
                    raise LaunchError(f"{where}: {key} must be a number of seconds") from None
        self.nodes.append(spec)

    def param_entry(self, entry: Mapping[str, Any], scope: _Scope, where: str) -> str | dict[str, Any]:
        if "from" in entry:
            self.check_keys(entry, "node/param", {"from"}, scope)
            path = Path(self.required(entry, "from", "param", scope))
            return str(path if path.is_absolute() else scope.file.parent / path)
        return self.inline_params([entry], scope, where)

    def inline_params(self, entries: list[Mapping[str, Any]], scope: _Scope, where: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for entry in entries:
            self.check_keys(entry, "node/param", {"name", "value", "param"}, scope)
            name = self.required(entry, "name", "param", scope)
            if ("value" in entry) == ("param" in entry):
                raise LaunchError(
                    f"{where}: param {name!r} needs exactly one of `value` or nested `param` entries"
                )
            if "param" in entry:
                out[name] = self.inline_params(
                    _entries(entry["param"], "param", "param", scope), scope, where
                )
            else:
                out[name] = self.param_value(entry["value"], name, scope, where)
        return out

    def param_value(self, value: Any, name: str, scope: _Scope, where: str) -> Any:
        if isinstance(value, list):
            return [self.param_value(v, name, scope, where) for v in value]
        if isinstance(value, str):
            text = self.text(value, f"param {name!r}", scope)
            try:
                return parse_param_value(text)
            except RosArgsError as exc:
                raise LaunchError(f"{where}: param {name!r}: {exc}") from None
        if isinstance(value, (bool, int, float)):
            return value
        raise LaunchError(f"{where}: param {name!r} has an unsupported value {value!r}")


def _entries(value: Any, kind: str, key: str, scope: _Scope) -> list[Mapping[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
        raise LaunchError(
            f"{scope.file}: `{kind}` attribute `{key}` must be a list of mappings, got {value!r}"
        )
    return value


def _join_ns(base: str, ns: str) -> str:
    if ns.startswith("/"):
        return ns.rstrip("/") or "/"
    ns = ns.strip("/")
    if not ns:
        return base
    return f"{base.rstrip('/')}/{ns}"


def load_launch_file(
    path: str | Path,
    arguments: Mapping[str, str] | None = None,
    *,
    find_share: Callable[[str], Path] | None = None,
    executables: Collection[str] | None = None,
) -> tuple[list[NodeSpec], list[LaunchArg]]:
    """The nodes a launch file starts given ``arguments`` (``name -> value``), and the args it declares.

    ``executables`` (the node table) makes an unknown ``exec`` an error at load time.
    """
    if find_share is None:
        from ..share import package_share_directory as find_share
    loader = _Loader(find_share, executables)
    path = Path(path)
    loader.load(path, _Scope(variables=dict(arguments or {}), namespace="", env={}, file=path.resolve()))
    return loader.nodes, loader.declared
