"""RIHS01 type hashes (REP-2011) for messages, services and actions, computed from rosbags field definitions.

rosbags' own ``Typestore.hash_rihs01`` maps ``.msg`` ``char`` to FIELD_TYPE_CHAR (13) where rosidl maps it to
``uint8`` (3), and it has no service/action wrapping. This module walks the same field definitions with the
rosidl mapping and builds the service description (``request_message``, ``response_message``,
``event_message`` with ``S_Event = {info: service_msgs/ServiceEventInfo, request: S_Request[<=1],
response: S_Response[<=1]}``) and the action parts, then hashes the JSON exactly as
``rosidl_generator_type_description`` does.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from rosbags.typesys.base import Nodetype

__all__ = ["TYPE_HASH_NOT_SUPPORTED", "hash_description", "hash_type_description", "message_hash", "service_hash",
           "type_description"]

TYPE_HASH_NOT_SUPPORTED = "TypeHashNotSupported"  # Humble: rmw_zenoh puts this literal in keys and tokens

# rosidl type ids (type_description_interfaces/msg/FieldType); 'char' is uint8 after rosidl_adapter.
_TYPE_IDS = {
    "int8": 2, "uint8": 3, "int16": 4, "uint16": 5, "int32": 6, "uint32": 7, "int64": 8, "uint64": 9,
    "float32": 10, "float64": 11, "float128": 12, "char": 3, "bool": 15, "byte": 16, "string": 17,
}
_NESTED, _BOUNDED_STRING = 1, 21
_ARRAY, _BOUNDED_SEQUENCE, _UNBOUNDED_SEQUENCE = 48, 96, 144

Struct = dict[str, Any]
FieldDefs = Mapping[str, tuple[Any, list[tuple[str, Any]]]]


def _field(name: str, desc: Any, resolve) -> dict[str, Any]:
    increment = capacity = string_capacity = 0
    nested = ""
    if desc[0] == Nodetype.ARRAY:
        increment, capacity = _ARRAY, desc[1][1]
        desc = desc[1][0]
    elif desc[0] == Nodetype.SEQUENCE:
        capacity = desc[1][1]
        increment = _BOUNDED_SEQUENCE if capacity else _UNBOUNDED_SEQUENCE
        desc = desc[1][0]
    kind, rest = desc
    if kind == Nodetype.NAME:
        type_id, nested = increment + _NESTED, rest
        resolve(nested)
    elif rest[0] == "string" and rest[1]:
        type_id, string_capacity = increment + _BOUNDED_STRING, rest[1]
    else:
        type_id = increment + _TYPE_IDS[rest[0]]
    return {
        "name": name,
        "type": {"type_id": type_id, "capacity": capacity, "string_capacity": string_capacity,
                 "nested_type_name": nested},
    }


def _nested(name: str, typename: str, capacity: int = 0) -> tuple[str, Any]:
    """A synthetic field definition: a nested struct, or a bounded sequence ``T[<=capacity]`` of one."""
    if capacity:
        return (name, (Nodetype.SEQUENCE, ((Nodetype.NAME, typename), capacity)))
    return (name, (Nodetype.NAME, typename))


def hash_description(fielddefs: FieldDefs, typename: str) -> str:
    """``RIHS01_<sha256>`` of ``typename`` whose (transitive) field definitions are in ``fielddefs``."""
    return hash_type_description(type_description(fielddefs, typename))


def hash_type_description(description: Mapping[str, Any]) -> str:
    """``RIHS01_<sha256>`` of a ``type_description`` dict (fields without ``default_value``)."""
    return "RIHS01_" + hashlib.sha256(json.dumps(description).encode()).hexdigest()


def type_description(fielddefs: FieldDefs, typename: str) -> dict[str, Any]:
    """The hashed form of ``type_description_interfaces/msg/TypeDescription`` of ``typename``:
    ``{"type_description": {...}, "referenced_type_descriptions": [... sorted by type_name]}``."""
    structs: dict[str, Struct] = {}

    def resolve(name: str) -> Struct:
        if name not in structs:
            if name not in fielddefs:
                raise KeyError(f"type {name!r} is not known: register its .msg/.srv definition first")
            fields = fielddefs[name][1] or [("structure_needs_at_least_one_member", (Nodetype.BASE, ("uint8", 0)))]
            structs[name] = {"type_name": name, "fields": []}
            structs[name]["fields"] = [_field(n, d, resolve) for n, d in fields]
        return structs[name]

    top = resolve(typename)
    return {
        "type_description": top,
        "referenced_type_descriptions": [s for n, s in sorted(structs.items()) if n != typename],
    }


def service_fielddefs(srv: str) -> dict[str, tuple[list, list]]:
    """Synthetic field definitions of a service ``pkg/srv/S`` (or action part) and its ``S_Event``."""
    return {
        srv: ([], [_nested("request_message", f"{srv}_Request"), _nested("response_message", f"{srv}_Response"),
                   _nested("event_message", f"{srv}_Event")]),
        f"{srv}_Event": ([], [_nested("info", "service_msgs/msg/ServiceEventInfo"),
                              _nested("request", f"{srv}_Request", 1), _nested("response", f"{srv}_Response", 1)]),
    }


def message_hash(fielddefs: FieldDefs, typename: str) -> str:
    return hash_description(fielddefs, typename)


def service_hash(fielddefs: FieldDefs, srv: str) -> str:
    """RIHS01 of a service type; ``fielddefs`` must hold ``<srv>_Request``, ``<srv>_Response`` and ServiceEventInfo."""
    return hash_description({**fielddefs, **service_fielddefs(srv)}, srv)
