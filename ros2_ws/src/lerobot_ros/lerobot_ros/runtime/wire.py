"""rmw_zenoh's wire format: data keys, liveliness tokens, name mangling, entity GIDs and attachments.

- data key: ``<domain>/<fqn without one leading/trailing '/'>/<pkg>::<msg|srv>::dds_::<Type>_/<type hash>``;
- liveliness token: ``@ros2_lv/<domain>/<zid>/<nid>/<id>/<NN|MP|MS|SS|SC>/<enclave>/<ns>/<node>[/<topic>/<type>/<hash>/<qos>]``
  with every ``/`` of a name turned into ``%`` (an empty name is ``%``);
- GID: xxh3-128 of the token, low 64 bits then high 64 bits, little-endian (16 bytes);
- attachment: int64 LE sequence number, int64 LE source timestamp (ns), LEB128 ``0x10``, 16-byte GID (33 bytes);
  the legacy keyed layout (77 bytes, rmw_zenoh Jazzy <= 0.2.3 / Humble <= 0.1.1) is decoded too.
"""

from __future__ import annotations

import dataclasses
import struct
from typing import NamedTuple

import xxhash

from .qos import QoSProfile, qos_from_keyexpr, qos_to_keyexpr

__all__ = [
    "ADMIN_SPACE",
    "ENDPOINT_KINDS",
    "Attachment",
    "Entity",
    "data_key",
    "dds_type_name",
    "decode_attachment",
    "encode_attachment",
    "encode_legacy_attachment",
    "entity_gid",
    "liveliness_token",
    "mangle",
    "parse_liveliness_token",
    "ros_type_name",
    "strip_slashes",
    "unmangle",
]

ADMIN_SPACE = "@ros2_lv"
NODE = "NN"
PUBLISHER, SUBSCRIPTION, SERVICE_SERVER, SERVICE_CLIENT = "MP", "MS", "SS", "SC"
ENDPOINT_KINDS = (PUBLISHER, SUBSCRIPTION, SERVICE_SERVER, SERVICE_CLIENT)
GID_SIZE = 16
ATTACHMENT_SIZE = 33


def strip_slashes(name: str) -> str:
    """Remove one leading and one trailing ``/`` (internal slashes stay), as rmw_zenoh's key builder does."""
    if name.startswith("/"):
        name = name[1:]
    if name.endswith("/"):
        name = name[:-1]
    return name


def mangle(name: str) -> str:
    """Every ``/`` becomes ``%``; an empty name is ``%`` (no other escaping, as ``mangle_name``)."""
    return name.replace("/", "%") if name else "%"


def unmangle(chunk: str) -> str:
    return chunk.replace("%", "/")


def dds_type_name(typename: str) -> str:
    """``std_msgs/msg/String`` -> ``std_msgs::msg::dds_::String_`` (services: the base ``pkg/srv/S``)."""
    *scope, name = typename.strip("/").split("/")
    if len(scope) == 1:
        scope = [scope[0], "msg"]
    return "::".join(scope) + f"::dds_::{name}_"


def ros_type_name(dds_name: str) -> str:
    """``std_msgs::msg::dds_::String_`` -> ``std_msgs/msg/String`` (inverse of :func:`dds_type_name`)."""
    parts = dds_name.split("::")
    if len(parts) < 3 or parts[-2] != "dds_" or not parts[-1].endswith("_"):
        return dds_name
    return "/".join([*parts[:-2], parts[-1][:-1]])


def data_key(domain_id: int, fqn: str, typename: str, type_hash: str) -> str:
    return f"{int(domain_id)}/{strip_slashes(fqn)}/{dds_type_name(typename)}/{type_hash}"


def liveliness_token(
    domain_id: int, zid: str, node_id: int, entity_id: int, kind: str, namespace: str, node_name: str, *,
    enclave: str = "/", topic: str | None = None, typename: str | None = None, type_hash: str | None = None,
    qos: QoSProfile | None = None,
) -> str:
    """The liveliness key expression of a node (``NN``) or an endpoint (``MP``/``MS``/``SS``/``SC``)."""
    chunks = [ADMIN_SPACE, str(int(domain_id)), zid, str(node_id), str(entity_id), kind,
              mangle(enclave or "/"), mangle(namespace or "/"), mangle(node_name)]
    if kind == NODE:
        return "/".join(chunks)
    if kind not in ENDPOINT_KINDS:
        raise ValueError(f"unknown entity kind {kind!r}")
    if topic is None or typename is None or type_hash is None or qos is None:
        raise ValueError("an endpoint token needs topic, typename, type_hash and qos")
    chunks += [mangle(topic), mangle(dds_type_name(typename)), mangle(type_hash), qos_to_keyexpr(qos)]
    return "/".join(chunks)


