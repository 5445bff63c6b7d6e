"""The rclpy backend: the transport contract (``transport.py``) on a real ROS 2 install.

A thin adapter; everything above it (names, remapping, parameters, logging, executors, message codec) is the
shared runtime, so both backends behave alike:

- topics move CDR bytes untouched: ``Publisher.publish(bytes)`` is rclpy's ``publish_raw`` and subscriptions are
  created with ``raw=True`` (the bytes carry the ``00 01 00 00`` encapsulation header, as rosbags writes it);
- services have no raw mode in rclpy: requests and responses go through ``rclpy.serialization``;
- names arrive fully qualified and already remapped, so rclpy nodes get no command-line arguments
  (``use_global_arguments=False``) and rcl applies no second remapping;
- what rclpy's Node has built in is used, not duplicated: the runtime's parameter store (which resolves YAML and
  ``-p``) is mirrored into rclpy's parameters (``bind_parameters``), so rclpy's parameter services,
  ``/parameter_events``, ``use_sim_time`` TimeSource and ``~/get_type_description`` (Jazzy+) serve them; a set
  from outside (``ros2 param set``) is checked by the runtime's store in an on-set callback. ``node.now()`` and
  node timers use rclpy's ROS clock; log records go to rclpy's logger (console and ``/rosout``);
- one private ``rclpy.Context`` per process, spun by a ``MultiThreadedExecutor`` on a daemon thread; every
  subscription, service and client has its own mutually exclusive callback group, so samples of one
  subscription stay in order while a blocked service handler never stalls the others; rclpy's signal handlers
  are not installed (the runtime's ``spin`` owns SIGINT/SIGTERM).

Importing this module without rclpy raises ``ImportError`` saying what to do; ``transport.get_backend`` only
imports it when the rclpy backend is chosen. A warning is logged when ``RMW_IMPLEMENTATION`` is not
``rmw_zenoh_cpp``: the native backend and the rest of the stack only meet ROS nodes over rmw_zenoh.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Callable
from typing import Any

try:
    import rclpy
    from rcl_interfaces.msg import ParameterDescriptor as _RclDescriptor
    from rcl_interfaces.msg import SetParametersResult
    from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
    from rclpy.duration import Duration
    from rclpy.executors import MultiThreadedExecutor
    from rclpy.logging import LoggingSeverity
    from rclpy.node import Node as _RclNode
    from rclpy.parameter import Parameter
    from rclpy.qos import DurabilityPolicy, HistoryPolicy, LivelinessPolicy, ReliabilityPolicy
    from rclpy.qos import QoSProfile as _RclQoS
    from rclpy.serialization import deserialize_message, serialize_message
    from rclpy.subscription import Subscription as _RclSubscription
    from rclpy.utilities import get_rmw_implementation_identifier
    from rosidl_runtime_py.utilities import get_message, get_service
except ImportError as exc:  # pragma: no cover - exercised where ROS 2 is installed
    raise ImportError(
        "the rclpy backend needs ROS 2's Python packages (rclpy, rosidl_runtime_py), which are not on PyPI: "
        "source /opt/ros/<distro>/setup.bash, or use the native backend with LEROBOT_ROS_BACKEND=zenoh "
        f"(import failed: {exc})"
    ) from exc

from .params import ParameterChange, ParameterError, ParameterStore, parameter_type_name
from .qos import UNSPECIFIED, QoSProfile
from .spin import Executor, TimerTicks
from .transport import MessageInfo, ServiceError, ServiceTimeout, ServiceUnavailable

__all__ = ["RclpyBackend"]

_log = logging.getLogger("lerobot_ros.runtime.rclpy")
EXPECTED_RMW = "rmw_zenoh_cpp"
SERVICE_WAIT_S = 1.0  # how long a call waits for a server to appear before ServiceUnavailable
# rclpy sizes its pool by the CPUs (1 in small containers); a service callback holds a thread until the runtime
# answers, so the pool has a floor: nested or concurrent calls then never starve subscriptions and replies.
EXECUTOR_THREADS = max(8, os.cpu_count() or 1)
# Iron+ rclpy passes rmw's message info to a two-argument subscription callback; Humble's calls with one argument.
_CALLBACK_WITH_INFO = hasattr(_RclSubscription, "CallbackType")


def _policy(enum: Any, value: int) -> Any:
    """rclpy's policy for an rmw enum value; BEST_AVAILABLE falls back to SYSTEM_DEFAULT on distros without it."""
    try:
        return enum(int(value))
    except ValueError:
        return enum.SYSTEM_DEFAULT


