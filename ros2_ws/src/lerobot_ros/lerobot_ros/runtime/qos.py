"""QoS profiles mirroring ``rmw_qos_profile_t``, rclpy-style presets, and rmw_zenoh's QoS key string.

rmw_zenoh's defaults (``qos.cpp``): RELIABLE, VOLATILE, KEEP_LAST, depth 42, infinite deadline/lifespan/lease,
AUTOMATIC liveliness. SYSTEM_DEFAULT, BEST_AVAILABLE and depth 0 are resolved to those before a profile is
encoded; every field equal to the default is left empty in the string:
``<rel>:<dur>:<hist>,<depth>:<dl_s>,<dl_ns>:<ls_s>,<ls_ns>:<liv>,<lease_s>,<lease_ns>``.
"""

from __future__ import annotations

import dataclasses
from enum import IntEnum

__all__ = [
    "DEFAULT_DEPTH",
    "INFINITE",
    "QOS_DEFAULT",
    "QOS_RELIABLE_KEEP_ALL",
    "QOS_ROSOUT",
    "QOS_SENSOR_DATA",
    "QOS_SERVICES",
    "QOS_TRANSIENT_LOCAL",
    "Durability",
    "History",
    "Liveliness",
    "QoSProfile",
    "Reliability",
    "as_qos",
    "qos_from_keyexpr",
    "qos_to_keyexpr",
]


class Reliability(IntEnum):
    SYSTEM_DEFAULT = 0
    RELIABLE = 1
    BEST_EFFORT = 2
    UNKNOWN = 3
    BEST_AVAILABLE = 4


class Durability(IntEnum):
    SYSTEM_DEFAULT = 0
    TRANSIENT_LOCAL = 1
    VOLATILE = 2
    UNKNOWN = 3
    BEST_AVAILABLE = 4


class History(IntEnum):
    SYSTEM_DEFAULT = 0
    KEEP_LAST = 1
    KEEP_ALL = 2
    UNKNOWN = 3


class Liveliness(IntEnum):
    SYSTEM_DEFAULT = 0
    AUTOMATIC = 1
    MANUAL_BY_NODE = 2
    MANUAL_BY_TOPIC = 3
    UNKNOWN = 4
    BEST_AVAILABLE = 5


Duration = tuple[int, int]  # (sec, nsec) as rmw_time_t
INFINITE: Duration = (9223372036, 854775807)
UNSPECIFIED: Duration = (0, 0)
DEFAULT_DEPTH = 42  # rmw_zenoh's default history depth


@dataclasses.dataclass(frozen=True)
class QoSProfile:
    """A QoS profile; durations are ``(sec, nsec)``, ``(0, 0)`` meaning unspecified (= infinite)."""

    depth: int = 10
    reliability: Reliability = Reliability.RELIABLE
    durability: Durability = Durability.VOLATILE
    history: History = History.KEEP_LAST
    deadline: Duration = UNSPECIFIED
    lifespan: Duration = UNSPECIFIED
    liveliness: Liveliness = Liveliness.AUTOMATIC
    liveliness_lease_duration: Duration = UNSPECIFIED

    def __post_init__(self) -> None:
        if not isinstance(self.depth, int) or self.depth < 0:
            raise ValueError(f"QoS depth must be a non-negative int, got {self.depth!r}")
        for name, enum in (("reliability", Reliability), ("durability", Durability), ("history", History),
                           ("liveliness", Liveliness)):
            object.__setattr__(self, name, enum(getattr(self, name)))

    def resolved(self) -> QoSProfile:
        """SYSTEM_DEFAULT/BEST_AVAILABLE/depth 0/unspecified durations replaced as rmw_zenoh does."""
        rel = self.reliability
        if rel in (Reliability.SYSTEM_DEFAULT, Reliability.BEST_AVAILABLE, Reliability.UNKNOWN):
            rel = Reliability.RELIABLE
        dur = self.durability
        if dur in (Durability.SYSTEM_DEFAULT, Durability.BEST_AVAILABLE, Durability.UNKNOWN):
            dur = Durability.VOLATILE
        hist = History.KEEP_LAST if self.history in (History.SYSTEM_DEFAULT, History.UNKNOWN) else self.history
        live = self.liveliness
        if live in (Liveliness.SYSTEM_DEFAULT, Liveliness.BEST_AVAILABLE, Liveliness.UNKNOWN):
            live = Liveliness.AUTOMATIC

        def dur_or_inf(d: Duration) -> Duration:
            return INFINITE if tuple(d) == UNSPECIFIED else tuple(d)

        return QoSProfile(
            depth=self.depth or DEFAULT_DEPTH, reliability=rel, durability=dur, history=hist,
            deadline=dur_or_inf(self.deadline), lifespan=dur_or_inf(self.lifespan), liveliness=live,
            liveliness_lease_duration=dur_or_inf(self.liveliness_lease_duration),
        )

    @property
    def reliable(self) -> bool:
        return self.resolved().reliability == Reliability.RELIABLE

    @property
    def transient_local(self) -> bool:
        return self.resolved().durability == Durability.TRANSIENT_LOCAL

    @property
    def keep_all(self) -> bool:
        return self.resolved().history == History.KEEP_ALL