@dataclasses.dataclass(frozen=True)
class Entity:
    """A parsed liveliness token."""

    domain_id: int
    zid: str
    node_id: int
    entity_id: int
    kind: str
    enclave: str
    namespace: str
    node_name: str
    topic: str | None = None
    dds_type: str | None = None
    type_hash: str | None = None
    qos: QoSProfile | None = None
    token: str = ""

    @property
    def typename(self) -> str | None:
        return ros_type_name(self.dds_type) if self.dds_type else None

    @property
    def node_fqn(self) -> str:
        return ("" if self.namespace == "/" else self.namespace) + "/" + self.node_name

    @property
    def gid(self) -> bytes:
        return entity_gid(self.token)


def _ns(chunk: str) -> str:
    return "/" + strip_slashes(unmangle(chunk)) if chunk != "%" else "/"


def parse_liveliness_token(keyexpr: str) -> Entity:
    """Parse an rmw_zenoh liveliness token; ``ValueError`` naming the problem if it is malformed."""
    parts = str(keyexpr).split("/")
    if len(parts) < 9 or parts[0] != ADMIN_SPACE:
        raise ValueError(f"not an rmw_zenoh liveliness token: {keyexpr!r}")
    if any(not p for p in parts):
        raise ValueError(f"liveliness token with an empty chunk: {keyexpr!r}")
    kind = parts[5]
    try:
        domain, nid, eid = int(parts[1]), int(parts[3]), int(parts[4])
    except ValueError:
        raise ValueError(f"liveliness token with non-numeric ids: {keyexpr!r}") from None
    base = dict(domain_id=domain, zid=parts[2], node_id=nid, entity_id=eid, kind=kind, enclave=_ns(parts[6]),
                namespace=_ns(parts[7]), node_name=parts[8], token=str(keyexpr))
    if kind == NODE:
        if len(parts) != 9:
            raise ValueError(f"node token with extra chunks: {keyexpr!r}")
        return Entity(**base)
    if kind not in ENDPOINT_KINDS:
        raise ValueError(f"liveliness token with unknown kind {kind!r}: {keyexpr!r}")
    if len(parts) != 13:
        raise ValueError(f"endpoint token needs 13 chunks, got {len(parts)}: {keyexpr!r}")
    return Entity(**base, topic=unmangle(parts[9]), dds_type=unmangle(parts[10]), type_hash=unmangle(parts[11]),
                  qos=qos_from_keyexpr(parts[12]))


def entity_gid(token: str) -> bytes:
    """The 16-byte entity GID: xxh3-128 of the liveliness key expression (low64, high64; little-endian)."""
    return xxhash.xxh3_128_intdigest(token.encode()).to_bytes(GID_SIZE, "little")


class Attachment(NamedTuple):
    sequence_number: int
    source_timestamp: int  # ns since the Unix epoch
    gid: bytes


_LEGACY_KEYS = (b"sequence_number", b"source_timestamp", b"source_gid")
_ATTACHMENT = struct.Struct(f"<qqB{GID_SIZE}s")  # one pack/unpack per sample: this is on every message's path


def encode_attachment(sequence_number: int, source_timestamp: int, gid: bytes) -> bytes:
    """The 33-byte attachment of current rmw_zenoh (zenoh-ext serialization of (i64, i64, [u8; 16]))."""
    if len(gid) != GID_SIZE:
        raise ValueError(f"GID must be {GID_SIZE} bytes, got {len(gid)}")
    return _ATTACHMENT.pack(sequence_number, source_timestamp, GID_SIZE, gid)


def encode_legacy_attachment(sequence_number: int, source_timestamp: int, gid: bytes) -> bytes:
    """The 77-byte keyed attachment of rmw_zenoh Jazzy <= 0.2.3 / Humble <= 0.1.1."""
    if len(gid) != GID_SIZE:
        raise ValueError(f"GID must be {GID_SIZE} bytes, got {len(gid)}")
    seq_key, ts_key, gid_key = _LEGACY_KEYS
    return (bytes([len(seq_key)]) + seq_key + struct.pack("<q", sequence_number)
            + bytes([len(ts_key)]) + ts_key + struct.pack("<q", source_timestamp)
            + bytes([len(gid_key)]) + gid_key + bytes([GID_SIZE]) + bytes(gid))


def decode_attachment(data: bytes | bytearray | memoryview | None) -> Attachment:
    """Decode a 33-byte (current) or 77-byte (legacy keyed) attachment; ``ValueError`` otherwise."""
    if data is None:
        raise ValueError("missing attachment")
    if len(data) == ATTACHMENT_SIZE:
        seq, ts, gid_size, gid = _ATTACHMENT.unpack(data)
        if gid_size == GID_SIZE:
            return Attachment(seq, ts, gid)
    data = bytes(data)
    if data[:1] == bytes([len(_LEGACY_KEYS[0])]) and data[1:16] == _LEGACY_KEYS[0]:
        if data != encode_legacy_attachment(*struct.unpack_from("<q", data, 16),
                                            *struct.unpack_from("<q", data, 41), data[61:]):
            raise ValueError(f"malformed legacy attachment ({len(data)} bytes)")
        return Attachment(struct.unpack_from("<q", data, 16)[0], struct.unpack_from("<q", data, 41)[0], data[61:])
    raise ValueError(f"malformed attachment ({len(data)} bytes; expected 33, or 77 for the legacy layout)")
