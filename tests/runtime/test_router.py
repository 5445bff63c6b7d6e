"""`lerobot-ros router`'s configuration (rmw_zenohd's defaults) and a real router started with it."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers.waiting import wait_for
from helpers.zenoh_router import free_port
from lerobot_ros.runtime import QOS_RELIABLE_KEEP_ALL, Node, make
from lerobot_ros.runtime.conversions import numpy_to_image
from lerobot_ros.runtime.router import router_config, start_router
from lerobot_ros.runtime.zenoh_backend import ZenohContext

from .conftest import next_session_id, peer_overrides

# DEFAULT_RMW_ZENOH_ROUTER_CONFIG.json5's settings that differ from Zenoh's own defaults
RMW_ZENOHD = {
    "mode": "router",
    "listen/endpoints": ["tcp/[::]:7447"],
    "scouting/multicast/enabled": False,
    "scouting/gossip/enabled": True,
    "scouting/gossip/target": {"router": ["router", "peer"], "peer": ["router"]},
    "scouting/gossip/autoconnect": {"router": [], "peer": ["router", "peer"]},
    "routing/router/peers_failover_brokering": False,
    "timestamping/enabled": {"router": True, "peer": True, "client": True},
    "transport/unicast/open_timeout": 60000,
    "transport/unicast/accept_timeout": 60000,
    "transport/unicast/accept_pending": 10000,
    "transport/unicast/max_sessions": 10000,
    "transport/link/tx/lease": 60000,
    "transport/link/tx/keep_alive": 2,
    "transport/shared_memory/enabled": False,
}


def _get(config, key: str):
    return json.loads(config.get_json(key))


@pytest.fixture
def clean_env(monkeypatch):
    monkeypatch.delenv("ZENOH_ROUTER_CONFIG_URI", raising=False)
    monkeypatch.delenv("ZENOH_CONFIG_OVERRIDE", raising=False)
    return monkeypatch


def test_defaults_are_rmw_zenohds(clean_env) -> None:
    config = router_config()
    assert {key: _get(config, key) for key in RMW_ZENOHD} == RMW_ZENOHD


def test_listen_options_and_environment(clean_env, tmp_path) -> None:
    assert _get(router_config(ipv4=True, port=7500), "listen/endpoints") == ["tcp/0.0.0.0:7500"]
    assert _get(router_config(["tcp/127.0.0.1:7600"]), "listen/endpoints") == ["tcp/127.0.0.1:7600"]
    clean_env.setenv("ZENOH_CONFIG_OVERRIDE", "transport/link/tx/lease=10000;routing/router/peers_failover_brokering=true")
    config = router_config()
    assert _get(config, "transport/link/tx/lease") == 10000
    assert _get(config, "routing/router/peers_failover_brokering") is True
    clean_env.delenv("ZENOH_CONFIG_OVERRIDE")
    uri = tmp_path / "router.json5"
    uri.write_text('{mode: "router", listen: {endpoints: ["tcp/127.0.0.1:7700"]}, scouting: {gossip: {enabled: false}}}')
    clean_env.setenv("ZENOH_ROUTER_CONFIG_URI", str(uri))
    config = router_config()  # the file replaces the defaults
    assert _get(config, "listen/endpoints") == ["tcp/127.0.0.1:7700"]
    assert _get(config, "scouting/gossip/enabled") is False
    assert _get(config, "routing/router/peers_failover_brokering") is None


@pytest.mark.e2e
def test_peers_connect_directly_and_a_block_burst_arrives_whole(clean_env) -> None:
    """Through a router with rmw_zenohd's defaults (no failover brokering) data flows only peer to peer: the two
    sessions must find each other by gossip, and a reliable keep-all (BLOCK) burst arrives complete and in order."""
    endpoint = f"tcp/127.0.0.1:{free_port()}"
    router = start_router([endpoint])
    contexts = [ZenohContext(overrides=peer_overrides(endpoint, next_session_id()), router_check_attempts=5)
                for _ in range(2)]  # fmt: skip
    pub_node = Node("burst_pub", argv=[], context=contexts[0], enable_rosout=False)
    sub_node = Node("burst_sub", argv=[], context=contexts[1], enable_rosout=False)
    try:
        images, states = 30, 60
        got: dict[str, list[int]] = {"image": [], "state": []}
        subs = [sub_node.create_subscription("sensor_msgs/msg/Image", "/burst/image",
                                             lambda m: got["image"].append(m.header.stamp.sec), QOS_RELIABLE_KEEP_ALL),
                sub_node.create_subscription("sensor_msgs/msg/JointState", "/burst/joint_states",
                                             lambda m: got["state"].append(m.header.stamp.sec), QOS_RELIABLE_KEEP_ALL)]  # fmt: skip
        pub_image = pub_node.create_publisher("sensor_msgs/msg/Image", "/burst/image", QOS_RELIABLE_KEEP_ALL)
        pub_state = pub_node.create_publisher("sensor_msgs/msg/JointState", "/burst/joint_states", QOS_RELIABLE_KEEP_ALL)
        graph = pub_node.backend.graph
        assert graph.wait_until(lambda g: g.count_subscribers("/burst/image") > 0
                                and g.count_subscribers("/burst/joint_states") > 0, 20)  # fmt: skip
        assert wait_for(lambda: contexts[1].zid in {str(z) for z in contexts[0].session.info.peers_zid()}, 20)
        pixels = np.zeros((480, 640, 3), np.uint8)  # 921 kB: 15 Zenoh fragments per image
        header = make("std_msgs/msg/Header")
        for k in range(states):  # back to back, no pacing: the burst outruns the subscriber
            header.stamp.sec = k
            if k < images:
                pub_image.publish(numpy_to_image(pixels, "rgb8", header=header))
            pub_state.publish(make("sensor_msgs/msg/JointState", header=header, name=["a"], position=[float(k)]))
        assert wait_for(lambda: len(got["image"]) == images and len(got["state"]) == states, 30), (
            {k: len(v) for k, v in got.items()}, [s.lost for s in subs])
        assert got == {"image": list(range(images)), "state": list(range(states))}
        assert [s.lost for s in subs] == [0, 0]
    finally:
        sub_node.destroy()
        pub_node.destroy()
        for ctx in contexts:
            ctx.close()
        router.close()
