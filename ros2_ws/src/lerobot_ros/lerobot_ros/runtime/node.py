"""The backend-agnostic node API every lerobot_ros node is written against.

```python
node = Node("talker", argv=sys.argv[1:])            # parses --ros-args (remaps, -p, --params-file, __ns ...)
pub = node.create_publisher("std_msgs/msg/String", "chatter", QOS_DEFAULT)
node.create_timer(0.1, lambda: pub.publish(make("std_msgs/msg/String", data="hi")))
spin(node)                                          # returns on SIGINT/SIGTERM
node.destroy()
```

Messages are rosbags dataclasses (``msgs.make``/``msgs.msg_class``); ``publish`` also takes CDR bytes as-is.
Callbacks of one node run one at a time on its executor thread (service handlers on a second thread, so a
callback may call a service of the same node). Malformed samples are counted in ``subscription.malformed``
and logged (rate-limited); they never reach the callback. The backend is ``backend=`` or
``LEROBOT_ROS_BACKEND`` (``auto``: rclpy when importable, else the native Zenoh backend).
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from typing import Any

from . import clock, msgs, names, params, ros_args
from .qos import QOS_DEFAULT, QOS_ROSOUT, QOS_SERVICES, QoSProfile, as_qos
from .spin import Executor, InlineGate, note_blocking_call
from .spin import spin as _spin
from .transport import Backend, MessageInfo, get_backend

__all__ = ["Client", "Node", "NodeLogger", "Publisher", "Service", "Subscription"]

_LEVELS = {"debug": 10, "info": 20, "warn": 30, "warning": 30, "error": 40, "fatal": 50}
_LEVEL_NAMES = {10: "DEBUG", 20: "INFO", 30: "WARN", 40: "ERROR", 50: "FATAL"}


def _ensure_console_logging() -> None:
    """Print the runtime's own warnings (malformed samples, hash mismatches) when the app configured nothing."""
    root = logging.getLogger("lerobot_ros")
    if not root.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("[%(levelname)s] [%(created).9f] [%(name)s]: %(message)s"))
        root.addHandler(handler)
        root.setLevel(logging.INFO)


class NodeLogger:
    """rcutils-style logger: ``[LEVEL] [stamp] [name]: message`` on stderr, and on ``/rosout`` when enabled.
    ``console=False`` leaves the printing to ``rosout`` (the rclpy backend hands records to rclpy's logger)."""

    def __init__(self, name: str, level: str = "info", rosout: Callable[[int, str, str, int], None] | None = None,
                 *, console: bool = True):
        self.name = name
        self.console = console
        self.level = _LEVELS[level.lower()] if level and level.lower() in _LEVELS else 20
        self._rosout = rosout
        self._once: set[str] = set()

    def set_level(self, level: str) -> None:
        self.level = _LEVELS[level.lower()]

    def log(self, level: int, message: Any, *, once: bool = False) -> None:
        if level < self.level:
            return
        text = str(message)
        if once:
            if text in self._once:
                return
            self._once.add(text)
        if self.console:
            print(f"[{_LEVEL_NAMES.get(level, level)}] [{time.time():.9f}] [{self.name}]: {text}", file=sys.stderr,
                  flush=True)
        if self._rosout is not None:
            frame = sys._getframe(2)
            with contextlib.suppress(Exception):  # logging must never fail the caller
                self._rosout(level, text, frame.f_code.co_name, frame.f_lineno)

    def debug(self, message: Any, **kw: Any) -> None:
        self.log(10, message, **kw)

    def info(self, message: Any, **kw: Any) -> None:
        self.log(20, message, **kw)

    def warning(self, message: Any, **kw: Any) -> None:
        self.log(30, message, **kw)

    warn = warning

    def error(self, message: Any, **kw: Any) -> None:
        self.log(40, message, **kw)

    def fatal(self, message: Any, **kw: Any) -> None:
        self.log(50, message, **kw)