def to_rclpy_qos(qos: QoSProfile) -> _RclQoS:
    """The same profile as rclpy's QoSProfile (unspecified durations are left at rclpy's default)."""
    profile = _RclQoS(
        history=_policy(HistoryPolicy, qos.history),
        depth=qos.depth,
        reliability=_policy(ReliabilityPolicy, qos.reliability),
        durability=_policy(DurabilityPolicy, qos.durability),
        liveliness=_policy(LivelinessPolicy, qos.liveliness),
    )
    for field in ("deadline", "lifespan", "liveliness_lease_duration"):
        value = tuple(getattr(qos, field))
        if value != UNSPECIFIED:
            # integer nanoseconds: older rclpy Durations compute int(seconds * 1e9) in floating point
            setattr(profile, field, Duration(nanoseconds=value[0] * 1_000_000_000 + value[1]))
    return profile


def _ros_type(loader: Callable[[str], Any], typename: str) -> Any:
    try:
        return loader(typename)
    except (AttributeError, ModuleNotFoundError, ValueError) as exc:
        raise LookupError(
            f"type {typename!r} is not available in this ROS 2 environment ({exc}); build and source the "
            "package that defines it"
        ) from None


class _Publisher:
    def __init__(self, node: _RclNode, typename: str, topic: str, qos: QoSProfile) -> None:
        self.topic, self.typename, self.qos = topic, typename, qos
        self._node = node
        self._pub = node.create_publisher(_ros_type(get_message, typename), topic, to_rclpy_qos(qos))

    def publish(self, cdr: bytes) -> None:
        self._pub.publish(bytes(cdr))  # bytes -> rcl_publish_serialized_message (publish_raw)

    def destroy(self) -> None:
        self._node.destroy_publisher(self._pub)


class _Subscription:
    def __init__(self, node: _RclNode, typename: str, topic: str, qos: QoSProfile,
                 on_sample: Callable[[bytes, MessageInfo], None]) -> None:  # fmt: skip
        self.topic, self.typename = topic, typename
        self._node = node

        def deliver(data: bytes, info: MessageInfo) -> None:
            try:
                on_sample(bytes(data), info)
            except Exception:  # a backend callback never raises into rclpy's executor
                _log.exception("subscription callback for %s failed", topic)

        def callback(data: bytes) -> None:
            deliver(data, MessageInfo(received_timestamp_ns=time.time_ns()))

        def callback_with_info(data: bytes, info: dict[str, Any]) -> None:
            # Iron/Jazzy give no publisher GID, so no sequence numbers either (Subscription.lost counts per GID);
            # later rclpy adds ``publisher_gid`` ({"implementation_identifier", "data"})
            gid, seq = info.get("publisher_gid"), info.get("publication_sequence_number")
            per_publisher = bool(gid) and seq is not None
            deliver(
                data,
                MessageInfo(
                    source_timestamp_ns=int(info.get("source_timestamp") or 0),
                    sequence_number=int(seq) if per_publisher else 0,
                    publisher_gid=bytes(gid["data"]) if per_publisher else b"",
                    received_timestamp_ns=int(info.get("received_timestamp") or time.time_ns()),
                ),
            )

        self._sub = node.create_subscription(
            _ros_type(get_message, typename), topic, callback_with_info if _CALLBACK_WITH_INFO else callback,
            to_rclpy_qos(qos), raw=True,
            callback_group=MutuallyExclusiveCallbackGroup(),
        )  # fmt: skip

    def destroy(self) -> None:
        self._node.destroy_subscription(self._sub)


def _wait_unless_closing(done: threading.Event, closing: threading.Event, timeout_s: float | None = None) -> bool:
    """Wait for ``done`` (at most ``timeout_s``), in slices so that the backend shutting down (``closing``) ends
    the wait too; True when ``done`` was set."""
    deadline = math.inf if timeout_s is None else time.monotonic() + timeout_s
    while not done.wait(max(0.0, min(0.1, deadline - time.monotonic()))):
        if closing.is_set() or time.monotonic() >= deadline:
            return False
    return True


