"""The one message model of both backends: rosbags typestores per ROS distro and CDR bytes.

Type names are ``pkg/msg/Name`` (``pkg/Name`` is accepted for messages), ``pkg/srv/Name`` for services
(their parts are ``pkg/srv/Name_Request`` / ``_Response``) and ``pkg/action/Name`` for actions. The distro
is Jazzy unless ``LEROBOT_ROS_DISTRO`` (or a sourced ``ROS_DISTRO``) names another one rosbags knows;
Humble's type hash is the literal ``TypeHashNotSupported``, as rmw_zenoh writes it.

std_srvs (Trigger, SetBool, Empty), example_interfaces/AddTwoInts and the rcl_interfaces parameter services are
registered from their .srv text on every store (type_description_interfaces/GetTypeDescription on Jazzy and later); custom types come from ``register_msg_text``/``register_srv_text``/``register_action_text``.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
from collections.abc import Callable
from typing import Any

import numpy as np
from rosbags.typesys import Stores, get_types_from_msg
from rosbags.typesys import get_typestore as _rosbags_typestore
from rosbags.typesys.base import Nodetype
from rosbags.typesys.store import Typestore

from . import native, rihs

__all__ = [
    "CDR_HEADER",
    "DEFAULT_DISTRO",
    "Codec",
    "codec",
    "current_distro",
    "deserialize",
    "from_dict",
    "get_typestore",
    "is_service",
    "make",
    "msg_class",
    "normalize_typename",
    "register_action_text",
    "register_msg_text",
    "register_srv_text",
    "request_class",
    "response_class",
    "serialize",
    "to_dict",
    "type_hash",
    "warm_up",
]

DEFAULT_DISTRO = "jazzy"
CDR_HEADER = b"\x00\x01\x00\x00"  # CDR little-endian encapsulation, as Fast-CDR writes it
_STORES = {
    "humble": Stores.ROS2_HUMBLE, "iron": Stores.ROS2_IRON, "jazzy": Stores.ROS2_JAZZY,
    "kilted": Stores.ROS2_KILTED, "lyrical": Stores.ROS2_LYRICAL, "rolling": Stores.ROS2_LYRICAL,
}

_BUILTIN_SRVS = {
    "std_srvs/srv/Empty": "---\n",
    "std_srvs/srv/Trigger": "---\nbool success # indicate successful run of triggered service\nstring message\n",
    "std_srvs/srv/SetBool": "bool data # e.g. for hardware enabling / disabling\n---\nbool success\nstring message\n",
    "example_interfaces/srv/AddTwoInts": "int64 a\nint64 b\n---\nint64 sum\n",
    # rcl_interfaces parameter services (rosbags has the messages, not the services)
    "rcl_interfaces/srv/GetParameters": "string[] names\n---\nParameterValue[] values\n",
    "rcl_interfaces/srv/DescribeParameters": "string[] names\n---\nParameterDescriptor[] descriptors\n",
    "rcl_interfaces/srv/GetParameterTypes": "string[] names\n---\nuint8[] types\n",
    "rcl_interfaces/srv/ListParameters": "uint64 DEPTH_RECURSIVE=0\nstring[] prefixes\nuint64 depth\n---\n"
                                         "ListParametersResult result\n",
    "rcl_interfaces/srv/SetParameters": "Parameter[] parameters\n---\nSetParametersResult[] results\n",
    "rcl_interfaces/srv/SetParametersAtomically": "Parameter[] parameters\n---\nSetParametersResult result\n",
}
# Services whose messages only some distros have (Jazzy+): registered where the first type exists.
_DISTRO_SRVS = {
    "type_description_interfaces/srv/GetTypeDescription": (
        "type_description_interfaces/msg/TypeDescription",
        "string type_name\nstring type_hash\nbool include_type_sources true\n---\nbool successful\n"
        "string failure_reason\nTypeDescription type_description\nTypeSource[] type_sources\n"
        "KeyValue[] extra_information\n",
    ),
}

_lock = threading.RLock()
_stores: dict[str, Typestore] = {}
_services: dict[str, set[str]] = {}
_hashes: dict[tuple[str, str], str] = {}
_registrations: list[Callable[[str], None]] = []  # replayed on every store created later


def current_distro() -> str:
    """The target distro: ``LEROBOT_ROS_DISTRO``, else a sourced ``ROS_DISTRO`` rosbags knows, else Jazzy."""
    for var in ("LEROBOT_ROS_DISTRO", "ROS_DISTRO"):
        value = os.environ.get(var, "").strip().lower()
        if value in _STORES:
            return value
        if value and var == "LEROBOT_ROS_DISTRO":
            raise ValueError(f"LEROBOT_ROS_DISTRO={value!r} is not supported; use one of {sorted(_STORES)}")
    return DEFAULT_DISTRO


def _distro(distro: str | None) -> str:
    distro = (distro or current_distro()).lower()
    if distro not in _STORES:
        raise ValueError(f"unknown ROS distro {distro!r}; expected one of {sorted(_STORES)}")
    return distro


def get_typestore(distro: str | None = None) -> Typestore:
    """The rosbags typestore of ``distro`` (default: :func:`current_distro`) with the extra types registered."""
    distro = _distro(distro)
    with _lock:
        store = _stores.get(distro)
        if store is None:
            store = _stores[distro] = _rosbags_typestore(_STORES[distro])
            _services[distro] = set()
            for srv, text in _BUILTIN_SRVS.items():
                _register_srv(distro, srv, text)
            for srv, (needs, text) in _DISTRO_SRVS.items():
                if needs in store.fielddefs:
                    _register_srv(distro, srv, text)
            for register in _registrations:
                try:
                    register(distro)
                except (KeyError, ValueError, TypeError) as exc:  # e.g. a custom type using one this distro lacks
                    logging.getLogger("lerobot_ros.msgs").warning("custom type not available for %s: %s", distro, exc)
        return store


def normalize_typename(typename: str) -> str:
    """``pkg/Name`` -> ``pkg/msg/Name``; full names are returned unchanged; anything else is an error."""
    parts = typename.strip("/").split("/")
    if len(parts) == 2:
        parts = [parts[0], "msg", parts[1]]
    if len(parts) != 3 or parts[1] not in ("msg", "srv", "action") or not all(parts):
        raise ValueError(f"invalid ROS type name {typename!r}: expected 'pkg/msg/Name' (or 'pkg/srv/Name')")
    return "/".join(parts)


def _parse(text: str, typename: str) -> dict[str, tuple[list, list]]:
    """Field definitions of one .msg body named ``typename`` (relative names resolve to ``pkg/msg/``)."""
    pkg, _, name = typename.split("/")
    parsed = get_types_from_msg(text, f"{pkg}/msg/{name}")
    return {typename: parsed[f"{pkg}/msg/{name}"]}


def _register(distro: str, defs: dict[str, tuple[list, list]]) -> None:
    store = _stores[distro]
    new = {k: v for k, v in defs.items() if k not in store.fielddefs}
    for k, v in defs.items():
        if k in store.fielddefs and store.fielddefs[k] != v:
            raise ValueError(f"type {k!r} is already registered with a different definition")
    if new:
        store.register(new)
    for k in defs:
        _hashes.pop((distro, k), None)


def _split(text: str, parts: int, what: str, typename: str) -> list[str]:
    sections: list[list[str]] = [[]]
    for line in text.splitlines():
        if line.strip() == "---":
            sections.append([])
        else:
            sections[-1].append(line)
    if len(sections) != parts:
        raise ValueError(f"{what} definition of {typename!r} must have {parts} sections separated by '---'")
    return ["\n".join(s) + "\n" for s in sections]


def _register_srv(distro: str, srv: str, text: str) -> None:
    request, response = _split(text, 2, "service", srv)
    _register(distro, {**_parse(request, f"{srv}_Request"), **_parse(response, f"{srv}_Response")})
    _services[distro].add(srv)


def _nested(name: str, typename: str) -> tuple[str, Any]:
    return (name, (Nodetype.NAME, typename))


def _register_action(distro: str, action: str, text: str) -> None:
    goal, result, feedback = _split(text, 3, "action", action)
    uuid, time = _nested("goal_id", "unique_identifier_msgs/msg/UUID"), _nested("stamp", "builtin_interfaces/msg/Time")
    defs = {**_parse(goal, f"{action}_Goal"), **_parse(result, f"{action}_Result"),
            **_parse(feedback, f"{action}_Feedback")}
    defs[f"{action}_SendGoal_Request"] = ([], [uuid, _nested("goal", f"{action}_Goal")])
    defs[f"{action}_SendGoal_Response"] = ([], [("accepted", (Nodetype.BASE, ("bool", 0))), time])
    defs[f"{action}_GetResult_Request"] = ([], [uuid])
    defs[f"{action}_GetResult_Response"] = ([], [("status", (Nodetype.BASE, ("int8", 0))),
                                                 _nested("result", f"{action}_Result")])
    defs[f"{action}_FeedbackMessage"] = ([], [uuid, _nested("feedback", f"{action}_Feedback")])
    _register(distro, defs)
    _services[distro].update({f"{action}_SendGoal", f"{action}_GetResult"})


def _register_everywhere(register: Callable[[str], None]) -> None:
    """Apply a registration to every store (the current distro's at least); replayed on stores made later."""
    with _lock:
        get_typestore()
        for distro in list(_stores):
            register(distro)  # a bad definition raises here and is not remembered
        _registrations.append(register)


def register_msg_text(typename: str, text: str) -> None:
    """Register a custom message from its .msg text on every distro's store (``pkg/msg/Name``)."""
    typename = normalize_typename(typename)
    _register_everywhere(lambda d: _register(d, _parse(text, typename)))


def register_srv_text(srv_typename: str, text: str) -> None:
    """Register a custom service ``pkg/srv/Name`` from its .srv text (request ``---`` response)."""
    srv = normalize_typename(srv_typename)
    _register_everywhere(lambda d: _register_srv(d, srv, text))


def register_action_text(action_typename: str, text: str) -> None:
    """Register ``pkg/action/Name`` from its .action text: goal, result, feedback and the rmw-level parts
    (``Name_SendGoal``/``Name_GetResult`` services, ``Name_FeedbackMessage``)."""
    action = normalize_typename(action_typename)
    _register_everywhere(lambda d: _register_action(d, action, text))


def is_service(typename: str, distro: str | None = None) -> bool:
    distro = _distro(distro)
    get_typestore(distro)
    return typename in _services[distro]


def msg_class(typename: str, distro: str | None = None) -> type:
    """The rosbags dataclass of a message type (also ``pkg/srv/Name_Request`` / ``_Response``)."""
    store = get_typestore(distro)
    name = normalize_typename(typename)
    try:
        return store.types[name]
    except KeyError:
        raise KeyError(f"unknown message type {typename!r} for {_distro(distro)}: "
                       "register it with register_msg_text()/register_srv_text()") from None


def request_class(srv_typename: str, distro: str | None = None) -> type:
    return msg_class(f"{normalize_typename(srv_typename)}_Request", distro)


def response_class(srv_typename: str, distro: str | None = None) -> type:
    return msg_class(f"{normalize_typename(srv_typename)}_Response", distro)


def _default(desc: Any, store: Typestore) -> Any:
    kind, rest = desc
    if kind == Nodetype.NAME:
        return make(rest, store=store)
    if kind == Nodetype.BASE:
        base = rest[0]
        return "" if base == "string" else False if base == "bool" else 0.0 if base.startswith("float") else 0
    inner, count = rest
    if inner[0] == Nodetype.BASE and inner[1][0] != "string":
        dtype = {"char": np.uint8, "byte": np.uint8, "bool": np.bool_}.get(inner[1][0], inner[1][0])
        return np.zeros(count if kind == Nodetype.ARRAY else 0, dtype=dtype)
    return [_default(inner, store) for _ in range(count if kind == Nodetype.ARRAY else 0)]


def make(typename: str, *, distro: str | None = None, store: Typestore | None = None, **fields: Any) -> Any:
    """A message of ``typename`` with every field not given set to its zero value (nested types included);
    numeric array fields accept lists."""
    store = store or get_typestore(distro)
    name = normalize_typename(typename)
    cls = store.types.get(name) or msg_class(name, distro)
    values = {}
    for n, desc in store.fielddefs[name][1]:
        default = _default(desc, store)
        if n not in fields:
            values[n] = default
        elif isinstance(default, np.ndarray) and not isinstance(fields[n], np.ndarray):
            values[n] = np.asarray(fields.pop(n), dtype=default.dtype)  # lists are fine for numeric arrays
        else:
            values[n] = fields.pop(n)
    if not store.fielddefs[name][1]:
        values["structure_needs_at_least_one_member"] = 0
    if fields:
        raise TypeError(f"{name} has no field(s) {sorted(fields)}")
    return cls(**values)


def serialize(msg: Any, typename: str | None = None, distro: str | None = None) -> bytes:
    """CDR bytes (with the ``00 01 00 00`` header) of a rosbags message object."""
    return bytes(codec(typename or msg.__msgtype__, distro).serialize(msg))


def deserialize(data: bytes | bytearray | memoryview, typename: str, distro: str | None = None) -> Any:
    """A rosbags message from CDR bytes; raises ``ValueError`` on bytes that are not valid CDR for the type.

    ``bytes`` are not copied: array fields (an Image's ``data``) are read-only numpy views into them."""
    data = data if isinstance(data, bytes) else bytes(data)  # a mutable buffer is copied: the message owns it
    return codec(typename, distro).deserialize(data)


class Codec:
    """The CDR codec of one type, looked up once: the per-message path of publishers and subscriptions.

    ``serialize(msg)`` gives CDR bytes with the little-endian header (a fresh object the caller owns);
    ``deserialize(data)`` the message in little-endian CDR ``bytes`` (not copied: array fields are read-only
    views into them), ``ValueError`` on a wrong header, truncated or garbage bytes. Both are the compiled codec
    (``native``: :mod:`lerobot_ros.runtime.native`) when it is available, else rosbags' generated functions
    (``Typestore.serialize_cdr``/``deserialize_cdr`` look those up on every call); the results are the same
    for well-typed messages. The native codec also converts lists, tuples and arrays of another dtype for numeric
    fields (numpy's same_kind casting), where rosbags wants arrays of the field's element size.
    """

    __slots__ = ("_deserialize", "_getsize", "_serialize", "_store", "cls", "deserialize", "native", "serialize",
                 "typename")
    serialize: Callable[[Any], bytes | bytearray]
    deserialize: Callable[[bytes], Any]

    def __init__(self, typename: str, store: Typestore) -> None:
        msgdef = store.get_msgdef(typename)
        self.typename, self.cls, self._store = typename, msgdef.cls, store
        self._getsize, self._serialize = msgdef.getsize_cdr, msgdef.serialize_cdr_le
        self._deserialize = msgdef.deserialize_cdr_le
        plan = native.plan(store, typename)
        self.native = plan is not None
        # the bound C methods themselves: no Python frame between the caller and the codec
        self.serialize = plan.serialize if plan is not None else self._rosbags_serialize
        self.deserialize = plan.deserialize if plan is not None else self._rosbags_deserialize

    def _rosbags_serialize(self, msg: Any) -> bytearray:
        store = self._store
        data = bytearray(4 + self._getsize(0, msg, store))
        data[1] = 1
        self._serialize(memoryview(data)[4:], 0, msg, store)
        return data

    def _rosbags_deserialize(self, data: bytes) -> Any:
        if len(data) < 4 or data[0] != 0 or data[1] != 1:
            raise ValueError(f"not little-endian CDR for {self.typename}: header {data[:4].hex() or 'missing'}")
        try:  # a memoryview: slicing bytes would copy them
            msg, end = self._deserialize(memoryview(data)[4:], 0, self.cls, self._store)
        except Exception as exc:  # rosbags raises struct/index/unicode errors on truncated or garbage input
            raise ValueError(f"cannot deserialize {len(data)} bytes as {self.typename}: {exc}") from exc
        if end + 4 + 3 < len(data):  # CDR pads to 4 (+ the header): more left over is not this type
            raise ValueError(f"{len(data)} bytes are too many for {self.typename} ({end + 4} used)")
        return msg


_codecs: dict[tuple[int, str], Codec] = {}  # (id of a store, type): stores live as long as the process


def codec(typename: str, distro: str | None = None) -> Codec:
    """The (cached) :class:`Codec` of ``typename`` in the distro's store."""
    name, store = normalize_typename(typename), get_typestore(distro)
    found = _codecs.get((id(store), name))
    if found is None:
        found = _codecs[(id(store), name)] = Codec(name, store)
    return found


def type_hash(typename: str, distro: str | None = None) -> str:
    """``RIHS01_<sha256>`` of a message, service or action-part type (``TypeHashNotSupported`` on Humble)."""
    distro = _distro(distro)
    if distro == "humble":
        return rihs.TYPE_HASH_NOT_SUPPORTED
    name = normalize_typename(typename)
    key = (distro, name)
    with _lock:
        if key not in _hashes:
            store = get_typestore(distro)
            if name in _services[distro]:
                _hashes[key] = rihs.service_hash(store.fielddefs, name)
            else:
                if name not in store.fielddefs:
                    raise KeyError(f"unknown type {typename!r} for {distro}")
                _hashes[key] = rihs.message_hash(store.fielddefs, name)
        return _hashes[key]


def to_dict(msg: Any, *, max_array: int | None = None) -> Any:
    """A message as plain Python (dicts, lists, numbers, strings), e.g. for YAML; arrays longer than
    ``max_array`` are cut and end with ``"..."``."""
    if hasattr(msg, "__msgtype__") and dataclasses.is_dataclass(msg):
        return {f.name: to_dict(getattr(msg, f.name), max_array=max_array) for f in dataclasses.fields(msg)
                if f.name != "__msgtype__"}
    if isinstance(msg, np.ndarray):
        msg = msg.tolist()
    if isinstance(msg, (list, tuple)):
        items = [to_dict(v, max_array=max_array) for v in msg[: max_array if max_array is not None else None]]
        return [*items, "..."] if max_array is not None and len(msg) > max_array else items
    if isinstance(msg, np.generic):
        return msg.item()
    return msg


def from_dict(typename: str, data: dict[str, Any] | None, distro: str | None = None) -> Any:
    """Build a message from a (possibly partial, nested) dict; missing fields are zero. Unknown fields are
    an error naming the field and the type."""
    store = get_typestore(distro)
    name = normalize_typename(typename)
    data = dict(data or {})
    fielddefs = dict(store.fielddefs[name][1]) if name in store.fielddefs else None
    if fielddefs is None:
        msg_class(name, distro)  # raises the clear unknown-type error
    unknown = sorted(set(data) - set(fielddefs))
    if unknown:
        raise ValueError(f"{name} has no field(s) {unknown}; fields are {sorted(fielddefs)}")
    values = {}
    for field, value in data.items():
        kind, rest = fielddefs[field]
        if kind == Nodetype.NAME:
            values[field] = from_dict(rest, value, distro) if isinstance(value, dict) else value
        elif kind in (Nodetype.ARRAY, Nodetype.SEQUENCE) and rest[0][0] == Nodetype.NAME:
            values[field] = [from_dict(rest[0][1], v, distro) if isinstance(v, dict) else v for v in value]
        else:
            values[field] = value
    return make(name, store=store, **values)


def warm_up(typename: str, distro: str | None = None) -> None:
    """Build rosbags' (de)serializer of ``typename`` now, so the first real message is not delayed by it."""
    msg = make(typename, distro=distro)
    deserialize(serialize(msg, typename, distro), typename, distro)