def _inline_dispatch_enabled() -> bool:
    """``LEROBOT_ROS_INLINE_DISPATCH=0`` queues every sample to the executor (no inline dispatch)."""
    return os.environ.get("LEROBOT_ROS_INLINE_DISPATCH", "1").strip().lower() not in ("0", "false", "off", "no")


class Publisher:
    def __init__(self, node: Node, typename: str, topic: str, qos: QoSProfile) -> None:
        self.node, self.typename, self.topic, self.qos = node, typename, topic, qos
        self._codec = msgs.codec(typename)
        self.handle = node._handle.create_publisher(typename, topic, qos)

    def publish(self, msg: Any) -> None:
        """Publish a message object of this publisher's type, or CDR bytes as they are (no re-serialization)."""
        if type(msg) is not self._codec.cls:  # the common case costs one check: this runs for every message
            if isinstance(msg, (bytes, bytearray, memoryview)):
                self.handle.publish(bytes(msg) if isinstance(msg, memoryview) else msg)
                return
            msgtype = getattr(msg, "__msgtype__", None)
            if msgtype != self.typename:
                raise TypeError(f"publisher on {self.topic} takes {self.typename}, got {msgtype or type(msg).__name__}")
        self.handle.publish(self._codec.serialize(msg))

    def get_subscription_count(self) -> int:
        return self.node._backend.graph.count_subscribers(self.topic)

    def destroy(self) -> None:
        self.handle.destroy()


class Subscription:
    """Hands samples to the callback, one at a time with the node's other callbacks (see ``spin``): inline on
    the transport thread when the callback has proven fast, the node's lock is free and none of this
    subscription's samples wait; else queued (KEEP_LAST: the newest ``depth``) to the node's executor."""

    def __init__(self, node: Node, typename: str, topic: str, callback: Callable[..., Any], qos: QoSProfile,
                 raw: bool) -> None:
        self.node, self.typename, self.topic, self.qos, self.raw = node, typename, topic, qos, raw
        self.callback = callback
        self.received = 0
        self.malformed = 0
        self.queue_dropped = 0  # KEEP_LAST: samples replaced by newer ones before the callback took them
        self.lost = 0  # sequence-number gaps per publisher (rmw's MESSAGE_LOST): dropped in transport
        self.last_info: MessageInfo | None = None
        self.dispatch = InlineGate(_inline_dispatch_enabled())  # ``dispatch.enabled = False``: always queued
        self._codec = msgs.codec(typename)
        self._last_seq: dict[bytes, int] = {}
        depth = qos.resolved().depth
        self._queue: collections.deque[tuple[bytes, MessageInfo]] = collections.deque(
            maxlen=None if qos.keep_all else depth)
        self._lock = threading.Lock()
        self._last_log = 0.0
        self.handle = node._handle.create_subscription(typename, topic, qos, self._on_sample, self._on_malformed)

    def _on_sample(self, payload: bytes, info: MessageInfo) -> None:
        """Backend thread (the backend never overlaps two calls for one subscription): track sequence gaps,
        then run the callback inline or queue the sample."""
        gid, seq = info.publisher_gid, info.sequence_number
        last = self._last_seq.get(gid)
        if last is not None and seq > last + 1:
            self.lost += seq - last - 1
        self._last_seq[gid] = seq
        executor = self.node._executor
        # Inline only with nothing queued: samples are queued only here and taken on the executor under its lock,
        # so an empty queue plus the free lock means every earlier sample has run. No self._lock on this path:
        # every lock costs ~13 us on a cold cache.
        if self.dispatch.inline_ok and not self._queue and not executor.closed and executor.lock.acquire(False):
            self._run(payload, info, True)
            return
        with self._lock:
            if self._queue.maxlen is not None and len(self._queue) == self._queue.maxlen:
                self.queue_dropped += 1
            self._queue.append((payload, info))
        executor.submit(self._take)

    def _on_malformed(self, reason: str) -> None:
        with self._lock:
            self.malformed += 1
            count = self.malformed
            now = time.monotonic()
            log = now - self._last_log > 1.0  # rate-limited: a flood of garbage must not flood the console
            if log:
                self._last_log = now
        if log:
            self.node.get_logger().warning(f"{reason} (malformed samples on {self.topic}: {count})")

    def _take(self) -> None:
        """Executor thread, under the node's lock."""
        with self._lock:
            if not self._queue:
                return
            payload, info = self._queue.popleft()
        self._run(payload, info, False)

    def _run(self, payload: bytes, info: MessageInfo, inline: bool) -> None:
        """Deserialize the sample and run the callback, timed for the inline gate, under the node's callback
        lock (``inline``: taken by :meth:`_on_sample` on the transport thread; released here). One flat function
        on purpose: every call on a message's path costs several microseconds on a cold cache."""
        executor, gate = self.node._executor, self.dispatch
        executor.running = (gate, inline)
        if inline:
            executor.owner = threading.get_ident()
        start = time.perf_counter()
        try:
            if self.raw:
                msg: Any = payload
            else:
                try:
                    msg = self._codec.deserialize(payload)
                except ValueError as exc:
                    self._on_malformed(f"sample on {self.topic} dropped: {exc}")
                    return
            self.received += 1
            self.last_info = info
            self.callback(msg)
        except Exception as exc:
            executor.report(self.callback, exc)
        finally:
            gate.record(time.perf_counter() - start, inline)
            executor.running = None
            if inline:
                executor.owner = None
                executor.lock.release()

    def destroy(self) -> None:
        self.handle.destroy()