class _Service:
    def __init__(self, node: _RclNode, srv_typename: str, name: str, qos: QoSProfile,
                 handler: Callable[[bytes, Callable[..., None]], None], closing: threading.Event) -> None:  # fmt: skip
        self.name = name
        self._node = node
        srv_type = _ros_type(get_service, srv_typename)

        def callback(request: Any, response: Any) -> Any:
            done = threading.Event()
            result: list[Any] = [None, None]

            def respond(cdr: bytes | None, error: str | None = None) -> None:
                result[0], result[1] = cdr, error
                done.set()

            try:  # an exception escaping a callback stops rclpy's executor (spin_once re-raises it)
                handler(serialize_message(request), respond)
                # the runtime answers from its own service thread; shutdown must not wait on an answer forever
                if not _wait_unless_closing(done, closing):
                    return response
                if result[0] is not None:
                    return deserialize_message(result[0], srv_type.Response)
            except Exception as exc:
                result[1] = f"{type(exc).__name__}: {exc}"
            _log.error("service %s failed: %s (an empty response is sent)", name, result[1])
            return response

        self._srv = node.create_service(srv_type, name, callback, qos_profile=to_rclpy_qos(qos),
                                        callback_group=MutuallyExclusiveCallbackGroup())  # fmt: skip

    def destroy(self) -> None:
        self._node.destroy_service(self._srv)


class _Client:
    def __init__(self, node: _RclNode, srv_typename: str, name: str, qos: QoSProfile,
                 closing: threading.Event) -> None:  # fmt: skip
        self.name = name
        self._node = node
        self._closing = closing
        self._type = _ros_type(get_service, srv_typename)
        self._client = node.create_client(self._type, name, qos_profile=to_rclpy_qos(qos),
                                          callback_group=MutuallyExclusiveCallbackGroup())  # fmt: skip

    def service_is_ready(self) -> bool:
        return self._client.service_is_ready()

    def call(self, request_cdr: bytes, timeout_s: float | None) -> bytes:
        wait = SERVICE_WAIT_S if timeout_s is None else min(SERVICE_WAIT_S, timeout_s)
        if not self._client.wait_for_service(timeout_sec=wait):
            raise ServiceUnavailable(f"no server for service {self.name}")
        future = self._client.call_async(deserialize_message(bytes(request_cdr), self._type.Request))
        done = threading.Event()
        future.add_done_callback(lambda _: done.set())
        if not _wait_unless_closing(done, self._closing, timeout_s):  # no reply comes after shutdown
            if hasattr(self._client, "remove_pending_request"):
                self._client.remove_pending_request(future)
            if self._closing.is_set():
                raise ServiceUnavailable(f"service {self.name}: the rclpy backend shut down")
            raise ServiceTimeout(f"service {self.name} did not answer within {timeout_s} s")
        if future.exception() is not None:
            raise ServiceError(f"service {self.name} failed: {future.exception()}")
        return bytes(serialize_message(future.result()))

    def destroy(self) -> None:
        self._node.destroy_client(self._client)


class _Timer:
    """An rclpy timer (on the node's ROS clock, so it follows ``/clock`` under sim time) whose ticks run the
    callback on the runtime node's executor; a tick is skipped while the previous one is queued or running."""

    def __init__(self, node: _RclNode, period_s: float, callback: Callable[[], Any], executor: Executor) -> None:
        if not period_s > 0:
            raise ValueError(f"timer period must be > 0 s, got {period_s!r}")
        self.period_s = float(period_s)
        self._node = node
        self._cancelled = False
        self._ticks = TimerTicks(callback, executor, lambda: self._cancelled)
        self._timer = node.create_timer(self.period_s, self._ticks.tick,
                                        callback_group=MutuallyExclusiveCallbackGroup())

    def cancel(self) -> None:
        if not self._cancelled:
            self._cancelled = True
            self._node.destroy_timer(self._timer)

    destroy = cancel

    @property
    def is_canceled(self) -> bool:
        return self._cancelled


def _to_rclpy(name: str, value: Any, type_name: str | None) -> Parameter:
    """A runtime parameter value as rclpy's ``Parameter`` (byte arrays are lists of 1-byte ``bytes`` there)."""
    kind = type_name or parameter_type_name(value)
    if kind == "empty_array":
        kind = "string_array"
    if kind == "byte_array":
        value = [bytes([b]) for b in value]
    elif kind == "double":  # rclpy's DOUBLE/DOUBLE_ARRAY accept floats only (Parameter.Type.check)
        value = float(value)
    elif kind == "double_array":
        value = [float(v) for v in value]
    return Parameter(name, Parameter.Type[kind.upper()], value)


def _from_rclpy(parameter: Parameter) -> Any:
    value = parameter.value
    if parameter.type_ == Parameter.Type.BYTE_ARRAY:
        return b"".join(value)
    return list(value) if parameter.type_.name.endswith("_ARRAY") else value


