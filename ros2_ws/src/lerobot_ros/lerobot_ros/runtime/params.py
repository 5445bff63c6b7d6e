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
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from .ros_args import _ParamLoader

__all__ = [
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
        self._descriptors[name] = ParameterDescriptor(name, expected, description, read_only)  # None: dynamic
        self._values[name] = value
        return value

    def get(self, name: str) -> Any:
        if name not in self._values:
            raise ParameterError(
                f"parameter {name!r} of node {self.node_fqn} is not declared (declare it first)"
            )
        value = self._values[name]
        return list(value) if isinstance(value, list) else value

    def set(self, name: str, value: Any) -> Any:
        """Set a declared parameter at run time; type checked; refused when read-only."""
        descriptor = self.describe(name)
        if descriptor.read_only:
            raise ParameterError(f"parameter {name!r} of node {self.node_fqn} is read-only")
        self._values[name] = self._checked(name, value, descriptor.type, "set()")
        return self._values[name]

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
