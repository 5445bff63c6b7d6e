"""URDF parsing and forward kinematics in pure Python (xml.etree + numpy), for any serial or tree robot.

>>> model = UrdfModel.from_file("urdf/so101.urdf")
>>> frames = model.forward_kinematics({"shoulder_pan": 0.3})   # {link: 4x4 pose in the root link frame}
"""

from __future__ import annotations

import math
import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class UrdfJoint:
    name: str
    kind: str
    parent: str
    child: str
    origin: np.ndarray  # 4x4 child frame in the parent frame at q = 0
    axis: np.ndarray
    lower: float | None
    upper: float | None
    velocity: float | None
    effort: float | None


def rpy_matrix(roll: float, pitch: float, yaw: float) -> np.ndarray:
    """URDF fixed-axis roll-pitch-yaw: R = Rz(yaw) @ Ry(pitch) @ Rx(roll)."""
    cr, sr, cp, sp, cy, sy = (math.cos(roll), math.sin(roll), math.cos(pitch), math.sin(pitch),
                              math.cos(yaw), math.sin(yaw))  # fmt: skip
    return np.array(
        [
            [cy * cp, cy * sp * sr - sy * cr, cy * sp * cr + sy * sr],
            [sy * cp, sy * sp * sr + cy * cr, sy * sp * cr - cy * sr],
            [-sp, cp * sr, cp * cr],
        ]
    )


def axis_angle_matrix(axis: np.ndarray, angle: float) -> np.ndarray:
    """Rotation of ``angle`` radians about the unit vector ``axis`` (Rodrigues)."""
    x, y, z = axis
    c, s = math.cos(angle), math.sin(angle)
    k = np.array([[0, -z, y], [z, 0, -x], [-y, x, 0]])
    return np.eye(3) + s * k + (1 - c) * (k @ k)


def _floats(text: str | None, n: int, default: float, where: str) -> np.ndarray:
    if text is None:
        return np.full(n, default, dtype=float)
    values = text.split()
    if len(values) != n:
        raise ValueError(f"{where}: expected {n} numbers, got {text!r}")
    return np.array([float(v) for v in values])