class _ParameterMirror:
    """Keeps rclpy's parameters equal to the runtime's store, both ways (see the module docstring)."""

    def __init__(self, node: _RclNode, store: ParameterStore, logger: Any) -> None:
        self._node, self._store, self._logger = node, store, logger
        self._local = threading.local()  # set while the mirror itself writes to rclpy
        node.add_on_set_parameters_callback(self._on_rclpy_set)
        store.add_listener(self._on_store_change)
        for name, parameter in node.get_parameters_by_prefix("").items():
            # rclpy's own (start_type_description_service); use_sim_time is declared by the runtime Node itself
            if name != "use_sim_time" and not store.has(name) and parameter.type_ != Parameter.Type.NOT_SET:
                descriptor = node.describe_parameter(name)
                store.declare(name, _from_rclpy(parameter), description=descriptor.description,
                              read_only=descriptor.read_only)

    def _on_store_change(self, change: ParameterChange) -> None:
        if change.origin == "rclpy":
            return
        self._local.active = True
        try:
            for name, value in change.new:
                d = self._store.describe(name)
                if self._node.has_parameter(name):
                    if self._node.get_parameter(name).value != _to_rclpy(name, value, d.type).value:
                        self._node.set_parameters([_to_rclpy(name, value, d.type)])
                    continue
                descriptor = _RclDescriptor(name=name, description=d.description, read_only=d.read_only,
                                            dynamic_typing=d.type is None or value == [])
                self._node.declare_parameter(name, _to_rclpy(name, value, d.type).value, descriptor,
                                             ignore_override=True)
            if change.changed:
                result = self._node.set_parameters_atomically(
                    [_to_rclpy(n, v, self._store.describe(n).type) for n, v in change.changed])
                if not result.successful:
                    self._logger.warning(f"rclpy refused parameters {dict(change.changed)}: {result.reason}")
        finally:
            self._local.active = False

    def _on_rclpy_set(self, parameters: list[Parameter]) -> SetParametersResult:
        if getattr(self._local, "active", False):
            return SetParametersResult(successful=True)
        values = {}
        for parameter in parameters:
            if not self._store.has(parameter.name):
                continue  # not the runtime's (e.g. rclpy's own); rclpy decides
            if parameter.type_ == Parameter.Type.NOT_SET:
                return SetParametersResult(successful=False, reason="undeclaring parameters is not supported")
            values[parameter.name] = _from_rclpy(parameter)
        try:
            self._store.set_many(values, origin="rclpy")
        except ParameterError as exc:
            return SetParametersResult(successful=False, reason=str(exc))
        return SetParametersResult(successful=True)


class _NodeHandle:
    def __init__(self, backend: RclpyBackend, name: str, namespace: str) -> None:
        self.name, self.namespace = name, namespace
        self._backend = backend
        self._node = backend._make_node(name, namespace, parameter_services=True)
        self._logger = self._node.get_logger()
        self._logger.set_level(LoggingSeverity.DEBUG)  # the runtime's NodeLogger applies --log-level

    def create_publisher(self, typename: str, topic: str, qos: QoSProfile) -> _Publisher:
        return _Publisher(self._node, typename, topic, qos)

    def create_subscription(self, typename: str, topic: str, qos: QoSProfile,
                            on_sample: Callable[[bytes, MessageInfo], None],
                            on_malformed: Callable[[str], None]) -> _Subscription:  # fmt: skip
        return _Subscription(
            self._node, typename, topic, qos, on_sample
        )  # rcl drops undecodable samples itself

    def create_service(self, srv_typename: str, name: str, qos: QoSProfile,
                       handler: Callable[[bytes, Callable[..., None]], None]) -> _Service:  # fmt: skip
        return _Service(self._node, srv_typename, name, qos, handler, self._backend._closing)

    def create_client(self, srv_typename: str, name: str, qos: QoSProfile) -> _Client:
        return _Client(self._node, srv_typename, name, qos, self._backend._closing)

    # -- rclpy built-ins the runtime Node uses instead of its own (see the module docstring) -----------------
    def now_ns(self) -> int:
        """The rclpy node clock (ROS time: ``/clock`` under ``use_sim_time``, handled by rclpy's TimeSource)."""
        return self._node.get_clock().now().nanoseconds

    def create_timer(self, period_s: float, callback: Callable[[], Any], executor: Executor) -> _Timer:
        return _Timer(self._node, period_s, callback, executor)

    def log(self, level: int, text: str, function: str, line: int) -> None:
        """A record for rclpy's logger (rcutils console output and ``/rosout``); the runtime filtered the level.

        One call site per severity: rclpy's ``RcutilsLogger.log`` keys a context on its caller (function, file,
        line, bytecode offset) and raises ``ValueError`` when one call site logs with a second severity."""
        if level >= LoggingSeverity.FATAL:
            self._logger.log(text, LoggingSeverity.FATAL)
        elif level >= LoggingSeverity.ERROR:
            self._logger.log(text, LoggingSeverity.ERROR)
        elif level >= LoggingSeverity.WARN:
            self._logger.log(text, LoggingSeverity.WARN)
        elif level >= LoggingSeverity.INFO:
            self._logger.log(text, LoggingSeverity.INFO)
        else:
            self._logger.log(text, LoggingSeverity.DEBUG)

    def bind_parameters(self, store: ParameterStore, logger: Any) -> None:
        _ParameterMirror(self._node, store, logger)

    def destroy(self) -> None:
        self._backend._drop_node(self._node)


