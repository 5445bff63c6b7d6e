"""lerobot_ros node runtime: one node API over two backends (rclpy, or native Zenoh speaking rmw_zenoh's wire).

Typical use::

    from lerobot_ros.runtime import Node, QOS_SENSOR_DATA, make, spin

See docs/runtime.md. Sub-modules: ``msgs`` (typestore, CDR, type hashes), ``qos``, ``wire`` (rmw_zenoh format),
``names``/``ros_args``/``params`` (ROS command line and parameters), ``node``, ``spin``, ``transport`` (backend
contract), ``zenoh_backend``, ``rclpy_backend``, ``graph``, ``router``.
"""

from __future__ import annotations

from .executable import run_node
from .msgs import deserialize, make, msg_class, register_msg_text, register_srv_text, serialize, type_hash
from .node import Client, Node, Publisher, Service, Subscription
from .qos import (
    QOS_DEFAULT,
    QOS_RELIABLE_KEEP_ALL,
    QOS_ROSOUT,
    QOS_SENSOR_DATA,
    QOS_SERVICES,
    QOS_TRANSIENT_LOCAL,
    Durability,
    History,
    QoSProfile,
    Reliability,
)
from .spin import ok, request_shutdown, spin
from .transport import MessageInfo, ServiceError, ServiceTimeout, ServiceUnavailable

__all__ = [
    "QOS_DEFAULT",
    "QOS_RELIABLE_KEEP_ALL",
    "QOS_ROSOUT",
    "QOS_SENSOR_DATA",
    "QOS_SERVICES",
    "QOS_TRANSIENT_LOCAL",
    "Client",
    "Durability",
    "History",
    "MessageInfo",
    "Node",
    "Publisher",
    "QoSProfile",
    "Reliability",
    "Service",
    "ServiceError",
    "ServiceTimeout",
    "ServiceUnavailable",
    "Subscription",
    "deserialize",
    "make",
    "msg_class",
    "ok",
    "register_msg_text",
    "register_srv_text",
    "request_shutdown",
    "run_node",
    "serialize",
    "spin",
    "type_hash",
]
