"""Native backend: eclipse-zenoh speaking rmw_zenoh's wire protocol (no ROS install needed).

One :class:`ZenohContext` (= one Zenoh session, like an rcl context) per process by default; tests may open
several with deterministic session ids. Publishers are Zenoh advanced publishers on the rmw_zenoh data key with
33-byte attachments and per-publisher sequence numbers from 1; subscriptions are advanced subscribers (history
and recovery for TRANSIENT_LOCAL); services are complete queryables answered with the request's sequence number
and client GID echoed; clients ``get`` with target ALL_COMPLETE. Every entity declares its liveliness token.

Session configuration: rmw_zenoh's defaults (peer, connect ``tcp/localhost:7447``, listen ``tcp/localhost:0``,
multicast scouting off, gossip on, timestamping on) or the JSON5 file in ``ZENOH_SESSION_CONFIG_URI``, then
``ZENOH_CONFIG_OVERRIDE='key=json5;key2=json5'``. ``ROS_DOMAIN_ID`` picks the domain;
``ZENOH_ROUTER_CHECK_ATTEMPTS`` how long to wait for a router (unset: one check, 0: forever, <0: none);
``LEROBOT_ROS_ZENOH_ATTACHMENT=legacy`` sends the 77-byte attachment of rmw_zenoh Jazzy <= 0.2.3 / Humble <= 0.1.1.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

import zenoh
import zenoh.ext as zext

from . import msgs, wire
from .graph import LivelinessGraph
from .qos import QoSProfile
from .transport import MessageInfo, ServiceError, ServiceTimeout, ServiceUnavailable

__all__ = [
    "DEFAULT_SESSION_CONFIG",
    "ZenohBackend",
    "ZenohContext",
    "domain_id_from_env",
    "get_default_context",
    "parse_config_override",
    "session_config",
]

_log = logging.getLogger("lerobot_ros.zenoh")

# rmw_zenoh's DEFAULT_RMW_ZENOH_SESSION_CONFIG.json5, the settings that differ from Zenoh's own defaults.
DEFAULT_SESSION_CONFIG: dict[str, Any] = {
    "mode": "peer",
    "connect/endpoints": ["tcp/localhost:7447"],
    "connect/timeout_ms": {"router": -1, "peer": -1, "client": 0},
    "connect/exit_on_failure": {"router": False, "peer": False, "client": True},
    "connect/retry": {"period_init_ms": 1000, "period_max_ms": 4000, "period_increase_factor": 2},
    "listen/endpoints": ["tcp/localhost:0"],
    "scouting/multicast/enabled": False,
    "scouting/gossip/enabled": True,
    "scouting/gossip/target": {"router": ["router", "peer"], "peer": ["router"]},
    "scouting/gossip/autoconnect": {"router": [], "peer": ["router", "peer"]},
    "scouting/gossip/autoconnect_strategy": {"peer": {"to_router": "always", "to_peer": "greater-zid"}},
    "timestamping/enabled": {"router": True, "peer": True, "client": True},
    "queries_default_timeout": 60000,
    "transport/unicast/open_timeout": 60000,
    "transport/unicast/accept_timeout": 60000,
    "transport/link/tx/lease": 60000,
    "transport/link/tx/keep_alive": 2,
    "transport/shared_memory/enabled": False,
}


def parse_config_override(text: str) -> list[tuple[str, str]]:
    """``ZENOH_CONFIG_OVERRIDE`` syntax: ``key=json5;key2=json5`` -> ``[(key, json5), ...]``."""
    pairs = []
    for item in (text or "").split(";"):
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"ZENOH_CONFIG_OVERRIDE entry {item!r} is not 'key=json5value'")
        pairs.append((key.strip(), value.strip()))
    return pairs


def session_config(overrides: dict[str, Any] | None = None, *, defaults: dict[str, Any] | None = None) -> zenoh.Config:
    """rmw_zenoh's session config (or ``ZENOH_SESSION_CONFIG_URI``), then the env override, then ``overrides``."""
    uri = os.environ.get("ZENOH_SESSION_CONFIG_URI")
    if uri:
        config = zenoh.Config.from_file(uri)
    else:
        config = zenoh.Config()
        for key, value in (defaults or DEFAULT_SESSION_CONFIG).items():
            config.insert_json5(key, json.dumps(value))
    for key, value in parse_config_override(os.environ.get("ZENOH_CONFIG_OVERRIDE", "")):
        try:
            config.insert_json5(key, value)
        except Exception as exc:
            raise ValueError(f"ZENOH_CONFIG_OVERRIDE: cannot set {key!r} to {value!r}: {exc}") from exc
    for key, value in (overrides or {}).items():
        config.insert_json5(key, value if isinstance(value, str) and key != "id" else json.dumps(value))
    return config


