"""Simulated SO-101 pick-and-place in MuJoCo (``SO101Sim``) with a scripted expert.

Headless rendering: ``MUJOCO_GL`` defaults to ``osmesa`` here, before mujoco is imported; export
``MUJOCO_GL=egl`` first to render on a GPU.
"""

import os

os.environ.setdefault("MUJOCO_GL", "osmesa")