class _Graph:
    def __init__(self, node: _RclNode) -> None:
        self._node = node

    def node_names(self) -> list[tuple[str, str]]:
        return [(n, ns) for n, ns in self._node.get_node_names_and_namespaces() if not n.startswith("_")]

    def topic_names_and_types(self) -> dict[str, list[str]]:
        return {name: list(types) for name, types in self._node.get_topic_names_and_types()}

    def service_names_and_types(self) -> dict[str, list[str]]:
        return {name: list(types) for name, types in self._node.get_service_names_and_types()}

    def count_publishers(self, topic: str) -> int:
        return self._node.count_publishers(topic)

    def count_subscribers(self, topic: str) -> int:
        return self._node.count_subscribers(topic)

    def wait_until(self, predicate: Callable[[Any], bool], timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while not predicate(self):
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)
        return True


class RclpyBackend:
    """One rclpy context and executor for the process (see the module docstring)."""

    name = "rclpy"

    def __init__(self) -> None:
        self._context = rclpy.Context()
        init_kwargs: dict[str, Any] = {"args": [], "context": self._context}
        try:
            from rclpy.signals import SignalHandlerOptions

            init_kwargs["signal_handler_options"] = SignalHandlerOptions.NO
        except ImportError:  # distros before Humble install rclpy's handlers unconditionally
            pass
        rclpy.init(**init_kwargs)
        rmw = get_rmw_implementation_identifier()
        if rmw != EXPECTED_RMW:
            _log.warning(
                "rclpy runs on %s, not %s: lerobot_ros nodes without ROS and rviz on other machines only meet this "
                "process over rmw_zenoh; export RMW_IMPLEMENTATION=%s and run `ros2 run rmw_zenoh_cpp rmw_zenohd`",
                rmw, EXPECTED_RMW, EXPECTED_RMW,
            )  # fmt: skip
        self._executor = MultiThreadedExecutor(num_threads=EXECUTOR_THREADS, context=self._context)
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._graph_node = self._make_node("_lerobot_ros_graph", "/")
        self._graph = _Graph(self._graph_node)
        self._thread = threading.Thread(target=self._spin, name="rclpy-executor", daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        # MultiThreadedExecutor.spin_once re-raises a callback's exception in this thread: log it, spin on
        while self._context.ok() and not self._closing.is_set():
            try:
                self._executor.spin()
            except Exception:
                if self._closing.is_set() or not self._context.ok():
                    return  # shut down under the executor
                _log.exception("a callback raised in rclpy's executor (spinning on)")

    def _make_node(self, name: str, namespace: str, *, parameter_services: bool = False) -> _RclNode:
        node = _RclNode(
            name, namespace=namespace, context=self._context, use_global_arguments=False,
            start_parameter_services=parameter_services, parameter_overrides=[],
            automatically_declare_parameters_from_overrides=False,
        )  # fmt: skip
        with self._lock:
            self._executor.add_node(node)
        return node

    def _drop_node(self, node: _RclNode) -> None:
        with self._lock:
            self._executor.remove_node(node)
        node.destroy_node()

    @property
    def graph(self) -> _Graph:
        return self._graph

    def create_node(self, name: str, namespace: str, *, enclave: str = "/") -> _NodeHandle:
        if enclave not in ("", "/"):
            _log.warning("enclave %s ignored: the rclpy backend's context is created without one", enclave)
        return _NodeHandle(self, name, namespace)

    def shutdown(self) -> None:
        self._closing.set()  # blocked service callbacks return, _spin stops
        self._executor.shutdown(timeout_sec=2.0)
        self._thread.join(2.0)
        self._graph_node.destroy_node()
        self._context.try_shutdown()
