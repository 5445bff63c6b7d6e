"""The ROS graph read from rmw_zenoh liveliness tokens (``@ros2_lv/<domain>/**``), as rmw_zenoh's graph cache.

A :class:`LivelinessGraph` is fed token puts/deletes (from a liveliness subscriber or a one-shot liveliness
query) and answers node/topic/service listings. Malformed tokens are counted and ignored, never fatal.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from . import wire

__all__ = ["LivelinessGraph"]

_log = logging.getLogger("lerobot_ros.graph")


class LivelinessGraph:
    def __init__(self) -> None:
        self._entities: dict[str, wire.Entity] = {}
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self.malformed = 0
        self.listeners: list[Callable[[wire.Entity, bool], None]] = []

    def put(self, token: str) -> wire.Entity | None:
        try:
            entity = wire.parse_liveliness_token(token)
        except ValueError as exc:
            self.malformed += 1
            _log.warning("ignoring malformed liveliness token: %s", exc)
            return None
        with self._changed:
            self._entities[token] = entity
            self._changed.notify_all()
        for listener in list(self.listeners):
            listener(entity, True)
        return entity

    def delete(self, token: str) -> None:
        with self._changed:
            entity = self._entities.pop(token, None)
            self._changed.notify_all()
        if entity is not None:
            for listener in list(self.listeners):
                listener(entity, False)

    def entities(self, kind: str | None = None) -> list[wire.Entity]:
        with self._lock:
            values = list(self._entities.values())
        return [e for e in values if kind is None or e.kind == kind]

    def wait_until(self, predicate: Callable[[LivelinessGraph], bool], timeout_s: float) -> bool:
        """Wait until ``predicate(self)`` holds (re-checked on every graph change) or the timeout passes."""
        import time

        deadline = time.monotonic() + timeout_s
        while True:
            if predicate(self):
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            with self._changed:
                self._changed.wait(min(remaining, 0.1))

    # -- listings (the ros2 CLI's view) -----------------------------------------------------------------

    def node_names(self) -> list[tuple[str, str]]:
        """``(name, namespace)`` of every node, including nodes only implied by endpoint tokens."""
        nodes = {(e.zid, e.node_id): (e.node_name, e.namespace) for e in self.entities()}
        return sorted(set(nodes.values()), key=lambda n: (n[1], n[0]))

    def _names_and_types(self, kinds: tuple[str, ...]) -> dict[str, list[str]]:
        out: dict[str, set[str]] = {}
        for e in self.entities():
            if e.kind in kinds and e.topic:
                out.setdefault(e.topic, set()).add(e.typename or "")
        return {name: sorted(types) for name, types in sorted(out.items())}

    def topic_names_and_types(self) -> dict[str, list[str]]:
        return self._names_and_types((wire.PUBLISHER, wire.SUBSCRIPTION))

    def service_names_and_types(self) -> dict[str, list[str]]:
        return self._names_and_types((wire.SERVICE_SERVER,))

    def endpoints(self, name: str, kind: str | None = None) -> list[wire.Entity]:
        return [e for e in self.entities() if e.topic == name and (kind is None or e.kind == kind)]

    def count_publishers(self, topic: str) -> int:
        return len(self.endpoints(topic, wire.PUBLISHER))

    def count_subscribers(self, topic: str) -> int:
        return len(self.endpoints(topic, wire.SUBSCRIPTION))

    def service_is_available(self, name: str, typename: str) -> bool:
        """An ``SS`` token with this name and type name exists (the hash is not compared, as rmw_zenoh)."""
        dds = wire.dds_type_name(typename)
        return any(e.dds_type == dds for e in self.endpoints(name, wire.SERVICE_SERVER))