def domain_id_from_env() -> int:
    text = os.environ.get("ROS_DOMAIN_ID", "").strip()
    if not text:
        return 0
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"ROS_DOMAIN_ID={text!r} is not an integer (0-232)") from None
    if not 0 <= value <= 232:
        raise ValueError(f"ROS_DOMAIN_ID={value} is outside 0-232")
    return value


RX_FIFO_CAPACITY = 256  # samples a subscription buffers on Zenoh's side while its Python thread is busy


def _direct(callback: Callable[[Any], None], drop: Callable[[], None] | None = None) -> Any:
    """A Zenoh callback run on Zenoh's own thread (no extra Python thread per entity, none left to block exit)."""
    return zenoh.handlers.Callback(callback, drop, indirect=False)


def _router_check_attempts() -> int | None:
    text = os.environ.get("ZENOH_ROUTER_CHECK_ATTEMPTS", "").strip()
    return int(text) if text else None


class ZenohContext:
    """One Zenoh session with its entity-id counter, liveliness graph and local endpoint registry."""

    def __init__(
        self, *, config: zenoh.Config | None = None, overrides: dict[str, Any] | None = None,
        domain_id: int | None = None, router_check_attempts: int | None = None, distro: str | None = None,
        legacy_attachment: bool | None = None,
    ) -> None:
        self.domain_id = domain_id_from_env() if domain_id is None else int(domain_id)
        self.distro = distro
        if legacy_attachment is None:
            legacy_attachment = os.environ.get("LEROBOT_ROS_ZENOH_ATTACHMENT", "").strip().lower() == "legacy"
        # rmw_zenoh Jazzy <= 0.2.3 / Humble <= 0.1.1 expect the 77-byte keyed layout; both layouts are decoded
        self.encode_attachment = wire.encode_legacy_attachment if legacy_attachment else wire.encode_attachment
        self.session = zenoh.open(config if config is not None else session_config(overrides))
        self.zid = str(self.session.zid())
        self._ids = itertools.count()
        self._lock = threading.Lock()
        self._local: dict[str, wire.Entity] = {}
        self._warned: set[tuple[str, str, str, str]] = set()
        self.hash_mismatches: list[str] = []
        self.graph = LivelinessGraph()
        self.graph.listeners.append(self._on_graph_change)
        self._closed = False
        self._check_router(_router_check_attempts() if router_check_attempts is None else router_check_attempts)
        self._lv_sub = self.session.liveliness().declare_subscriber(
            f"{wire.ADMIN_SPACE}/{self.domain_id}/**", _direct(self._on_token), history=True)

    def _check_router(self, attempts: int | None) -> None:
        if attempts is not None and attempts < 0:
            return
        tries = 0
        while True:
            if list(self.session.info.routers_zid()):
                return
            tries += 1
            if (attempts not in (None, 0) and tries >= attempts) or attempts is None:
                _log.warning("no Zenoh router reachable (start one with `lerobot-ros router`); "
                             "continuing: peers will not discover each other without one")
                return
            time.sleep(1.0)

    def next_entity_id(self) -> int:
        with self._lock:
            return next(self._ids)

    def type_hash(self, typename: str) -> str:
        return msgs.type_hash(typename, self.distro)

    # -- graph ---------------------------------------------------------------------------------------------
    def _on_token(self, sample: zenoh.Sample) -> None:
        try:
            token = str(sample.key_expr)
            if sample.kind == zenoh.SampleKind.PUT:
                self.graph.put(token)
            else:
                self.graph.delete(token)
        except Exception:  # never let the graph break the session's callback thread
            _log.exception("liveliness graph update failed")

    def register_local(self, entity: wire.Entity) -> None:
        with self._lock:
            self._local[entity.token] = entity
        for other in self.graph.entities():
            self._check_hash(entity, other)

    def unregister_local(self, token: str) -> None:
        with self._lock:
            self._local.pop(token, None)

    def _on_graph_change(self, entity: wire.Entity, added: bool) -> None:
        if not added or entity.kind == wire.NODE:
            return
        with self._lock:
            local = list(self._local.values())
        for mine in local:
            self._check_hash(mine, entity)

    def _check_hash(self, mine: wire.Entity, other: wire.Entity) -> None:
        if other.token == mine.token or other.kind == wire.NODE or other.token in self._local:
            return
        if other.topic != mine.topic or other.dds_type != mine.dds_type or other.type_hash == mine.type_hash:
            return
        key = (mine.topic or "", mine.dds_type or "", mine.type_hash or "", other.type_hash or "")
        with self._lock:
            if key in self._warned:
                return
            self._warned.add(key)
        text = (f"TYPE HASH MISMATCH on {mine.topic} ({mine.typename}): this process uses {mine.type_hash}, "
                f"node {other.node_fqn} ({other.kind}) uses {other.type_hash}. No data will flow between them: "
                "the message definitions or ROS distros differ (set LEROBOT_ROS_DISTRO to match).")
        self.hash_mismatches.append(text)
        _log.warning(text)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(Exception):
            self._lv_sub.undeclare()
        self.session.close()


