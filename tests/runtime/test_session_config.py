"""Session configuration as rmw_zenoh (defaults, ZENOH_SESSION_CONFIG_URI, ZENOH_CONFIG_OVERRIDE, ROS_DOMAIN_ID,
router check) and clean shutdown of a node process on SIGINT/SIGTERM."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from lerobot_ros.runtime import Node
from lerobot_ros.runtime.transport import backend_name
from lerobot_ros.runtime.zenoh_backend import (
    ZenohContext,
    domain_id_from_env,
    parse_config_override,
    session_config,
)


def test_default_session_config_is_rmw_zenoh(monkeypatch) -> None:
    monkeypatch.delenv("ZENOH_SESSION_CONFIG_URI", raising=False)
    monkeypatch.delenv("ZENOH_CONFIG_OVERRIDE", raising=False)
    config = session_config()
    assert json.loads(config.get_json("mode")) == "peer"
    assert json.loads(config.get_json("connect/endpoints")) == ["tcp/localhost:7447"]
    assert json.loads(config.get_json("listen/endpoints")) == ["tcp/localhost:0"]
    assert json.loads(config.get_json("scouting/multicast/enabled")) is False
    assert json.loads(config.get_json("scouting/gossip/enabled")) is True
    assert json.loads(config.get_json("timestamping/enabled"))["peer"] is True


def test_config_uri_and_override(monkeypatch, tmp_path) -> None:
    path = tmp_path / "session.json5"
    path.write_text('{ mode: "peer", connect: { endpoints: ["tcp/127.0.0.1:7999"] }, // comment\n}')
    monkeypatch.setenv("ZENOH_SESSION_CONFIG_URI", str(path))
    monkeypatch.setenv("ZENOH_CONFIG_OVERRIDE", 'listen/endpoints=["tcp/127.0.0.1:0"];scouting/multicast/enabled=false')
    config = session_config()
    assert json.loads(config.get_json("connect/endpoints")) == ["tcp/127.0.0.1:7999"]
    assert json.loads(config.get_json("listen/endpoints")) == ["tcp/127.0.0.1:0"]
    assert parse_config_override("a=1; b/c=[\"x\"] ;") == [("a", "1"), ("b/c", '["x"]')]
    with pytest.raises(ValueError, match="key=json5"):
        parse_config_override("nonsense")
    monkeypatch.setenv("ZENOH_CONFIG_OVERRIDE", "no/such/key=1")
    with pytest.raises(ValueError, match="no/such/key"):
        session_config()


def test_domain_and_backend_env(monkeypatch) -> None:
    monkeypatch.setenv("ROS_DOMAIN_ID", "42")
    assert domain_id_from_env() == 42
    for bad in ("x", "300"):
        monkeypatch.setenv("ROS_DOMAIN_ID", bad)
        with pytest.raises(ValueError, match="ROS_DOMAIN_ID"):
            domain_id_from_env()
    monkeypatch.setenv("LEROBOT_ROS_BACKEND", "zenoh")
    assert backend_name() == "zenoh"
    assert backend_name("auto") in ("zenoh", "rclpy")
    with pytest.raises(ValueError, match="LEROBOT_ROS_BACKEND"):
        backend_name("dds")


def test_router_check_without_router(monkeypatch, caplog) -> None:
    monkeypatch.delenv("ZENOH_SESSION_CONFIG_URI", raising=False)
    monkeypatch.delenv("ZENOH_CONFIG_OVERRIDE", raising=False)
    from helpers.zenoh_router import free_port

    overrides = {"connect/endpoints": f'["tcp/127.0.0.1:{free_port()}"]', "listen/endpoints": '["tcp/127.0.0.1:0"]'}
    with caplog.at_level("WARNING", logger="lerobot_ros"):
        ctx = ZenohContext(overrides=overrides, router_check_attempts=1)
    assert any("no Zenoh router" in r.getMessage() for r in caplog.records)  # warns and goes on, as rmw_zenoh
    ctx.close()
    skipped = ZenohContext(overrides=overrides, router_check_attempts=-1)
    skipped.close()


NODE_SCRIPT = textwrap.dedent("""
    import sys, time
    from lerobot_ros.runtime import Node, make, spin
    node = Node("sig_talker", argv=sys.argv[1:])
    pub = node.create_publisher("std_msgs/msg/String", "sig_chatter", 10)
    node.create_timer(0.05, lambda: pub.publish(make("std_msgs/msg/String", data="x")))
    print("UP", flush=True)
    spin(node)
    node.destroy()
    print("CLEAN EXIT", flush=True)
""")


@pytest.mark.e2e
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_node_process_shuts_down_cleanly(make_context, router_env, sig) -> None:
    observer = Node("sig_observer", context=make_context())
    got: list[str] = []
    observer.create_subscription("std_msgs/msg/String", "/sig_chatter", lambda m: got.append(m.data), 10)
    proc = subprocess.Popen([sys.executable, "-c", NODE_SCRIPT], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=router_env)
    try:
        assert proc.stdout.readline().strip() == "UP"
        deadline = time.monotonic() + 10
        while not got and time.monotonic() < deadline:
            time.sleep(0.05)
        assert got, "no message from the node process"
        assert observer.backend.graph.wait_until(lambda g: ("sig_talker", "/") in g.node_names(), 5)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=15)
        assert proc.returncode == 0, err
        assert "CLEAN EXIT" in out
        assert observer.backend.graph.wait_until(lambda g: ("sig_talker", "/") not in g.node_names(), 5)
    finally:
        if proc.poll() is None:
            proc.kill()
        observer.destroy()
