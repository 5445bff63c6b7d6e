"""MJCF of the pick-and-place scene: the SO-101 (from ``so101_model``), a table, a red cube, a blue bin, cameras."""

from __future__ import annotations

import numpy as np

from lerobot_core.robots import so101_model as m

# Scene layout (metres, robot base frame = world frame, table top at z = 0).
CUBE_HALF = 0.015
CUBE_MASS = 0.02
BIN_CENTER = (0.05, 0.19)
BIN_HALF = 0.05  # inner half width
BIN_WALL = 0.004
BIN_HEIGHT = 0.04
FRONT_CAMERA = {"pos": (0.54, -0.1, 0.38), "target": (0.11, 0.05, 0.06), "fovy": 45.0}
# Position servo model: kp (N·m/rad) and torque limit (N·m) per joint; the gripper is gentler.
KP = {"shoulder_pan": 20.0, "shoulder_lift": 25.0, "elbow_flex": 20.0, "wrist_flex": 12.0, "wrist_roll": 8.0,
      "gripper": 3.0}  # fmt: skip
FORCE_LIMIT = {"gripper": 1.0}
ARMATURE = 0.01  # reflected rotor inertia of a 1:345 geared servo (kg·m²)


def _f(values) -> str:
    return " ".join(f"{float(v):.6g}" for v in values)


def look_at_xyaxes(pos, target, up=(0.0, 0.0, 1.0)) -> str:
    """MJCF ``xyaxes`` for a camera at ``pos`` looking at ``target``."""
    forward = np.asarray(target, float) - np.asarray(pos, float)
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, up)
    right /= np.linalg.norm(right)
    cam_up = np.cross(right, forward)
    return _f(np.concatenate([right, cam_up]))


def _geoms_xml(link: m.Link, indent: str) -> list[str]:
    out = []
    for i, g in enumerate(link.geoms):
        size = _f(g.size)
        out.append(
            f'{indent}<geom name="{link.name}_geom{i}" type="{g.kind}" size="{size}" pos="{_f(g.pos)}" '
            f'rgba="{_f(g.rgba)}" mass="{link.mass / len(link.geoms):.6g}" class="robot"/>'
        )
    return out


def _body_xml(link_name: str, indent: str) -> list[str]:
    link = next(lk for lk in m.LINKS if lk.name == link_name)
    out = _geoms_xml(link, indent)
    if link_name == "gripper_link":
        out.append(f'{indent}<camera name="wrist" pos="0.035 0 0.035" xyaxes="0 -1 0 0.42 0 0.906" fovy="75"/>')
    if link_name == m.TOOL_LINK:
        out.append(f'{indent}<site name="tcp" size="0.004" rgba="0 0 0 0"/>')
        out.append(f'{indent}<site name="tcp_back" pos="-0.05 0 0" size="0.002" rgba="0 0 0 0"/>')
        out.append(f'{indent}<site name="tcp_side" pos="0 0.03 0" size="0.002" rgba="0 0 0 0"/>')
    for j in m.JOINTS:
        if j.parent != link_name:
            continue
        out.append(f'{indent}<body name="{j.child}" pos="{_f(j.origin)}">')
        if j.kind != "fixed":
            out.append(
                f'{indent}  <joint name="{j.name}" type="hinge" axis="{_f(j.axis)}" range="{j.lower:.6g} {j.upper:.6g}" '
                f'damping="{j.damping:.6g}" armature="{ARMATURE}"/>'
            )
        out += _body_xml(j.child, indent + "  ")
        out.append(f"{indent}</body>")
    return out


def scene_xml(offscreen_width: int = 1280, offscreen_height: int = 960, offscreen_samples: int = 0) -> str:
    """The full MJCF model as text (``offscreen_samples``: multisample anti-aliasing, 0 = off, 3x faster on CPU)."""
    bx, by = BIN_CENTER
    wall_mid = BIN_HALF + BIN_WALL
    walls = [
        (bx + wall_mid, by, BIN_WALL, BIN_HALF + 2 * BIN_WALL),
        (bx - wall_mid, by, BIN_WALL, BIN_HALF + 2 * BIN_WALL),
        (bx, by + wall_mid, BIN_HALF, BIN_WALL),
        (bx, by - wall_mid, BIN_HALF, BIN_WALL),
    ]
    bin_geoms = [
        f'    <geom name="bin_floor" type="box" size="{BIN_HALF + 2 * BIN_WALL} {BIN_HALF + 2 * BIN_WALL} 0.002" '
        f'pos="{bx} {by} 0.002" rgba="0.15 0.3 0.85 1"/>'
    ]
    for i, (x, y, hx, hy) in enumerate(walls):
        bin_geoms.append(
            f'    <geom name="bin_wall{i}" type="box" size="{hx} {hy} {BIN_HEIGHT / 2}" '
            f'pos="{x:.6g} {y:.6g} {BIN_HEIGHT / 2}" rgba="0.15 0.3 0.85 1"/>'
        )
    actuators = []
    for name in m.JOINT_NAMES:
        j = m.joint(name)
        limit = FORCE_LIMIT.get(name, j.effort)
        actuators.append(
            f'    <position name="{name}" joint="{name}" kp="{KP[name]}" ctrlrange="{j.lower:.6g} {j.upper:.6g}" '
            f'forcerange="{-limit:.6g} {limit:.6g}"/>'
        )
    body = _body_xml(m.BASE_LINK, "      ")
    front = FRONT_CAMERA
    return "\n".join(
        [
            '<mujoco model="so101_pick_place">',
            '  <compiler angle="radian" autolimits="true"/>',
            '  <option timestep="0.002" cone="elliptic" impratio="10" integrator="implicitfast"/>',
            f'  <visual><global offwidth="{offscreen_width}" offheight="{offscreen_height}"/>'
            f'<quality shadowsize="0" offsamples="{offscreen_samples}"/></visual>',
            "  <default>",
            '    <geom friction="1.0 0.005 0.0001" solref="0.005 1"/>',
            '    <default class="robot"><geom friction="1.5 0.01 0.001"/></default>',
            "  </default>",
            "  <worldbody>",
            '    <light name="top" pos="0.2 0 1.2" dir="0 0 -1" directional="true" castshadow="false" diffuse="0.8 0.8 0.8"/>',
            '    <light name="fill" pos="0.8 -0.5 0.8" dir="-1 0.5 -1" directional="true" castshadow="false" diffuse="0.3 0.3 0.3"/>',
            '    <geom name="floor" type="plane" size="2 2 0.1" pos="0 0 -0.75" rgba="0.35 0.35 0.38 1"/>',
            '    <geom name="table" type="box" size="0.35 0.45 0.02" pos="0.2 0 -0.02" rgba="0.72 0.6 0.45 1"/>',
            f'    <camera name="front" pos="{_f(front["pos"])}" xyaxes="{look_at_xyaxes(front["pos"], front["target"])}" '
            f'fovy="{front["fovy"]}"/>',
            *bin_geoms,
            f'    <body name="{m.BASE_LINK}" pos="0 0 0">',
            *body,
            "    </body>",
            '    <body name="cube" pos="0.2 0 0.015">',
            "      <freejoint/>",
            f'      <geom name="cube" type="box" size="{CUBE_HALF} {CUBE_HALF} {CUBE_HALF}" mass="{CUBE_MASS}" '
            'rgba="0.9 0.1 0.1 1" friction="1.5 0.01 0.001"/>',
            "    </body>",
            "  </worldbody>",
            "  <actuator>",
            *actuators,
            "  </actuator>",
            "</mujoco>",
        ]
    )