_default_context: ZenohContext | None = None
_default_lock = threading.Lock()


def get_default_context() -> ZenohContext:
    global _default_context
    with _default_lock:
        if _default_context is None or _default_context._closed:
            _default_context = ZenohContext()
            atexit.register(_default_context.close)
        return _default_context


class _Endpoint:
    def __init__(self, node: ZenohNode, kind: str, typename: str, name: str, qos: QoSProfile) -> None:
        ctx = node.context
        self.context, self.node = ctx, node
        self.typename, self.qos = typename, qos
        self.topic = self.name = name
        self.type_hash = ctx.type_hash(typename)
        self.key = wire.data_key(ctx.domain_id, name, typename, self.type_hash)
        self.entity_id = ctx.next_entity_id()
        self.token = wire.liveliness_token(ctx.domain_id, ctx.zid, node.id, self.entity_id, kind, node.namespace,
                                           node.name, enclave=node.enclave, topic=name, typename=typename,
                                           type_hash=self.type_hash, qos=qos)
        self.gid = wire.entity_gid(self.token)
        self._lv_token: Any = None
        self._destroyed = False

    def _declare_token(self) -> None:
        self._lv_token = self.context.session.liveliness().declare_token(self.token)
        self.context.register_local(wire.parse_liveliness_token(self.token))

    def _undeclare(self, *objs: Any) -> None:
        if self._destroyed:
            return
        self._destroyed = True
        self.context.unregister_local(self.token)
        for obj in (self._lv_token, *objs):
            if obj is not None:
                with contextlib.suppress(Exception):
                    obj.undeclare()


class ZenohPublisher(_Endpoint):
    def __init__(self, node: ZenohNode, typename: str, topic: str, qos: QoSProfile) -> None:
        super().__init__(node, wire.PUBLISHER, typename, topic, qos)
        q = qos.resolved()
        kwargs: dict[str, Any] = {
            "reliability": zenoh.Reliability.RELIABLE if qos.reliable else zenoh.Reliability.BEST_EFFORT,
            "congestion_control": zenoh.CongestionControl.BLOCK if qos.reliable and qos.keep_all
            else zenoh.CongestionControl.DROP,
        }
        if qos.transient_local:
            kwargs["cache"] = zext.CacheConfig(max_samples=q.depth)
            kwargs["publisher_detection"] = True
            if qos.reliable:
                kwargs["sample_miss_detection"] = zext.MissDetectionConfig(heartbeat=None, sporadic_heartbeat=0.5)
        self._pub = zext.declare_advanced_publisher(self.context.session, self.key, **kwargs)
        self._seq = itertools.count(1)
        self._seq_lock = threading.Lock()
        self._declare_token()

    def publish(self, cdr: bytes) -> None:
        if self._destroyed:
            raise RuntimeError(f"publisher on {self.topic} was destroyed")
        with self._seq_lock:  # the lock keeps sequence numbers in wire order
            attachment = self.context.encode_attachment(next(self._seq), time.time_ns(), self.gid)
            self._pub.put(cdr, attachment=attachment)

    def destroy(self) -> None:
        self._undeclare(self._pub)


