"""urdf/so101.urdf: parses, matches the model, the driver and sim configs, and MuJoCo's kinematics."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from lerobot_core.robots import so101_model
from lerobot_core.robots.kinematics import UrdfModel, matrix_to_quaternion
from lerobot_core.sim.env import SO101Sim, SO101SimConfig

JOINTS = list(so101_model.JOINT_NAMES)


@pytest.fixture(scope="module")
def urdf(repo_root: Path) -> UrdfModel:
    return UrdfModel.from_file(repo_root / "urdf" / "so101.urdf")


def test_urdf_file_is_the_generated_model(repo_root: Path) -> None:
    text = (repo_root / "urdf" / "so101.urdf").read_text()
    assert text == so101_model.to_urdf(), "urdf/so101.urdf is stale: regenerate it with so101_model.to_urdf()"


def test_urdf_joints_and_limits_match_driver_and_sim_configs(urdf: UrdfModel, repo_root: Path) -> None:
    assert urdf.name == "so101" and urdf.root == "base_link"
    assert urdf.movable_joints == JOINTS
    limits = urdf.limits()
    for name in ("so101_follower.yaml", "so101_sim.yaml"):
        doc = yaml.safe_load((repo_root / "config" / name).read_text())
        params = next(iter(doc.values()))["ros__parameters"]
        assert params["joint_names"] == JOINTS, name
        np.testing.assert_allclose(params["joint_lower_limits"], [limits[j][0] for j in JOINTS], err_msg=name)
        np.testing.assert_allclose(params["joint_upper_limits"], [limits[j][1] for j in JOINTS], err_msg=name)


@pytest.mark.parametrize(
    "pose",
    [
        np.zeros(6),
        np.array([0.5, -0.3, 0.8, 1.0, -1.2, 0.6]),
        np.array([-1.5, 1.2, -1.0, -0.7, 2.0, -0.1]),
    ],
)
def test_forward_kinematics_matches_mujoco_bodies(urdf: UrdfModel, pose: np.ndarray) -> None:
    sim = SO101Sim(SO101SimConfig(cameras=[]))
    sim.set_joint_positions(pose)
    frames = urdf.forward_kinematics(dict(zip(JOINTS, pose)))
    assert set(frames) == {link.name for link in so101_model.LINKS}
    for link, transform in frames.items():
        np.testing.assert_allclose(transform[:3, 3], sim.body_position(link), atol=1e-9, err_msg=link)
        np.testing.assert_allclose(transform[:3, :3], sim.body_rotation(link), atol=1e-9)


def test_zero_pose_geometry_is_the_published_so101_layout(urdf: UrdfModel) -> None:
    tool = urdf.forward_kinematics()["gripper_frame_link"][:3, 3]
    # Upper arm vertical, forearm and gripper forward: x = 30.4 + 28 + 134.9 + 61.1 + 90 mm.
    np.testing.assert_allclose(tool, [0.3444, 0.0, 0.0624 + 0.0542 + 0.11257], atol=1e-9)
    pan = urdf.forward_kinematics({"shoulder_pan": np.pi / 2})["gripper_frame_link"][:3, 3]
    np.testing.assert_allclose(pan[:2], [0.0, 0.3444], atol=1e-9)


def test_quaternion_and_bad_urdf_errors() -> None:
    q = matrix_to_quaternion(np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]))
    np.testing.assert_allclose(q, [0.0, 0.0, np.sqrt(0.5), np.sqrt(0.5)], atol=1e-12)
    with pytest.raises(ValueError, match="root element"):
        UrdfModel("<model/>")
    with pytest.raises(ValueError, match="not valid XML"):
        UrdfModel("<robot")
    with pytest.raises(KeyError, match="unknown joints"):
        UrdfModel(so101_model.to_urdf()).forward_kinematics({"elbow": 1.0})