class Service:
    """Queues requests (at most the QoS depth; past it the oldest is answered with an error, as rmw_zenoh drops
    it) and runs ``handler(request) -> response`` on the node's service thread."""

    def __init__(self, node: Node, srv_typename: str, name: str, handler: Callable[[Any], Any],
                 qos: QoSProfile) -> None:
        self.node, self.srv_typename, self.name, self.handler = node, srv_typename, name, handler
        self.dropped = 0
        self._queue: collections.deque[tuple[bytes, Callable[..., None]]] = collections.deque()
        self._depth = None if qos.keep_all else qos.resolved().depth
        self._lock = threading.Lock()
        self.handle = node._handle.create_service(srv_typename, name, qos, self._on_request)

    def _on_request(self, request_cdr: bytes, respond: Callable[..., None]) -> None:
        evicted = None
        with self._lock:
            if self._depth is not None and len(self._queue) >= self._depth:
                evicted = self._queue.popleft()
                self.dropped += 1
            self._queue.append((request_cdr, respond))
        if evicted is not None:
            evicted[1](None, f"service {self.name}: request queue full (depth {self._depth}), request dropped")
            self.node.get_logger().warning(f"service {self.name}: request queue full, oldest request dropped")
        self.node._service_executor.submit(self._take)

    def _take(self) -> None:
        with self._lock:
            if not self._queue:
                return
            request_cdr, respond = self._queue.popleft()
        try:
            request = msgs.deserialize(request_cdr, f"{self.srv_typename}_Request")
            response = self.handler(request)
            respond(msgs.serialize(response, f"{self.srv_typename}_Response"))
        except Exception as exc:
            self.node.get_logger().error(f"service {self.name} handler failed: {exc!r}\n{traceback.format_exc()}")
            respond(None, f"{type(exc).__name__}: {exc}")

    def destroy(self) -> None:
        self.handle.destroy()


