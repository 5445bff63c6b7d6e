"""A synthetic robot for the recorder tests: publishes frame k of tests/recording/rec_streams at ``--fps`` with
wall-clock stamps (joint states, leader commands, two cameras + camera_info, task, robot_description,
tf_static) and, with ``--bag``, writes every published message to an MCAP bag too. Stops on SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import signal
import threading
import time

import rec_streams as rs
from lerobot_ros.runtime import QOS_DEFAULT, QOS_TRANSIENT_LOCAL, Node, make
from lerobot_ros.runtime.transport import shutdown_backends


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--height", type=int, default=24)
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--bag")
    args = parser.parse_args()
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    node = Node("synthetic_robot", argv=[], enable_rosout=False)
    pubs = {t: node.create_publisher(mt, t, QOS_DEFAULT) for t, mt in (
        ("/joint_states", "sensor_msgs/msg/JointState"), ("/joint_commands", "sensor_msgs/msg/JointState"),
        ("/front/image_raw", "sensor_msgs/msg/Image"), ("/wrist/image_raw", "sensor_msgs/msg/Image"),
        ("/front/camera_info", "sensor_msgs/msg/CameraInfo"))}
    latched = {t: node.create_publisher(mt, t, QOS_TRANSIENT_LOCAL) for t, mt in (
        ("/task", "std_msgs/msg/String"), ("/robot_description", "std_msgs/msg/String"),
        ("/tf_static", "tf2_msgs/msg/TFMessage"))}
    writer = None
    conns = {}
    if args.bag:
        from rosbags.rosbag2 import StoragePlugin, Writer

        writer = Writer(args.bag, version=9, storage_plugin=StoragePlugin.MCAP)
        writer.open()

    def publish(topic: str, msgtype: str, cdr: bytes, pub) -> None:
        pub.publish(cdr)
        if writer is not None:
            if topic not in conns:
                conns[topic] = writer.add_connection(topic, msgtype, typestore=rs.TYPESTORE)
            writer.write(conns[topic], time.time_ns(), cdr)

    publish("/task", "std_msgs/msg/String", rs.serialize(rs.string_msg("pick"), "std_msgs/msg/String"),
            latched["/task"])
    latched["/robot_description"].publish(make("std_msgs/msg/String", data="<robot name='synthetic'/>"))
    tf = make("geometry_msgs/msg/TransformStamped", child_frame_id="front_camera",
              header=make("std_msgs/msg/Header", frame_id="base_link"))
    latched["/tf_static"].publish(make("tf2_msgs/msg/TFMessage", transforms=[tf]))
    period = 1.0 / args.fps
    next_t = time.monotonic()
    k = 0
    while not stop.is_set():
        ns = time.time_ns()
        js = "sensor_msgs/msg/JointState"
        publish("/joint_commands", js, rs.serialize(rs.joint_state(ns, rs.command_positions(k)), js),
                pubs["/joint_commands"])
        publish("/joint_states", js, rs.serialize(rs.joint_state(ns, rs.state_positions(k)), js), pubs["/joint_states"])
        for cam, name in enumerate(("front", "wrist")):
            img = rs.image_msg(ns, rs.frame_image(k, cam, args.height, args.width))
            publish(f"/{name}/image_raw", "sensor_msgs/msg/Image", rs.serialize(img, "sensor_msgs/msg/Image"),
                    pubs[f"/{name}/image_raw"])
        if k % 10 == 0:
            pubs["/front/camera_info"].publish(make("sensor_msgs/msg/CameraInfo", header=make("std_msgs/msg/Header", frame_id="front_camera"),
                                                    height=args.height, width=args.width))
        k += 1
        next_t += period
        stop.wait(max(0.0, next_t - time.monotonic()))
    if writer is not None:
        writer.close()
    node.destroy()
    shutdown_backends()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