class ZenohSubscription(_Endpoint):
    def __init__(self, node: ZenohNode, typename: str, topic: str, qos: QoSProfile,
                 on_sample: Callable[[bytes, MessageInfo], None], on_malformed: Callable[[str], None]) -> None:
        super().__init__(node, wire.SUBSCRIPTION, typename, topic, qos)
        self._on_sample, self._on_malformed = on_sample, on_malformed
        q = qos.resolved()
        kwargs: dict[str, Any] = {}
        if qos.transient_local:
            kwargs["history"] = zext.HistoryConfig(detect_late_publishers=True, max_samples=q.depth)
            kwargs["subscriber_detection"] = True
            if qos.reliable:
                kwargs["recovery"] = zext.RecoveryConfig(periodic_queries=None, heartbeat=True)
        # Zenoh's receive thread only pushes into a Rust-side FIFO (no GIL); our daemon thread takes the samples from
        # it. A Python thread holding the GIL (a C extension: video encoding, a big numpy op) thus never stalls
        # Zenoh's reception, which with DROP congestion control would lose samples at the publisher: rclpy over
        # rmw_zenoh has the same property (its queue is in C++). Past RX_FIFO_CAPACITY waiting samples Zenoh blocks.
        self._sub = zext.declare_advanced_subscriber(self.context.session, self.key,
                                                     zenoh.handlers.FifoChannel(max(RX_FIFO_CAPACITY, q.depth)),
                                                     **kwargs)  # fmt: skip
        self._rx = threading.Thread(target=self._receive, name=f"rx:{self.topic}", daemon=True)
        self._rx.start()
        self._declare_token()

    def _receive(self) -> None:
        try:
            for sample in self._sub:  # ends when the subscriber is undeclared
                self._callback(sample)
        except Exception as exc:  # the channel closing at shutdown
            if not self._destroyed:
                _log.debug("receive loop of %s ended: %r", self.topic, exc)

    def _callback(self, sample: zenoh.Sample) -> None:
        try:
            received = time.time_ns()
            try:
                att = wire.decode_attachment(sample.attachment.to_bytes() if sample.attachment is not None else None)
            except ValueError as exc:
                self._on_malformed(f"sample on {self.topic} dropped: {exc}")
                return
            payload = sample.payload.to_bytes()
            if len(payload) < 4:
                self._on_malformed(f"sample on {self.topic} dropped: {len(payload)}-byte payload is not CDR")
                return
            self._on_sample(payload, MessageInfo(att.source_timestamp, att.sequence_number, att.gid, received))
        except Exception as exc:  # never raise into Zenoh's callback thread
            self._on_malformed(f"sample on {self.topic} dropped: {exc!r}")

    def destroy(self) -> None:
        self._undeclare(self._sub)


class ZenohServiceServer(_Endpoint):
    def __init__(self, node: ZenohNode, srv_typename: str, name: str, qos: QoSProfile,
                 handler: Callable[[bytes, Callable[[bytes], None]], None],
                 on_malformed: Callable[[str], None]) -> None:
        super().__init__(node, wire.SERVICE_SERVER, srv_typename, name, qos)
        self._handler, self._on_malformed = handler, on_malformed
        self._pending: set[tuple[bytes, int]] = set()
        self._pending_lock = threading.Lock()
        self._queryable = self.context.session.declare_queryable(self.key, _direct(self._callback), complete=True)
        self._declare_token()

    def _callback(self, query: zenoh.Query) -> None:
        try:
            att = wire.decode_attachment(query.attachment.to_bytes() if query.attachment is not None else None)
            payload = query.payload.to_bytes() if query.payload is not None else b""
            if len(payload) < 4:
                raise ValueError(f"{len(payload)}-byte request payload is not CDR")
        except Exception as exc:
            self._on_malformed(f"request on {self.name} rejected: {exc}")
            query.reply_err(f"malformed request: {exc}".encode())
            query.drop()
            return
        key = (att.gid, att.sequence_number)
        with self._pending_lock:
            if key in self._pending:
                self._on_malformed(f"request on {self.name} dropped: duplicate sequence number {key[1]}")
                query.reply_err(b"duplicate sequence number")
                query.drop()
                return
            self._pending.add(key)
        done = threading.Event()

        def respond(response_cdr: bytes | None, error: str | None = None) -> None:
            if done.is_set():
                return
            done.set()
            with self._pending_lock:
                self._pending.discard(key)
            try:
                if error is not None or response_cdr is None:
                    query.reply_err((error or "service handler failed").encode())
                else:
                    query.reply(self.key, response_cdr,
                                attachment=self.context.encode_attachment(att.sequence_number, time.time_ns(), att.gid))
            finally:
                query.drop()

        self._handler(payload, respond)

    def destroy(self) -> None:
        self._undeclare(self._queryable)


