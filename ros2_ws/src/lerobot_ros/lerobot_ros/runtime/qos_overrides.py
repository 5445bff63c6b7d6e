"""ROS 2's QoS overriding parameters: ``qos_overrides.<topic>.<publisher|subscription>.<policy>``.

As rclpy's ``QoSOverridingOptions``: an entity created with overriding enabled declares one read-only parameter per
policy (default: history, depth, reliability), whose default is the code's QoS; a value from a parameter file or
``-p`` then replaces that policy, e.g. ``qos_overrides./front/image_raw.publisher.history: keep_all``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

from .params import ParameterError, ParameterStore
from .qos import Durability, History, QoSProfile, Reliability

__all__ = ["DEFAULT_POLICIES", "POLICIES", "apply_qos_overrides", "parameter_name"]

DEFAULT_POLICIES = ("history", "depth", "reliability")  # rclpy's QoSOverridingOptions.with_default_policies()
_ENUMS: dict[str, Any] = {"history": History, "reliability": Reliability, "durability": Durability}
POLICIES = ("depth", *_ENUMS)


def parameter_name(topic: str, entity: str, policy: str, entity_id: str | None = None) -> str:
    """``qos_overrides./topic.publisher.depth`` (``publisher_<id>`` with an entity id, as rclpy)."""
    return f"qos_overrides.{topic}.{entity}{'_' + entity_id if entity_id else ''}.{policy}"


def _choices(enum: Any) -> list[str]:
    return [m.name.lower() for m in enum if m.name not in ("UNKNOWN",)]


def apply_qos_overrides(params: ParameterStore, topic: str, entity: str, qos: QoSProfile,
                        policies: Iterable[str] = DEFAULT_POLICIES, entity_id: str | None = None) -> QoSProfile:
    """Declare the overriding parameters of one publisher or subscription and return the QoS they give."""
    if entity not in ("publisher", "subscription"):
        raise ValueError(f"entity must be 'publisher' or 'subscription', got {entity!r}")
    changes: dict[str, Any] = {}
    for policy in policies:
        if policy not in POLICIES:
            raise ValueError(f"unknown QoS policy {policy!r} to override; one of {', '.join(POLICIES)}")
        name = parameter_name(topic, entity, policy, entity_id)
        if policy == "depth":
            value = params.declare(name, int(qos.depth), read_only=True,
                                   description=f"QoS depth of the {entity} on {topic} (overrides the code's)")
            if not isinstance(value, int) or value < 0:
                raise ParameterError(f"{name}: depth must be an integer >= 0, got {value!r}")
            changes["depth"] = value
            continue
        enum = _ENUMS[policy]
        current = getattr(qos, policy).name.lower()
        text = params.declare(name, current, read_only=True,
                              description=f"QoS {policy} of the {entity} on {topic}: {', '.join(_choices(enum))}")
        key = str(text).strip().upper()
        if key not in enum.__members__ or key == "UNKNOWN":
            raise ParameterError(f"{name}: {text!r} is not a {policy} policy; use one of {', '.join(_choices(enum))}")
        changes[policy] = enum[key]
    return dataclasses.replace(qos, **changes)
