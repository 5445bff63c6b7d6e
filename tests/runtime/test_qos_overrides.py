"""ROS 2's ``qos_overrides.<topic>.<entity>.<policy>`` parameters, from a parameter file and ``-p``."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from helpers.waiting import wait_for
from lerobot_ros.runtime import QOS_DEFAULT, Node, wire
from lerobot_ros.runtime.params import ParameterError
from lerobot_ros.runtime.qos import History, Reliability

IMAGE = "sensor_msgs/msg/Image"


def test_parameter_file_overrides_the_publisher_qos_on_the_wire(tmp_path: Path, make_context) -> None:
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"/**": {"ros__parameters": {"qos_overrides": {"/cam/front/image_raw": {
        "publisher": {"history": "keep_all", "depth": 3}}}}}}))
    node = Node("camera", namespace="/cam", argv=["--ros-args", "--params-file", str(params)],
                context=make_context(), enable_rosout=False)
    pub = node.create_publisher(IMAGE, "front/image_raw", QOS_DEFAULT, qos_overriding=True)
    assert (pub.qos.history, pub.qos.depth, pub.qos.reliability) == (History.KEEP_ALL, 3, Reliability.RELIABLE)
    # the liveliness token other nodes (and rmw_zenoh) read carries the overridden QoS
    graph = node.backend.graph
    assert wait_for(lambda: graph.count_publishers("/cam/front/image_raw") == 1)
    token_qos = [e.qos for e in graph.endpoints("/cam/front/image_raw", wire.PUBLISHER)]
    assert [(q.history, q.depth) for q in token_qos] == [(History.KEEP_ALL, 3)]
    # declared read-only with the effective value, as rclpy does
    assert node.get_parameter("qos_overrides./cam/front/image_raw.publisher.history") == "keep_all"
    assert node.get_parameter("qos_overrides./cam/front/image_raw.publisher.reliability") == "reliable"
    with pytest.raises(ParameterError, match="read-only"):
        node.set_parameter("qos_overrides./cam/front/image_raw.publisher.depth", 10)
    node.destroy()


def test_subscription_override_and_without_opt_in_nothing_is_declared(make_context) -> None:
    argv = ["--ros-args", "-p", "qos_overrides./x.subscription.reliability:=best_effort",
            "-p", "qos_overrides./y.subscription.depth:=1"]
    node = Node("listener", argv=argv, context=make_context(), enable_rosout=False)
    sub = node.create_subscription("std_msgs/msg/String", "/x", lambda m: None, 10, qos_overriding=True)
    assert sub.qos.reliability == Reliability.BEST_EFFORT and sub.qos.depth == 10
    plain = node.create_subscription("std_msgs/msg/String", "/y", lambda m: None, 10)
    assert plain.qos.depth == 10 and not node.has_parameter("qos_overrides./y.subscription.depth")
    only_depth = node.create_subscription("std_msgs/msg/String", "/z", lambda m: None, 7, qos_overriding=["depth"])
    assert only_depth.qos.depth == 7 and not node.has_parameter("qos_overrides./z.subscription.history")
    node.destroy()


def test_bad_override_names_the_parameter_and_the_choices(make_context) -> None:
    node = Node("bad", argv=["--ros-args", "-p", "qos_overrides./x.publisher.history:=keep_some"],
                context=make_context(), enable_rosout=False)
    with pytest.raises(ParameterError, match=r"qos_overrides\./x\.publisher\.history: 'keep_some'.*keep_all"):
        node.create_publisher("std_msgs/msg/String", "/x", 10, qos_overriding=True)
    with pytest.raises(ValueError, match="unknown QoS policy 'speed'"):
        node.create_publisher("std_msgs/msg/String", "/w", 10, qos_overriding=["speed"])
    node.destroy()


def test_camera_publishers_take_the_overrides(make_context) -> None:
    from lerobot_ros.nodes.camera_publisher import CameraPublisher

    argv = ["--ros-args", "-p", "qos_overrides./front/image_raw.publisher.history:=keep_all",
            "-p", "qos_overrides./front/camera_info.publisher.depth:=2"]
    node = Node("sim", argv=argv, context=make_context(), enable_rosout=False)
    camera = CameraPublisher(node, "/front", "front_camera", compressed=True)
    assert camera.image_pub.qos.history == History.KEEP_ALL and camera.info_pub.qos.depth == 2
    assert camera.compressed_pub is not None and camera.compressed_pub.qos == QOS_DEFAULT  # not overridden: as coded
    assert node.has_parameter("qos_overrides./front/image_raw/compressed.publisher.reliability")
    node.destroy()