class UrdfModel:
    """Links and joints of a URDF, and forward kinematics over them."""

    def __init__(self, xml_text: str) -> None:
        try:
            root = ET.fromstring(xml_text)
        except ET.ParseError as e:
            raise ValueError(f"URDF is not valid XML: {e}") from e
        if root.tag != "robot":
            raise ValueError(f"URDF root element must be <robot>, got <{root.tag}>")
        self.name = root.get("name", "")
        self.links = [link.get("name", "") for link in root.findall("link")]
        self.joints: dict[str, UrdfJoint] = {}
        for el in root.findall("joint"):
            name = el.get("name", "")
            where = f"URDF joint {name!r}"
            origin_el = el.find("origin")
            xyz = _floats(origin_el.get("xyz") if origin_el is not None else None, 3, 0.0, where + " origin xyz")
            rpy = _floats(origin_el.get("rpy") if origin_el is not None else None, 3, 0.0, where + " origin rpy")
            origin = np.eye(4)
            origin[:3, :3] = rpy_matrix(*rpy)
            origin[:3, 3] = xyz
            axis_el = el.find("axis")
            axis = _floats(axis_el.get("xyz") if axis_el is not None else "1 0 0", 3, 0.0, where + " axis")
            norm = float(np.linalg.norm(axis))
            if norm == 0:
                raise ValueError(f"{where}: axis must be non-zero")
            limit = el.find("limit")

            def _lim(key: str, limit: ET.Element | None = limit) -> float | None:
                return float(limit.get(key)) if limit is not None and limit.get(key) is not None else None

            parent, child = el.find("parent"), el.find("child")
            if parent is None or child is None:
                raise ValueError(f"{where}: needs <parent link=...> and <child link=...>")
            self.joints[name] = UrdfJoint(
                name=name,
                kind=el.get("type", ""),
                parent=parent.get("link", ""),
                child=child.get("link", ""),
                origin=origin,
                axis=axis / norm,
                lower=_lim("lower"),
                upper=_lim("upper"),
                velocity=_lim("velocity"),
                effort=_lim("effort"),
            )
        children = {j.child for j in self.joints.values()}
        roots = [link for link in self.links if link not in children]
        if len(roots) != 1:
            raise ValueError(f"URDF must have exactly one root link, found {roots}")
        self.root = roots[0]
        # Joints ordered parents-first so one pass computes every frame.
        self._ordered: list[UrdfJoint] = []
        known = {self.root}
        pending = list(self.joints.values())
        while pending:
            ready = [j for j in pending if j.parent in known]
            if not ready:
                raise ValueError(f"URDF joints {[j.name for j in pending]} do not connect to {self.root!r}")
            for j in ready:
                self._ordered.append(j)
                known.add(j.child)
                pending.remove(j)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> UrdfModel:
        with open(path, encoding="utf-8") as f:
            return cls(f.read())

    @property
    def movable_joints(self) -> list[str]:
        """Names of non-fixed joints, parents first (document order within a level)."""
        return [j.name for j in self._ordered if j.kind != "fixed"]

    def limits(self) -> dict[str, tuple[float, float]]:
        """``{joint: (lower, upper)}`` for joints with a ``<limit>`` lower/upper."""
        return {
            j.name: (j.lower, j.upper) for j in self._ordered if j.lower is not None and j.upper is not None
        }

    def joint_transform(self, joint: UrdfJoint, q: float) -> np.ndarray:
        """Pose of ``joint.child`` in ``joint.parent`` at position ``q``."""
        motion = np.eye(4)
        if joint.kind in ("revolute", "continuous"):
            motion[:3, :3] = axis_angle_matrix(joint.axis, q)
        elif joint.kind == "prismatic":
            motion[:3, 3] = joint.axis * q
        elif joint.kind != "fixed":
            raise ValueError(f"joint {joint.name!r}: type {joint.kind!r} is not supported (revolute, "
                             "continuous, prismatic, fixed)")  # fmt: skip
        return joint.origin @ motion

    def forward_kinematics(self, positions: dict[str, float] | None = None) -> dict[str, np.ndarray]:
        """Every link's 4x4 pose in the root link frame; joints missing from ``positions`` are at 0."""
        positions = positions or {}
        unknown = set(positions) - set(self.joints)
        if unknown:
            raise KeyError(f"unknown joints {sorted(unknown)}; the URDF has {self.movable_joints}")
        frames = {self.root: np.eye(4)}
        for j in self._ordered:
            frames[j.child] = frames[j.parent] @ self.joint_transform(j, float(positions.get(j.name, 0.0)))
        return frames

    def joint_transforms(self, positions: dict[str, float] | None = None) -> dict[str, tuple[str, str, np.ndarray]]:
        """``{joint: (parent, child, 4x4 child-in-parent)}``: the data of a TF tree message."""
        positions = positions or {}
        return {
            j.name: (j.parent, j.child, self.joint_transform(j, float(positions.get(j.name, 0.0))))
            for j in self._ordered
        }


def matrix_to_quaternion(rot: np.ndarray) -> tuple[float, float, float, float]:
    """Unit quaternion ``(x, y, z, w)`` (ROS order) of a 3x3 rotation matrix."""
    m = rot
    trace = m[0, 0] + m[1, 1] + m[2, 2]
    if trace > 0:
        s = 0.5 / math.sqrt(trace + 1.0)
        w, x, y, z = 0.25 / s, (m[2, 1] - m[1, 2]) * s, (m[0, 2] - m[2, 0]) * s, (m[1, 0] - m[0, 1]) * s
    elif m[0, 0] > m[1, 1] and m[0, 0] > m[2, 2]:
        s = 2.0 * math.sqrt(1.0 + m[0, 0] - m[1, 1] - m[2, 2])
        w, x, y, z = (m[2, 1] - m[1, 2]) / s, 0.25 * s, (m[0, 1] + m[1, 0]) / s, (m[0, 2] + m[2, 0]) / s
    elif m[1, 1] > m[2, 2]:
        s = 2.0 * math.sqrt(1.0 + m[1, 1] - m[0, 0] - m[2, 2])
        w, x, y, z = (m[0, 2] - m[2, 0]) / s, (m[0, 1] + m[1, 0]) / s, 0.25 * s, (m[1, 2] + m[2, 1]) / s
    else:
        s = 2.0 * math.sqrt(1.0 + m[2, 2] - m[0, 0] - m[1, 1])
        w, x, y, z = (m[1, 0] - m[0, 1]) / s, (m[0, 2] + m[2, 0]) / s, (m[1, 2] + m[2, 1]) / s, 0.25 * s
    return (float(x), float(y), float(z), float(w))