class ZenohServiceClient(_Endpoint):
    def __init__(self, node: ZenohNode, srv_typename: str, name: str, qos: QoSProfile) -> None:
        super().__init__(node, wire.SERVICE_CLIENT, srv_typename, name, qos)
        self._seq = itertools.count(1)
        self._seq_lock = threading.Lock()
        self._declare_token()

    def service_is_ready(self) -> bool:
        return self.context.graph.service_is_available(self.name, self.typename)

    def wait_for_service(self, timeout_s: float | None = None) -> bool:
        return self.context.graph.wait_until(lambda g: g.service_is_available(self.name, self.typename),
                                             1e9 if timeout_s is None else timeout_s)

    def call(self, request_cdr: bytes, timeout_s: float | None = None) -> bytes:
        if self._destroyed:
            raise RuntimeError(f"client for {self.name} was destroyed")
        with self._seq_lock:
            seq = next(self._seq)
        result: dict[str, Any] = {}
        finished = threading.Event()

        def on_reply(reply: zenoh.Reply) -> None:
            if "value" in result:
                return
            try:
                if reply.ok is not None:
                    sample = reply.ok
                    att = wire.decode_attachment(sample.attachment.to_bytes() if sample.attachment else None)
                    if att.sequence_number != seq or att.gid != self.gid:
                        result.setdefault("error", f"reply for another request (seq {att.sequence_number})")
                        return
                    result["value"] = sample.payload.to_bytes()
                    finished.set()
                else:
                    text = reply.err.payload.to_bytes().decode("utf-8", "replace")
                    if text == "Timeout":  # Zenoh's own reply when the query's timeout expires
                        result["timeout"] = True
                    else:
                        result.setdefault("error", "server error: " + text)
            except Exception as exc:
                result.setdefault("error", f"malformed reply: {exc}")

        def on_done() -> None:
            result["done"] = True
            finished.set()

        limit = 1e9 if timeout_s is None else max(0.001, float(timeout_s))
        self.context.session.get(
            self.key, _direct(on_reply, on_done), target=zenoh.QueryTarget.ALL_COMPLETE,
            consolidation=zenoh.ConsolidationMode.NONE, timeout=limit, payload=request_cdr,
            attachment=self.context.encode_attachment(seq, time.time_ns(), self.gid),
        )
        finished.wait(None if timeout_s is None else limit + 1.0)
        if "value" in result:
            return result["value"]
        if "error" in result:
            raise ServiceError(f"service {self.name}: {result['error']}")
        if not result.get("done") or result.get("timeout"):
            raise ServiceTimeout(f"service {self.name}: no reply within {timeout_s} s")
        if not self.service_is_ready():
            raise ServiceUnavailable(f"service {self.name} ({self.typename}) is not available")
        raise ServiceTimeout(f"service {self.name}: no reply within {timeout_s} s")

    def destroy(self) -> None:
        self._undeclare()


class ZenohNode:
    def __init__(self, context: ZenohContext, name: str, namespace: str, enclave: str = "/") -> None:
        self.context, self.name, self.namespace, self.enclave = context, name, namespace or "/", enclave
        self.id = context.next_entity_id()
        self.token = wire.liveliness_token(context.domain_id, context.zid, self.id, self.id, wire.NODE,
                                           self.namespace, name, enclave=enclave)
        self._lv_token = context.session.liveliness().declare_token(self.token)
        self._endpoints: list[_Endpoint] = []

    def _add(self, endpoint: _Endpoint) -> Any:
        self._endpoints.append(endpoint)
        return endpoint

    def create_publisher(self, typename: str, topic: str, qos: QoSProfile) -> ZenohPublisher:
        return self._add(ZenohPublisher(self, typename, topic, qos))

    def create_subscription(self, typename, topic, qos, on_sample, on_malformed) -> ZenohSubscription:
        return self._add(ZenohSubscription(self, typename, topic, qos, on_sample, on_malformed))

    def create_service(self, srv_typename, name, qos, handler, on_malformed=None) -> ZenohServiceServer:
        return self._add(ZenohServiceServer(self, srv_typename, name, qos, handler,
                                            on_malformed or (lambda text: _log.warning(text))))

    def create_client(self, srv_typename: str, name: str, qos: QoSProfile) -> ZenohServiceClient:
        return self._add(ZenohServiceClient(self, srv_typename, name, qos))

    def destroy(self) -> None:
        for endpoint in reversed(self._endpoints):
            endpoint.destroy()
        self._endpoints.clear()
        with contextlib.suppress(Exception):
            self._lv_token.undeclare()


class ZenohBackend:
    """The Backend of :mod:`transport` over a :class:`ZenohContext` (the process default unless given)."""

    name = "zenoh"

    def __init__(self, context: ZenohContext | None = None) -> None:
        self._context = context

    @property
    def context(self) -> ZenohContext:
        if self._context is None:
            self._context = get_default_context()
        return self._context

    @property
    def graph(self) -> LivelinessGraph:
        return self.context.graph

    def create_node(self, name: str, namespace: str, *, enclave: str = "/") -> ZenohNode:
        return ZenohNode(self.context, name, namespace, enclave)

    def shutdown(self) -> None:
        if self._context is not None:
            self._context.close()