class Client:
    def __init__(self, node: Node, srv_typename: str, name: str, qos: QoSProfile) -> None:
        self.node, self.srv_typename, self.name = node, srv_typename, name
        self.handle = node._handle.create_client(srv_typename, name, qos)

    def service_is_ready(self) -> bool:
        return self.handle.service_is_ready()

    def wait_for_service(self, timeout_s: float | None = None) -> bool:
        note_blocking_call(f"wait_for_service({self.name})")
        return self.node._backend.graph.wait_until(
            lambda g: self.handle.service_is_ready(), 1e9 if timeout_s is None else timeout_s)

    def call(self, request: Any = None, timeout_s: float | None = 5.0) -> Any:
        """Send ``request`` (default: an empty request) and return the response; raises ServiceTimeout,
        ServiceUnavailable or ServiceError (from ``transport``)."""
        note_blocking_call(f"service call {self.name}")
        if request is None:
            request = msgs.make(f"{self.srv_typename}_Request")
        cdr = request if isinstance(request, bytes) else msgs.serialize(request, f"{self.srv_typename}_Request")
        reply = self.handle.call(cdr, timeout_s)
        return msgs.deserialize(reply, f"{self.srv_typename}_Response")

    def call_async(self, request: Any = None, timeout_s: float | None = 5.0) -> Future:
        future: Future = Future()

        def run() -> None:
            try:
                future.set_result(self.call(request, timeout_s))
            except BaseException as exc:
                future.set_exception(exc)

        threading.Thread(target=run, name=f"call:{self.name}", daemon=True).start()
        return future

    def destroy(self) -> None:
        self.handle.destroy()


