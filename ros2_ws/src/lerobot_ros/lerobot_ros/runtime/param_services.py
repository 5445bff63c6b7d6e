"""rcl_interfaces parameter services of a node (``~/list_parameters``, ``~/get_parameters`` ...), as rclpy creates
them, so ``ros2 param list|get|set|describe`` work on nodes running on the native Zenoh backend.

Values convert between Python and ``rcl_interfaces/msg/ParameterValue`` using the ROS type names of
``params`` (``bool``, ``integer``, ``double``, ``string``, ``byte_array``, ``*_array``).
"""

from __future__ import annotations

from typing import Any

from . import msgs
from .params import ParameterError, parameter_type_name

__all__ = ["PARAMETER_TYPES", "add_parameter_services", "from_parameter_value", "to_parameter_value"]

# rcl_interfaces/msg/ParameterType
PARAMETER_TYPES = {"not_set": 0, "bool": 1, "integer": 2, "double": 3, "string": 4, "byte_array": 5,
                   "bool_array": 6, "integer_array": 7, "double_array": 8, "string_array": 9}
_VALUE_FIELDS = {1: "bool_value", 2: "integer_value", 3: "double_value", 4: "string_value", 5: "byte_array_value",
                 6: "bool_array_value", 7: "integer_array_value", 8: "double_array_value", 9: "string_array_value"}


def to_parameter_value(value: Any) -> Any:
    """A Python parameter value as ``rcl_interfaces/msg/ParameterValue`` (``None`` is NOT_SET)."""
    if value is None:
        return msgs.make("rcl_interfaces/msg/ParameterValue")
    kind = parameter_type_name(value)
    if kind == "empty_array":
        kind = "string_array"
    type_id = PARAMETER_TYPES[kind]
    field = _VALUE_FIELDS[type_id]
    if kind == "byte_array":
        value = list(bytes(value))
    return msgs.make("rcl_interfaces/msg/ParameterValue", type=type_id, **{field: value})


def from_parameter_value(msg: Any) -> Any:
    """The Python value of a ``ParameterValue`` (``None`` for NOT_SET)."""
    field = _VALUE_FIELDS.get(int(msg.type))
    if field is None:
        return None
    value = getattr(msg, field)
    if int(msg.type) == PARAMETER_TYPES["byte_array"]:
        return bytes(int(v) for v in value)
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, list):
        return list(value)
    return value


def _result(ok: bool, reason: str = "") -> Any:
    return msgs.make("rcl_interfaces/msg/SetParametersResult", successful=ok, reason=reason)


def add_parameter_services(node: Any) -> list[Any]:
    """Create the six rcl_interfaces parameter services of ``node`` (names under ``~/``)."""
    store = node.parameters

    def descriptor(name: str) -> Any:
        if not store.has(name):
            return msgs.make("rcl_interfaces/msg/ParameterDescriptor", name=name)
        d = store.describe(name)
        type_id = PARAMETER_TYPES.get(d.type or parameter_type_name(store.get(name)), 0)
        return msgs.make("rcl_interfaces/msg/ParameterDescriptor", name=name, type=type_id,
                         description=d.description, read_only=d.read_only, dynamic_typing=d.type is None)

    def list_parameters(req: Any) -> Any:
        names = store.names()
        prefixes = list(req.prefixes)
        if prefixes:
            names = [n for n in names if any(n == p or n.startswith(p + ".") for p in prefixes)]
        depth = int(req.depth)
        if depth:
            def level(n: str) -> int:
                base = max((len(p) + 1 for p in prefixes if n.startswith(p + ".")), default=0)
                return n[base:].count(".")

            names = [n for n in names if level(n) < depth]
        groups = sorted({n.rsplit(".", 1)[0] for n in names if "." in n})
        return msgs.make("rcl_interfaces/srv/ListParameters_Response", result=msgs.make(
            "rcl_interfaces/msg/ListParametersResult", names=names, prefixes=groups))

    def get_parameters(req: Any) -> Any:
        values = [to_parameter_value(store.get(n) if store.has(n) else None) for n in req.names]
        return msgs.make("rcl_interfaces/srv/GetParameters_Response", values=values)

    def get_parameter_types(req: Any) -> Any:
        types = [int(descriptor(n).type) for n in req.names]
        return msgs.make("rcl_interfaces/srv/GetParameterTypes_Response", types=types)

    def describe_parameters(req: Any) -> Any:
        return msgs.make("rcl_interfaces/srv/DescribeParameters_Response",
                         descriptors=[descriptor(n) for n in req.names])

    def set_one(param: Any) -> Any:
        value = from_parameter_value(param.value)
        if value is None:
            return _result(False, "undeclaring parameters is not supported")
        try:
            store.set(param.name, value)
        except ParameterError as exc:
            return _result(False, str(exc))
        node.get_logger().info(f"parameter {param.name} set to {value!r}")
        return _result(True)

    def set_parameters(req: Any) -> Any:
        return msgs.make("rcl_interfaces/srv/SetParameters_Response", results=[set_one(p) for p in req.parameters])

    def set_parameters_atomically(req: Any) -> Any:
        values = {}
        for param in req.parameters:
            values[param.name] = from_parameter_value(param.value)
            if values[param.name] is None:
                return msgs.make("rcl_interfaces/srv/SetParametersAtomically_Response",
                                 result=_result(False, "undeclaring parameters is not supported"))
        try:
            store.set_many(values)  # all or nothing, one parameter event
        except ParameterError as exc:
            return msgs.make("rcl_interfaces/srv/SetParametersAtomically_Response", result=_result(False, str(exc)))
        node.get_logger().info(f"parameters set atomically: {values!r}")
        return msgs.make("rcl_interfaces/srv/SetParametersAtomically_Response", result=_result(True))

    table = {
        "list_parameters": ("ListParameters", list_parameters),
        "get_parameters": ("GetParameters", get_parameters),
        "get_parameter_types": ("GetParameterTypes", get_parameter_types),
        "describe_parameters": ("DescribeParameters", describe_parameters),
        "set_parameters": ("SetParameters", set_parameters),
        "set_parameters_atomically": ("SetParametersAtomically", set_parameters_atomically),
    }
    return [node.create_service(f"rcl_interfaces/srv/{srv}", f"~/{name}", handler)
            for name, (srv, handler) in table.items()]
