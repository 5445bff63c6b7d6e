"""``~/get_type_description`` (type_description_interfaces/srv/GetTypeDescription, Jazzy and later), as rcl serves it.

The answer is the ``TypeDescription`` whose RIHS01 hash is the type's hash (``rihs.type_description``, the structure
that is hashed; ``default_value`` is left empty), for any type the node uses: the message types of its publishers
and subscriptions, and the service types of its services and clients. As rcl, the type is looked up by
``type_hash``: a hash that does not parse fails with ``"Failed to parse type hash"``, one of no type in use with
``"Type not currently in use by this node"``. ``type_sources`` is empty (the .msg texts are not kept).
Nodes declare the read-only ``start_type_description_service`` parameter (default true), as rclpy does; humble
has neither (no type hashes).
"""

from __future__ import annotations

import re
from typing import Any

from . import msgs, rihs

__all__ = ["SERVICE_TYPE", "START_PARAMETER", "add_type_description_service", "describe", "is_available",
           "type_description_dict"]

SERVICE_TYPE = "type_description_interfaces/srv/GetTypeDescription"
START_PARAMETER = "start_type_description_service"
_HASH = re.compile(r"RIHS01_[0-9a-f]{64}\Z")


def is_available() -> bool:
    """True where the target distro has the service (Jazzy and later)."""
    return msgs.is_service(SERVICE_TYPE)


def type_description_dict(typename: str) -> dict[str, Any]:
    """The hashed description of a message or service type (see :func:`rihs.type_description`)."""
    name = msgs.normalize_typename(typename)
    fielddefs: Any = msgs.get_typestore().fielddefs
    if msgs.is_service(name):
        fielddefs = {**fielddefs, **rihs.service_fielddefs(name)}
    return rihs.type_description(fielddefs, name)


def _individual(struct: dict[str, Any]) -> Any:
    fields = [msgs.make("type_description_interfaces/msg/Field", name=f["name"], default_value="",
                        type=msgs.make("type_description_interfaces/msg/FieldType", **f["type"]))
              for f in struct["fields"]]
    return msgs.make("type_description_interfaces/msg/IndividualTypeDescription", type_name=struct["type_name"],
                     fields=fields)


def describe(typename: str) -> Any:
    """``type_description_interfaces/msg/TypeDescription`` of ``typename``."""
    d = type_description_dict(typename)
    return msgs.make("type_description_interfaces/msg/TypeDescription",
                     type_description=_individual(d["type_description"]),
                     referenced_type_descriptions=[_individual(s) for s in d["referenced_type_descriptions"]])


def used_types(node: Any) -> dict[str, str]:
    """``{RIHS01 hash: type name}`` of the types of the node's endpoints."""
    names = {getattr(e, "typename", None) or getattr(e, "srv_typename", None)
             for e in [*node._entities, getattr(node, "_rosout_pub", None)] if e is not None}
    return {msgs.type_hash(n): n for n in sorted(n for n in names if n)}


def add_type_description_service(node: Any) -> Any:
    """Serve ``~/get_type_description`` for ``node`` (see the module docstring)."""

    def handle(request: Any) -> Any:
        response = f"{SERVICE_TYPE}_Response"
        if not _HASH.match(request.type_hash):
            return msgs.make(response, successful=False, failure_reason="Failed to parse type hash")
        typename = used_types(node).get(request.type_hash)
        if typename is None:
            return msgs.make(response, successful=False, failure_reason="Type not currently in use by this node")
        return msgs.make(response, successful=True, type_description=describe(typename))

    return node.create_service(SERVICE_TYPE, "~/get_type_description", handle)