class Node:
    """A ROS node on the chosen backend (see the module docstring)."""

    def __init__(
        self, node_name: str, namespace: str = "", *, argv: list[str] | None = None,
        backend: str | Backend | None = None, context: Any = None,
        parameter_overrides: dict[str, Any] | None = None, enable_rosout: bool = True,
        start_parameter_services: bool = True,
    ) -> None:
        _ensure_console_logging()
        args = ros_args.parse_ros_args(list(argv or [])).for_node(node_name)
        self.remaining_args = list(args.remaining)
        name = names.validate_node_name(args.node_name or node_name)
        self.name = name
        self.namespace = names.normalize_namespace(args.namespace or namespace)
        self.fully_qualified_name = names.fully_qualified_node_name(self.namespace, name)
        self._remaps = list(args.remaps)
        if context is not None:
            from .zenoh_backend import ZenohBackend

            backend = ZenohBackend(context)
        self._backend = get_backend(backend)
        self.destroyed = False
        self._executor = Executor(self.fully_qualified_name, self._callback_error)
        self._service_executor_obj: Executor | None = None
        self._entities: list[Any] = []
        self._timers: list[clock.NodeTimer] = []
        self._params = params.ParameterStore(self.fully_qualified_name, list(args.params_files),
                                             {**args.params, **(parameter_overrides or {})})
        self._time_cls = msgs.msg_class("builtin_interfaces/msg/Time")
        self._handle = self._backend.create_node(name, self.namespace, enclave=args.enclave or "/")
        # rclpy's node has its own ROS clock, /parameter_events, parameter and type-description services; the
        # handle mirrors the parameter store into it (``bind_parameters``) instead of the runtime duplicating them
        builtins = getattr(self._handle, "bind_parameters", None)
        self._time_source = clock.TimeSource(self, now_ns=getattr(self._handle, "now_ns", None),
                                             timer_factory=getattr(self._handle, "create_timer", None))
        level = args.logger_levels.get(self._logger_name()) or args.log_level or "info"
        self._rosout_pub: Publisher | None = None
        rosout = enable_rosout and args.log_flags.get("rosout", True) and self._backend.name == "zenoh"
        if rosout:
            self._rosout_pub = Publisher(self, "rcl_interfaces/msg/Log", "/rosout", QOS_ROSOUT)
        backend_log = getattr(self._handle, "log", None)  # rclpy: its logger prints and feeds /rosout
        self._logger = NodeLogger(self._logger_name(), level, backend_log or (self._publish_rosout if rosout else None),
                                  console=backend_log is None)
        self._declare_builtin_parameters(builtins, start_parameter_services)

    def _declare_builtin_parameters(self, builtins: Callable[..., Any] | None, services: bool) -> None:
        """``use_sim_time`` and, unless ``services`` is false (throw-away tool nodes), ``/parameter_events`` and
        the parameter and type-description services, as rclpy's Node has them."""
        from . import type_description

        if builtins is not None:
            builtins(self._params, self._logger)
        elif services:
            from .parameter_events import ParameterEventPublisher

            self._params.add_listener(ParameterEventPublisher(self))
        self._params.add_listener(self._time_source.on_parameters)
        self._params.declare(clock.USE_SIM_TIME, False)
        if builtins is not None or not services:
            return
        if type_description.is_available() and self._params.declare(
                type_description.START_PARAMETER, True,
                description="If enabled, start the ~/get_type_description service.", read_only=True):
            type_description.add_type_description_service(self)
        from .param_services import add_parameter_services

        add_parameter_services(self)

    # -- internals -------------------------------------------------------------------------------------------
    def _logger_name(self) -> str:
        return self.fully_qualified_name.strip("/").replace("/", ".")

    def _publish_rosout(self, level: int, text: str, function: str, line: int) -> None:
        if self._rosout_pub is None or self.destroyed:
            return
        t = time.time_ns()  # rcutils stamps log records with the system clock, also under sim time
        stamp = self._time_cls(sec=t // 1_000_000_000, nanosec=t % 1_000_000_000)
        log = msgs.make("rcl_interfaces/msg/Log", stamp=stamp, level=level, name=self._logger_name(),
                        msg=text, file="", function=function, line=line)
        self._rosout_pub.publish(log)

    def _callback_error(self, what: str, exc: BaseException) -> None:
        self.get_logger().error(f"{what}: {exc!r}\n{''.join(traceback.format_exception(exc))}")

    @property
    def _service_executor(self) -> Executor:
        if self._service_executor_obj is None:
            self._service_executor_obj = Executor(f"{self.fully_qualified_name}/services", self._callback_error)
        return self._service_executor_obj

    def resolve_name(self, name: str) -> str:
        """The fully qualified, remapped name of a topic or service (rcl rules)."""
        return names.resolve_topic_name(name, self.name, self.namespace, self._remaps)

    def _check_alive(self) -> None:
        if self.destroyed:
            raise RuntimeError(f"node {self.fully_qualified_name} was destroyed")

    def _add(self, entity: Any) -> Any:
        self._entities.append(entity)
        return entity

    # -- entities --------------------------------------------------------------------------------------------
    def create_publisher(self, typename: str, topic: str, qos: QoSProfile | int | None = QOS_DEFAULT, *,
                         qos_overriding: bool | Iterable[str] = False) -> Publisher:
        """``qos_overriding``: declare ROS's ``qos_overrides.<topic>.publisher.<policy>`` parameters (True: history,
        depth, reliability, as rclpy's ``QoSOverridingOptions.with_default_policies()``; or the policies to offer)."""
        self._check_alive()
        typename = msgs.normalize_typename(typename)
        msgs.warm_up(typename)
        topic = self.resolve_name(topic)
        return self._add(Publisher(self, typename, topic, self._overridden(topic, "publisher", qos, qos_overriding)))

    def create_subscription(self, typename: str, topic: str, callback: Callable[[Any], Any],
                            qos: QoSProfile | int | None = QOS_DEFAULT, raw: bool = False, *,
                            qos_overriding: bool | Iterable[str] = False) -> Subscription:
        """``callback(msg)`` (``raw=True``: ``callback(cdr_bytes)``), one at a time with the node's other callbacks;
        ``qos_overriding`` as for :meth:`create_publisher` (``qos_overrides.<topic>.subscription.<policy>``)."""
        self._check_alive()
        typename = msgs.normalize_typename(typename)
        msgs.warm_up(typename)
        topic = self.resolve_name(topic)
        qos = self._overridden(topic, "subscription", qos, qos_overriding)
        return self._add(Subscription(self, typename, topic, callback, qos, raw))

    def _overridden(self, topic: str, entity: str, qos: QoSProfile | int | None,
                    overriding: bool | Iterable[str]) -> QoSProfile:
        profile = as_qos(qos)
        if not overriding:
            return profile
        from .qos_overrides import DEFAULT_POLICIES, apply_qos_overrides

        policies = DEFAULT_POLICIES if overriding is True else tuple(overriding)
        return apply_qos_overrides(self._params, topic, entity, profile, policies)

    def create_timer(self, period_s: float, callback: Callable[[], Any]) -> clock.NodeTimer:
        """A timer on the node clock: wall time, or ``/clock`` under ``use_sim_time`` (see ``clock``)."""
        self._check_alive()
        timer = self._time_source.create_timer(period_s, callback, self._executor)
        self._timers.append(timer)
        return timer

    def create_service(self, srv_typename: str, name: str, handler: Callable[[Any], Any],
                       qos: QoSProfile | int | None = QOS_SERVICES) -> Service:
        """``handler(request) -> response`` (rosbags objects of ``<srv>_Request``/``<srv>_Response``)."""
        self._check_alive()
        srv = msgs.normalize_typename(srv_typename)
        if not msgs.is_service(srv):
            raise KeyError(f"unknown service type {srv_typename!r}: register it with msgs.register_srv_text()")
        return self._add(Service(self, srv, self.resolve_name(name), handler, as_qos(qos)))

    def create_client(self, srv_typename: str, name: str, qos: QoSProfile | int | None = QOS_SERVICES) -> Client:
        self._check_alive()
        srv = msgs.normalize_typename(srv_typename)
        if not msgs.is_service(srv):
            raise KeyError(f"unknown service type {srv_typename!r}: register it with msgs.register_srv_text()")
        return self._add(Client(self, srv, self.resolve_name(name), as_qos(qos)))

    # -- parameters ------------------------------------------------------------------------------------------
    def declare_parameter(self, name: str, default: Any = None, description: str = "", *, read_only: bool = False,
                          type_: Any = None) -> Any:
        return self._params.declare(name, default, description=description, read_only=read_only, type_=type_)

    def get_parameter(self, name: str) -> Any:
        return self._params.get(name)

    def set_parameter(self, name: str, value: Any) -> Any:
        return self._params.set(name, value)

    def has_parameter(self, name: str) -> bool:
        return self._params.has(name)

    @property
    def parameters(self) -> params.ParameterStore:
        return self._params

    # -- misc ------------------------------------------------------------------------------------------------
    def get_logger(self) -> NodeLogger:
        return self._logger

    def now(self) -> Any:
        """The node clock's time as ``builtin_interfaces/msg/Time``: the system clock, or the last ``/clock``
        (zero before the first) while ``use_sim_time`` is true."""
        return self._time_cls(*divmod(self._time_source.now_ns(), 1_000_000_000))  # sec, nanosec

    @property
    def time_source(self) -> clock.TimeSource:
        return self._time_source

    @property
    def backend(self) -> Backend:
        return self._backend

    def get_node_names(self) -> list[str]:
        return [names.fully_qualified_node_name(ns, n) for n, ns in self._backend.graph.node_names()]

    def get_topic_names_and_types(self) -> dict[str, list[str]]:
        return self._backend.graph.topic_names_and_types()

    def spin(self, timeout_s: float | None = None) -> bool:
        return _spin(self, timeout_s)

    def destroy(self) -> None:
        if self.destroyed:
            return
        self.destroyed = True
        for timer in self._timers:
            timer.cancel()
        for entity in reversed(self._entities):
            with contextlib.suppress(Exception):
                entity.destroy()
        if self._rosout_pub is not None:
            self._rosout_pub.destroy()
        self._handle.destroy()
        self._executor.close()
        if self._service_executor_obj is not None:
            self._service_executor_obj.close()

    destroy_node = destroy

    def __enter__(self) -> Node:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.destroy()

    def __repr__(self) -> str:
        return f"Node({self.fully_qualified_name!r}, backend={self._backend.name!r}, pid={os.getpid()})"
