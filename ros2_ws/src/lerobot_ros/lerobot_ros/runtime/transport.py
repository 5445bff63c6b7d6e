"""The backend contract under :class:`~lerobot_ros.runtime.node.Node`: what rclpy and native Zenoh both provide.

Backends move CDR bytes only (``msgs`` is the one codec). Names reach a backend fully qualified and remapped
(``names``); QoS as :class:`~lerobot_ros.runtime.qos.QoSProfile`. Backends call ``on_sample`` /
``handler`` from their own threads; the Node queues them to its executor (``spin``), so a backend callback
must return quickly and never raise.

``get_backend(name)`` picks the backend: ``name`` or ``LEROBOT_ROS_BACKEND`` = ``auto`` (rclpy when
importable, else zenoh) | ``zenoh`` | ``rclpy``.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from collections.abc import Callable
from typing import NamedTuple, Protocol, runtime_checkable

from .qos import QoSProfile

__all__ = [
    "Backend",
    "Graph",
    "MessageInfo",
    "NodeHandle",
    "PublisherHandle",
    "ServiceClientHandle",
    "ServiceError",
    "ServiceServerHandle",
    "ServiceTimeout",
    "ServiceUnavailable",
    "SubscriptionHandle",
    "backend_name",
    "get_backend",
]


class ServiceError(RuntimeError):
    """A service call failed (the server replied with an error, or the reply could not be decoded)."""


class ServiceTimeout(ServiceError, TimeoutError):
    """No reply within the call's timeout."""


class ServiceUnavailable(ServiceError):
    """No server answered the request (none is running for that name and type)."""


class MessageInfo(NamedTuple):
    """Metadata of a received sample (from the rmw_zenoh attachment on the Zenoh backend); a named tuple, as it is
    made for every sample."""

    source_timestamp_ns: int = 0
    sequence_number: int = 0
    publisher_gid: bytes = b""
    received_timestamp_ns: int = 0


SampleCallback = Callable[[bytes, MessageInfo], None]
MalformedCallback = Callable[[str], None]
ServiceHandler = Callable[[bytes], bytes]


@runtime_checkable
class PublisherHandle(Protocol):
    topic: str
    typename: str
    qos: QoSProfile

    def publish(self, cdr: bytes) -> None: ...
    def destroy(self) -> None: ...


@runtime_checkable
class SubscriptionHandle(Protocol):
    topic: str
    typename: str

    def destroy(self) -> None: ...


@runtime_checkable
class ServiceServerHandle(Protocol):
    name: str

    def destroy(self) -> None: ...


@runtime_checkable
class ServiceClientHandle(Protocol):
    name: str

    def call(self, request_cdr: bytes, timeout_s: float | None) -> bytes:
        """Send a request and wait for the reply's CDR; ServiceTimeout/ServiceUnavailable/ServiceError."""
        ...

    def service_is_ready(self) -> bool: ...
    def destroy(self) -> None: ...


class Graph(Protocol):
    """The ROS graph as seen by a backend (names fully qualified, types ``pkg/msg/Name``)."""

    def node_names(self) -> list[tuple[str, str]]:
        """``(name, namespace)`` of every node."""
        ...

    def topic_names_and_types(self) -> dict[str, list[str]]: ...
    def service_names_and_types(self) -> dict[str, list[str]]: ...


class NodeHandle(Protocol):
    name: str
    namespace: str

    def create_publisher(self, typename: str, topic: str, qos: QoSProfile) -> PublisherHandle: ...

    def create_subscription(
        self, typename: str, topic: str, qos: QoSProfile, on_sample: SampleCallback,
        on_malformed: MalformedCallback,
    ) -> SubscriptionHandle:
        """``on_sample(cdr, info)`` per sample, from a backend thread; two calls for one subscription never
        overlap (the node's inline dispatch relies on it)."""
        ...

    def create_service(self, srv_typename: str, name: str, qos: QoSProfile,
                       handler: Callable[[bytes, Callable[[bytes], None]], None]) -> ServiceServerHandle:
        """``handler(request_cdr, respond)``: the node calls ``respond(response_cdr)`` once (from any thread)."""
        ...

    def create_client(self, srv_typename: str, name: str, qos: QoSProfile) -> ServiceClientHandle: ...
    def destroy(self) -> None: ...


class Backend(Protocol):
    name: str

    def create_node(self, name: str, namespace: str, *, enclave: str = "/") -> NodeHandle: ...

    @property
    def graph(self) -> Graph: ...

    def shutdown(self) -> None: ...


def backend_name(requested: str | None = None) -> str:
    """Resolve ``auto``/``None`` (and ``LEROBOT_ROS_BACKEND``) to ``rclpy`` or ``zenoh``."""
    name = (requested or os.environ.get("LEROBOT_ROS_BACKEND") or "auto").strip().lower()
    if name == "auto":
        return "rclpy" if importlib.util.find_spec("rclpy") is not None else "zenoh"
    if name not in ("rclpy", "zenoh"):
        raise ValueError(f"unknown backend {name!r}: LEROBOT_ROS_BACKEND / backend= must be auto, zenoh or rclpy")
    return name


_backends: dict[str, Backend] = {}
_lock = threading.Lock()


def get_backend(requested: str | Backend | None = None) -> Backend:
    """The process-wide backend (one context/session per process, as rcl); a Backend object passes through."""
    if requested is not None and not isinstance(requested, str):
        return requested
    name = backend_name(requested)
    with _lock:
        if name not in _backends:
            if name == "zenoh":
                from .zenoh_backend import ZenohBackend

                _backends[name] = ZenohBackend()
            else:
                from .rclpy_backend import RclpyBackend

                _backends[name] = RclpyBackend()
        return _backends[name]


def shutdown_backends() -> None:
    with _lock:
        backends = list(_backends.values())
        _backends.clear()
    for backend in backends:
        backend.shutdown()