QOS_DEFAULT = QoSProfile(depth=10)
QOS_SENSOR_DATA = QoSProfile(depth=5, reliability=Reliability.BEST_EFFORT)
QOS_RELIABLE_KEEP_ALL = QoSProfile(depth=1000, history=History.KEEP_ALL)
QOS_TRANSIENT_LOCAL = QoSProfile(depth=1, durability=Durability.TRANSIENT_LOCAL)
QOS_SERVICES = QoSProfile(depth=10)
QOS_ROSOUT = QoSProfile(depth=1000, durability=Durability.TRANSIENT_LOCAL, lifespan=(10, 0))

_DEFAULT = QoSProfile(depth=DEFAULT_DEPTH).resolved()


def as_qos(qos: QoSProfile | int | None) -> QoSProfile:
    """A profile from a profile, a depth (``KEEP_LAST(depth)``, rclpy-style) or ``None`` (QOS_DEFAULT)."""
    if qos is None:
        return QOS_DEFAULT
    if isinstance(qos, QoSProfile):
        return qos
    if isinstance(qos, int) and not isinstance(qos, bool):
        return QoSProfile(depth=qos)
    raise TypeError(f"qos must be a QoSProfile or a depth (int), got {type(qos).__name__}")


def qos_to_keyexpr(qos: QoSProfile | int) -> str:
    """The QoS chunk of an rmw_zenoh liveliness token (fields equal to rmw_zenoh's defaults elided)."""
    q, d = as_qos(qos).resolved(), _DEFAULT

    def enum(value, default) -> str:
        return "" if value == default else str(int(value))

    def duration(value: Duration, default: Duration) -> str:
        return "," if tuple(value) == tuple(default) else f"{value[0]},{value[1]}"

    history = f"{enum(q.history, d.history)},{'' if q.depth == d.depth else q.depth}"
    lease = duration(q.liveliness_lease_duration, d.liveliness_lease_duration)
    return ":".join([
        enum(q.reliability, d.reliability), enum(q.durability, d.durability), history,
        duration(q.deadline, d.deadline), duration(q.lifespan, d.lifespan),
        f"{enum(q.liveliness, d.liveliness)},{lease}",
    ])


def qos_from_keyexpr(text: str) -> QoSProfile:
    """Parse a token's QoS chunk (empty fields = rmw_zenoh defaults); ``ValueError`` if malformed."""
    groups = text.split(":")
    if len(groups) != 6:
        raise ValueError(f"invalid QoS string {text!r}: expected 6 ':'-separated groups")
    try:
        rel, dur = groups[0], groups[1]
        hist, depth = groups[2].split(",")
        dl = groups[3].split(",")
        ls = groups[4].split(",")
        live, lease_s, lease_ns = groups[5].split(",")

        def duration(parts: list[str], default: Duration) -> Duration:
            if len(parts) != 2:
                raise ValueError("duration needs 2 fields")
            return default if parts == ["", ""] else (int(parts[0]), int(parts[1]))

        d = _DEFAULT
        return QoSProfile(
            reliability=Reliability(int(rel)) if rel else d.reliability,
            durability=Durability(int(dur)) if dur else d.durability,
            history=History(int(hist)) if hist else d.history,
            depth=int(depth) if depth else d.depth,
            deadline=duration(dl, d.deadline), lifespan=duration(ls, d.lifespan),
            liveliness=Liveliness(int(live)) if live else d.liveliness,
            liveliness_lease_duration=duration([lease_s, lease_ns], d.liveliness_lease_duration),
        )
    except ValueError as exc:
        raise ValueError(f"invalid QoS string {text!r}: {exc}") from exc
