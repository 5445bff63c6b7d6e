"""Node parameters: declared with type, default and description; loaded from ROS 2 parameter YAML files and
``--ros-args -p`` overrides, without ROS.

Parameter files use the standard layout read by ``rcl_yaml_param_parser``::

    /**:                      # every node
      ros__parameters: {use_sim_time: false}
    talker:                   # the node /talker
      ros__parameters:
        rate: 10.0
        topic: {name: chatter}   # nested mappings flatten to dotted names: topic.name
    /robot:                   # namespaces as nested keys or in one key (/robot/driver)
      driver:
        ros__parameters: {port: /dev/ttyACM0}

Node keys are fully qualified (a missing leading ``/`` is added); ``/*`` matches one name token and ``/**``
any number (the wildcards of rclcpp's ``parameter_map_from``). Every matching entry applies, in order of files and
of entries within a file, a later one overriding an earlier one; ``-p`` overrides (``overrides=``) win over
files, and the declared default is used when neither sets a value.

Types are those of ROS parameters: bool, integer, double, string, byte_array, bool_array, integer_array,
double_array, string_array. A value must have the declared type (from ``type_`` or the default's type); the one
conversion made is integer -> double (``rate: 30`` for a double parameter), as YAML users expect.

Listeners (``store.add_listener(fn)``) get a :class:`ParameterChange` after every declaration and successful set
(one per ``set``/``set_many`` call): the node publishes it on ``/parameter_events`` and switches its clock on
``use_sim_time``.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from .ros_args import _ParamLoader

__all__ = [
    "ParameterChange",
    "ParameterDescriptor",
    "ParameterError",
    "ParameterStore",
    "load_param_files",
    "parameter_type_name",
]

PARAMS_KEY = "ros__parameters"
SCALAR_TYPES = {bool: "bool", int: "integer", float: "double", str: "string", bytes: "byte_array"}
ARRAY_TYPES = {
    "bool": "bool_array",
    "integer": "integer_array",
    "double": "double_array",
    "string": "string_array",
}
TYPE_NAMES = {*SCALAR_TYPES.values(), *ARRAY_TYPES.values()}
_CMDLINE = "--ros-args -p"


class ParameterError(ValueError):
    """A parameter problem: names the parameter, the node, where the value came from and what was expected."""


@dataclasses.dataclass(frozen=True)
class ParameterDescriptor:
    name: str
    type: str | None  # a ROS type name (see TYPE_NAMES); None for a dynamically typed parameter
    description: str = ""
    read_only: bool = False


@dataclasses.dataclass(frozen=True)
class ParameterChange:
    """What one declaration or set changed: ``(name, value)`` pairs, as rcl_interfaces/msg/ParameterEvent has them."""

    new: tuple[tuple[str, Any], ...] = ()
    changed: tuple[tuple[str, Any], ...] = ()
    deleted: tuple[tuple[str, Any], ...] = ()
    origin: str = ""  # the caller's tag (e.g. "declare", "set", "rclpy"), so a listener can skip its own changes


def parameter_type_name(value: Any) -> str:
    """The ROS type name of a Python value (``integer`` for 3, ``double_array`` for [1.0], ...)."""
    if isinstance(value, (bytes, bytearray)):
        return "byte_array"
    for py, name in SCALAR_TYPES.items():
        if type(value) is py:
            return name
    if isinstance(value, (list, tuple)):
        kinds = {parameter_type_name(v) for v in value}
        if not kinds:
            return "empty_array"
        if kinds <= {"integer", "double"} and "double" in kinds:
            return "double_array"
        if len(kinds) == 1 and (kind := kinds.pop()) in ARRAY_TYPES:
            return ARRAY_TYPES[kind]
        raise TypeError(f"array parameter values must all have one scalar type, got {sorted(kinds)}")
    raise TypeError(
        f"{type(value).__name__} is not a ROS parameter type (bool, int, float, str, bytes or lists)"
    )


def _coerce(value: Any, expected: str | None) -> Any:
    """``value`` as the ``expected`` ROS type, or raise TypeError. Only integer -> double is converted."""
    got = parameter_type_name(value)
    if expected is None or got == expected:
        return list(value) if isinstance(value, tuple) else value
    if expected == "double" and got == "integer":
        return float(value)
    if expected == "double_array" and got == "integer_array":
        return [float(v) for v in value]
    if got == "empty_array" and expected in ARRAY_TYPES.values():
        return []
    if expected == "byte_array" and got == "integer_array" and all(0 <= v < 256 for v in value):
        return bytes(value)
    raise TypeError(got)


# ---------------------------------------------------------------------------------------------- YAML files


def _node_key_regex(key: str) -> re.Pattern[str]:
    key = key if key.startswith("/") else "/" + key
    parts = re.split(r"(/\*\*|/\*)", key)
    pattern = "".join(
        r"(/[A-Za-z0-9_]+)*" if p == "/**" else r"(/[A-Za-z0-9_]+)" if p == "/*" else re.escape(p)
        for p in parts
    )
    return re.compile(pattern + r"\Z")


def _flatten(prefix: str, mapping: Mapping[str, Any], out: dict[str, Any], where: str) -> None:
    for key, value in mapping.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, Mapping):
            if not value:
                raise ParameterError(f"{where}: parameter {name!r} is an empty mapping; give it a value")
            _flatten(name, value, out, where)
            continue
        if value is None:
            raise ParameterError(
                f"{where}: parameter {name!r} has no value (null); give it a value or remove it"
            )
        try:
            parameter_type_name(value)
        except TypeError as exc:
            raise ParameterError(f"{where}: parameter {name!r} = {value!r}: {exc}") from None
        out[name] = value


def _node_entries(data: Any, path: str) -> list[tuple[str, dict[str, Any]]]:
    """``(node key, flat params)`` for every ``ros__parameters`` block in a parsed file, in file order."""
    if not isinstance(data, Mapping):
        raise ParameterError(
            f"parameter file {path}: expected a mapping of node names to {{{PARAMS_KEY}: ...}}, got {type(data).__name__}"
        )
    entries: list[tuple[str, dict[str, Any]]] = []

    def walk(prefix: list[str], mapping: Mapping[str, Any]) -> None:
        for key, value in mapping.items():
            if key == PARAMS_KEY:
                if not prefix:
                    raise ParameterError(
                        f"parameter file {path}: {PARAMS_KEY} at top level; put it under a node name"
                    )
                where = f"parameter file {path}, node {'/'.join(prefix)!r}"
                if not isinstance(value, Mapping):
                    raise ParameterError(
                        f"{where}: {PARAMS_KEY} must be a mapping of parameter names to values"
                    )
                flat: dict[str, Any] = {}
                _flatten("", value, flat, where)
                entries.append(("/" + "/".join(prefix), flat))
            elif isinstance(value, Mapping):
                walk([*prefix, *[t for t in str(key).split("/") if t]], value)
            else:
                raise ParameterError(
                    f"parameter file {path}: key {'/'.join([*prefix, str(key)])!r} holds a value outside "
                    f"{PARAMS_KEY}; expected `<node>: {{{PARAMS_KEY}: {{...}}}}`"
                )

    walk([], data)
    return entries


def _load_with_sources(files: Iterable[str | Path], node_fqn: str) -> dict[str, tuple[Any, str]]:
    result: dict[str, tuple[Any, str]] = {}
    for file in files:
        path = Path(file)
        try:
            text = path.read_text()
        except OSError as exc:
            raise ParameterError(f"cannot read parameter file {path}: {exc.strerror or exc}") from None
        try:
            data = yaml.load(text, Loader=_ParamLoader)
        except yaml.YAMLError as exc:
            raise ParameterError(f"parameter file {path} is not valid YAML: {exc}") from None
        if data is None:
            continue
        for key, params in _node_entries(data, str(path)):
            if _node_key_regex(key).match(node_fqn):
                result.update({name: (value, str(path)) for name, value in params.items()})
    return result


def load_param_files(files: Iterable[str | Path], node_fqn: str) -> dict[str, Any]:
    """The flat parameters that ROS parameter ``files`` give the node ``node_fqn`` (see the module docstring)."""
    return {name: value for name, (value, _) in _load_with_sources(files, node_fqn).items()}


# ---------------------------------------------------------------------------------------------- the store


class ParameterStore:
    """The parameters of one node. Values come from ``overrides`` > ``params_files`` > declared default."""

    def __init__(
        self,
        node_fqn: str,
        params_files: Iterable[str | Path] = (),
        overrides: Mapping[str, Any] | None = None,
    ):
        self.node_fqn = node_fqn
        self._initial = _load_with_sources(params_files, node_fqn)
        for name, value in (overrides or {}).items():
            if value is None:
                raise ParameterError(f"parameter {name!r} of node {node_fqn}: {_CMDLINE} gives no value")
            self._initial[name] = (value, _CMDLINE)
        self._values: dict[str, Any] = {}
        self._descriptors: dict[str, ParameterDescriptor] = {}
        self._listeners: list[Callable[[ParameterChange], None]] = []
        self._lock = threading.RLock()

    def add_listener(self, listener: Callable[[ParameterChange], None]) -> None:
        """Call ``listener(change)`` after every declaration and successful set (from the changing thread)."""
        self._listeners.append(listener)

    def remove_listener(self, listener: Callable[[ParameterChange], None]) -> None:
        self._listeners.remove(listener)

    def _notify(self, change: ParameterChange) -> None:
        for listener in list(self._listeners):
            try:
                listener(change)
            except Exception:  # a listener (events, clock) never undoes a committed change
                logging.getLogger("lerobot_ros.params").exception("parameter listener failed on %s", self.node_fqn)

    def declare(
        self,
        name: str,
        default: Any = None,
        *,
        description: str = "",
        read_only: bool = False,
        type_: Any = None,
    ) -> Any:
        """Declare ``name`` and return its value (override > file > ``default``).

        The type is ``type_`` (a ROS type name such as ``"double"``, or ``bool``/``int``/``float``/``str``/``bytes``)
        or else the default's type; with neither (``default=None``) the parameter is dynamically typed and must be
        set by a file or override. Raises :class:`ParameterError` on a type mismatch, naming where the value came from.
        """
        if name in self._descriptors:
            raise ParameterError(f"parameter {name!r} of node {self.node_fqn} is already declared")
        if not name or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.\-/]*", name):
            raise ParameterError(f"invalid parameter name {name!r} for node {self.node_fqn}")
        expected = self._type_name(name, default, type_)
        if name in self._initial:
            value, source = self._initial[name]
        elif default is not None:
            value, source = default, "the declared default"
        else:
            raise ParameterError(
                f"parameter {name!r} of node {self.node_fqn} has no default and no value: set it in a parameter file "
                f"(`{self.node_fqn}: {{{PARAMS_KEY}: {{{name}: ...}}}}`) or with `--ros-args -p {name}:=<value>`"
            )
        value = self._checked(name, value, expected, source)
        with self._lock:
            if name in self._descriptors:
                raise ParameterError(f"parameter {name!r} of node {self.node_fqn} is already declared")
            self._descriptors[name] = ParameterDescriptor(name, expected, description, read_only)  # None: dynamic
            self._values[name] = value
        self._notify(ParameterChange(new=((name, self.get(name)),), origin="declare"))
        return value

    def get(self, name: str) -> Any:
        if name not in self._values:
            raise ParameterError(
                f"parameter {name!r} of node {self.node_fqn} is not declared (declare it first)"
            )
        value = self._values[name]
        return list(value) if isinstance(value, list) else value

    def set(self, name: str, value: Any, *, origin: str = "set") -> Any:
        """Set a declared parameter at run time; type checked; refused when read-only."""
        return self.set_many({name: value}, origin=origin)[name]

    def check(self, name: str, value: Any) -> Any:
        """``value`` as ``name`` would store it; raises :class:`ParameterError` (undeclared, read-only, wrong type)."""
        descriptor = self.describe(name)
        if descriptor.read_only:
            raise ParameterError(f"parameter {name!r} of node {self.node_fqn} is read-only")
        return self._checked(name, value, descriptor.type, "set()")

    def set_many(self, values: Mapping[str, Any], *, origin: str = "set") -> dict[str, Any]:
        """Set several parameters all or nothing (every value is checked first); one change notification."""
        checked = {name: self.check(name, value) for name, value in values.items()}
        with self._lock:
            self._values.update(checked)
        if checked:
            self._notify(ParameterChange(changed=tuple((n, self.get(n)) for n in checked), origin=origin))
        return {name: self.get(name) for name in checked}

    def has(self, name: str) -> bool:
        return name in self._values

    def names(self) -> list[str]:
        return sorted(self._values)

    def describe(self, name: str) -> ParameterDescriptor:
        if name not in self._descriptors:
            raise ParameterError(
                f"parameter {name!r} of node {self.node_fqn} is not declared (declare it first)"
            )
        return self._descriptors[name]

    def undeclared(self) -> dict[str, str]:
        """Names given by files or overrides that no declaration used, with where each came from (worth a warning)."""
        return {name: source for name, (_, source) in self._initial.items() if name not in self._descriptors}

    # -------------------------------------------------------------------------------------------- helpers

    def _type_name(self, name: str, default: Any, type_: Any) -> str | None:
        if type_ is not None:
            resolved = SCALAR_TYPES.get(type_, type_)
            if resolved not in TYPE_NAMES:
                raise ParameterError(
                    f"parameter {name!r} of node {self.node_fqn}: unknown type {type_!r} (use one of {sorted(TYPE_NAMES)})"
                )
            return resolved
        if default is None:
            return None
        try:
            kind = parameter_type_name(default)
        except TypeError as exc:
            raise ParameterError(
                f"parameter {name!r} of node {self.node_fqn}: bad default {default!r}: {exc}"
            ) from None
        if kind == "empty_array":
            raise ParameterError(
                f"parameter {name!r} of node {self.node_fqn}: an empty list default has no element type; pass "
                "type_='string_array' (or integer_array, double_array, bool_array)"
            )
        return kind

    def _checked(self, name: str, value: Any, expected: str | None, source: str) -> Any:
        try:
            return _coerce(value, expected)
        except TypeError as exc:
            got = str(exc) if str(exc) in TYPE_NAMES | {"empty_array"} else f"an invalid value ({exc})"
            raise ParameterError(
                f"parameter {name!r} of node {self.node_fqn}: {source} gives {value!r} of type {got}, "
                f"expected {expected}"
            ) from None
