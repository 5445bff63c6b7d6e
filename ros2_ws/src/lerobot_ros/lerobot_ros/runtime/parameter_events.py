"""``/parameter_events``: every parameter declaration and change of a node, as rclpy publishes them.

One ``rcl_interfaces/msg/ParameterEvent`` per declaration (``new_parameters``) and per successful set
(``changed_parameters``; an atomic set of several parameters is one event), with the node's fully qualified name
and a stamp from the node clock (sim time under ``use_sim_time``). QoS is rclcpp/rclpy's
``qos_profile_parameter_events``: KEEP_LAST 1000, reliable, volatile.
"""

from __future__ import annotations

from typing import Any

from . import msgs
from .param_services import to_parameter_value
from .params import ParameterChange
from .qos import QoSProfile

__all__ = ["PARAMETER_EVENTS_TOPIC", "QOS_PARAMETER_EVENTS", "ParameterEventPublisher", "parameter_event"]

PARAMETER_EVENTS_TOPIC = "/parameter_events"
QOS_PARAMETER_EVENTS = QoSProfile(depth=1000)  # rmw_qos_profile_parameter_events
EVENT_TYPE = "rcl_interfaces/msg/ParameterEvent"


def parameter_event(change: ParameterChange, node_fqn: str, stamp: Any) -> Any:
    """The ``ParameterEvent`` message of ``change`` made on the node ``node_fqn``."""

    def params(pairs: tuple[tuple[str, Any], ...]) -> list[Any]:
        return [msgs.make("rcl_interfaces/msg/Parameter", name=name, value=to_parameter_value(value))
                for name, value in pairs]

    return msgs.make(EVENT_TYPE, stamp=stamp, node=node_fqn, new_parameters=params(change.new),
                     changed_parameters=params(change.changed),
                     deleted_parameters=[msgs.make("rcl_interfaces/msg/Parameter", name=name)
                                         for name, _ in change.deleted])


class ParameterEventPublisher:
    """Publishes the node's parameter changes; register it with ``node.parameters.add_listener``."""

    def __init__(self, node: Any) -> None:
        self._node = node
        self.publisher = node.create_publisher(EVENT_TYPE, PARAMETER_EVENTS_TOPIC, QOS_PARAMETER_EVENTS)

    def __call__(self, change: ParameterChange) -> None:
        if not self._node.destroyed:
            self.publisher.publish(parameter_event(change, self._node.fully_qualified_name, self._node.now()))
