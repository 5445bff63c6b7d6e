"""Graph tools (`lerobot-ros node|topic|service`) and `lerobot-ros router` against real Zenoh sessions."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import zenoh
from helpers.zenoh_router import free_port
from lerobot_ros.runtime import Node, QoSProfile, make
from lerobot_ros.runtime.cli_graph import node_main, service_main, topic_main

from .conftest import peer_overrides


def test_node_topic_service_list(make_context, cli_env, capsys) -> None:
    node = Node("camera", "/arm", context=make_context())
    node.create_publisher("sensor_msgs/msg/Image", "image_raw", 5)
    node.create_service("std_srvs/srv/Trigger", "calibrate", lambda r: make("std_srvs/srv/Trigger_Response"))
    time.sleep(0.2)
    assert node_main(["list"]) == 0
    assert "/arm/camera" in capsys.readouterr().out.splitlines()
    assert topic_main(["list", "-t"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "/arm/image_raw [sensor_msgs/msg/Image]" in out and "/rosout [rcl_interfaces/msg/Log]" in out
    assert service_main(["list", "-t"]) == 0
    assert "/arm/calibrate [std_srvs/srv/Trigger]" in capsys.readouterr().out.splitlines()
    node.destroy()


def test_topic_echo_and_pub(make_context, cli_env, capsys) -> None:
    listener = Node("listener", context=make_context())
    got: list[str] = []
    listener.create_subscription("std_msgs/msg/String", "chatter", lambda m: got.append(m.data), 10)
    assert topic_main(["pub", "/chatter", "std_msgs/msg/String", "{data: from cli}", "--once"]) == 0
    assert got == ["from cli"]
    talker = Node("talker", context=make_context())
    pub = talker.create_publisher("sensor_msgs/msg/JointState", "joint_states", QoSProfile(depth=1, durability=1))
    pub.publish(make("sensor_msgs/msg/JointState", name=["j1"], position=[0.5]))
    time.sleep(0.2)
    capsys.readouterr()
    assert topic_main(["echo", "/joint_states", "--once"]) == 0  # type found in the graph; latched sample
    out = capsys.readouterr().out
    assert "name:\n- j1" in out and "position:\n- 0.5" in out and out.rstrip().endswith("---")
    listener.destroy()
    talker.destroy()


def test_topic_hz(make_context, cli_env, capsys) -> None:
    talker = Node("fast", context=make_context())
    pub = talker.create_publisher("std_msgs/msg/String", "tick", 10)
    timer = talker.create_timer(0.02, lambda: pub.publish(make("std_msgs/msg/String", data="t")))
    assert topic_main(["hz", "/tick", "--duration", "2"]) == 0
    rates = [float(line.split()[-1]) for line in capsys.readouterr().out.splitlines()
             if line.startswith("average rate")]
    assert rates and 20 < rates[-1] < 80  # a 50 Hz timer; wide bounds for loaded CI machines
    timer.cancel()
    talker.destroy()


def test_service_call(make_context, cli_env, capsys) -> None:
    server = Node("adder", context=make_context())
    server.create_service("example_interfaces/srv/AddTwoInts", "add_two_ints",
                          lambda r: make("example_interfaces/srv/AddTwoInts_Response", sum=r.a + r.b))
    assert service_main(["call", "/add_two_ints", "example_interfaces/srv/AddTwoInts", "{a: 2, b: 40}"]) == 0
    assert "sum: 42" in capsys.readouterr().out
    assert service_main(["call", "/missing", "std_srvs/srv/Trigger", "--timeout", "0.5"]) == 1
    server.destroy()


@pytest.mark.e2e
def test_router_command_serves_peers_and_stops_on_sigint() -> None:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "lerobot_ros.cli", "router", "--listen", f"tcp/127.0.0.1:{port}"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=dict(os.environ))
    try:
        line = proc.stdout.readline()
        assert "listening on tcp/127.0.0.1:" in line, line
        config = zenoh.Config()
        for key, value in peer_overrides(f"tcp/127.0.0.1:{port}").items():
            config.insert_json5(key, value)
        config.insert_json5("scouting/multicast/enabled", "false")
        session = zenoh.open(config)
        assert list(session.info.routers_zid())
        session.close()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
