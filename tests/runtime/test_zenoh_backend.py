"""Native Zenoh backend through a real in-process router: pub/sub per QoS, TRANSIENT_LOCAL late joiners,
services, remapping, parameters, graph, hash-mismatch warning, malformed samples and the exact wire bytes."""

from __future__ import annotations

import dataclasses
import threading
import time

import pytest
import zenoh
from helpers.waiting import wait_for
from lerobot_ros.runtime import (
    QOS_RELIABLE_KEEP_ALL,
    QOS_SENSOR_DATA,
    QOS_TRANSIENT_LOCAL,
    Node,
    QoSProfile,
    ServiceError,
    ServiceTimeout,
    ServiceUnavailable,
    make,
    msgs,
    wire,
)

STRING = "std_msgs/msg/String"


def wait_matched(node: Node, topic: str, pubs: int = 1, subs: int = 1) -> None:
    graph = node.backend.graph
    assert graph.wait_until(lambda g: g.count_publishers(topic) >= pubs and g.count_subscribers(topic) >= subs, 5)
    time.sleep(0.1)  # declarations propagate to the data plane


# depths >= the burst, so a briefly starved executor (loaded CI) drops nothing by KEEP_LAST design
@pytest.mark.parametrize("qos", [
    QoSProfile(depth=30), dataclasses.replace(QOS_SENSOR_DATA, depth=30), QOS_RELIABLE_KEEP_ALL,
    dataclasses.replace(QOS_TRANSIENT_LOCAL, depth=30), QoSProfile(depth=0),
], ids=["default", "sensor", "keep_all", "transient", "depth0"])
def test_pubsub_each_qos(make_context, qos) -> None:
    talker, listener = Node("talker", context=make_context()), Node("listener", context=make_context())
    got: list[str] = []
    sub = listener.create_subscription(STRING, "chatter", lambda m: got.append(m.data), qos)
    pub = talker.create_publisher(STRING, "chatter", qos)
    wait_matched(listener, "/chatter")
    for i in range(20):
        pub.publish(make(STRING, data=f"m{i}"))
        time.sleep(0.002)
    assert wait_for(lambda: len(got) == 20), got
    assert got == [f"m{i}" for i in range(20)] and sub.malformed == 0 and sub.lost == 0
    assert sub.last_info.sequence_number == 20 and sub.last_info.publisher_gid == pub.handle.gid
    talker.destroy()
    listener.destroy()


def test_transient_local_late_joiner(make_context) -> None:
    talker = Node("latcher", context=make_context())
    pub = talker.create_publisher(STRING, "/robot_description", QoSProfile(depth=2, durability=1))
    for text in ("a", "b", "c"):
        pub.publish(make(STRING, data=text))
    time.sleep(0.2)
    listener = Node("late", context=make_context())
    got: list[str] = []
    listener.create_subscription(STRING, "/robot_description", lambda m: got.append(m.data),
                                 QoSProfile(depth=5, durability=1))
    assert wait_for(lambda: got == ["b", "c"])  # the publisher's cache holds its depth (2) newest samples
    volatile: list[str] = []
    listener.create_subscription(STRING, "/robot_description", lambda m: volatile.append(m.data), 10)
    time.sleep(0.5)
    assert volatile == []  # a VOLATILE subscription gets no history
    talker.destroy()
    listener.destroy()


def test_wire_bytes_seen_by_raw_zenoh(make_context) -> None:
    ctx = make_context(zid="aac3178e146ba6f1fc6e6a4085e77f21", domain_id=2)
    spy = make_context(domain_id=2)
    key = f"2/chatter/std_msgs::msg::dds_::String_/{msgs.type_hash(STRING)}"
    samples: list[zenoh.Sample] = []
    spy_sub = spy.session.declare_subscriber(key, samples.append)
    tokens: list[str] = []
    spy.session.liveliness().declare_subscriber("@ros2_lv/2/**", lambda s: tokens.append(str(s.key_expr)),
                                                history=True)
    bare = {"enable_rosout": False, "start_parameter_services": False}  # entity ids as in the golden tokens
    node = Node("listener", context=ctx, **bare)
    node.create_subscription(STRING, "chatter", lambda m: None, 10)
    talker = Node("talker", context=ctx, **bare)
    pub = talker.create_publisher(STRING, "chatter", 7)
    nn = "@ros2_lv/2/aac3178e146ba6f1fc6e6a4085e77f21/0/0/NN/%/%/listener"
    ms = (f"@ros2_lv/2/aac3178e146ba6f1fc6e6a4085e77f21/0/1/MS/%/%/listener/%chatter/std_msgs::msg::dds_::String_/"
          f"{msgs.type_hash(STRING)}/::,10:,:,:,,")
    mp = (f"@ros2_lv/2/aac3178e146ba6f1fc6e6a4085e77f21/2/3/MP/%/%/talker/%chatter/std_msgs::msg::dds_::String_/"
          f"{msgs.type_hash(STRING)}/::,7:,:,:,,")
    assert wait_for(lambda: {nn, ms, mp} <= set(tokens)), tokens
    time.sleep(0.1)
    before = time.time_ns()
    pub.publish(make(STRING, data="Hello World: 1"))
    pub.publish(msgs.serialize(make(STRING, data="Hello World: 2")))  # raw CDR is sent as is
    assert wait_for(lambda: len(samples) == 2)
    assert str(samples[0].key_expr) == key
    assert samples[0].payload.to_bytes().hex() == "000100000f00000048656c6c6f20576f726c643a203100"
    for seq, sample in enumerate(samples, start=1):
        att = sample.attachment.to_bytes()
        assert len(att) == 33 and att[16] == 0x10
        decoded = wire.decode_attachment(att)
        assert decoded.sequence_number == seq and decoded.gid == wire.entity_gid(mp)
        assert before <= decoded.source_timestamp <= time.time_ns()
    spy_sub.undeclare()
    node.destroy()
    talker.destroy()
    assert wait_for(lambda: mp not in {str(k) for k in _live_tokens(spy)})


def _live_tokens(ctx) -> list[str]:
    return [r.ok.key_expr for r in ctx.session.liveliness().get("@ros2_lv/**", timeout=2) if r.ok is not None]


def test_services(make_context) -> None:
    server = Node("add_two_ints_server", context=make_context())
    client_node = Node("add_two_ints_client", context=make_context())
    calls: list[int] = []

    def add(req):
        calls.append(req.a)
        if req.a < 0:
            raise ValueError("negative")
        if req.a == 99:
            time.sleep(1.0)
        return make("example_interfaces/srv/AddTwoInts_Response", sum=req.a + req.b)

    server.create_service("example_interfaces/srv/AddTwoInts", "add_two_ints", add)
    client = client_node.create_client("example_interfaces/srv/AddTwoInts", "add_two_ints")
    assert client.wait_for_service(5)
    req = msgs.request_class("example_interfaces/srv/AddTwoInts")
    assert client.call(req(a=2, b=3), 5).sum == 5
    assert client.call_async(req(a=40, b=2), 5).result(6).sum == 42
    with pytest.raises(ServiceError, match="negative"):
        client.call(req(a=-1, b=0), 5)
    with pytest.raises(ServiceTimeout):
        client.call(req(a=99, b=0), 0.2)
    time.sleep(1.0)
    assert client.call(req(a=1, b=1), 5).sum == 2  # the late reply to the timed-out call is not mistaken
    missing = client_node.create_client("std_srvs/srv/Trigger", "nobody_home")
    assert not missing.service_is_ready()
    t0 = time.monotonic()
    with pytest.raises(ServiceUnavailable):
        missing.call(None, 3)
    assert time.monotonic() - t0 < 2  # no server: fails at once instead of waiting for the timeout
    server.destroy()
    client_node.destroy()


def test_service_reply_echoes_seq_and_client_gid(make_context) -> None:
    server = Node("trigger_server", context=make_context())
    server.create_service("std_srvs/srv/Trigger", "trigger",
                          lambda req: make("std_srvs/srv/Trigger_Response", success=True, message="done"))
    raw = make_context()
    key = f"0/trigger/std_srvs::srv::dds_::Trigger_/{msgs.type_hash('std_srvs/srv/Trigger')}"
    assert raw.graph.wait_until(lambda g: g.service_is_available("/trigger", "std_srvs/srv/Trigger"), 5)
    gid = bytes(range(16))
    replies = list(raw.session.get(key, payload=msgs.serialize(make("std_srvs/srv/Trigger_Request")),
                                   attachment=wire.encode_attachment(77, time.time_ns(), gid),
                                   target=zenoh.QueryTarget.ALL_COMPLETE, timeout=5))
    assert len(replies) == 1 and replies[0].ok is not None
    att = wire.decode_attachment(replies[0].ok.attachment.to_bytes())
    assert (att.sequence_number, att.gid) == (77, gid)
    resp = msgs.deserialize(replies[0].ok.payload.to_bytes(), "std_srvs/srv/Trigger_Response")
    assert resp.success and resp.message == "done"
    # a request without an attachment is answered with an error, never crashes the server
    bad = list(raw.session.get(key, payload=b"\x00\x01\x00\x00\x00", target=zenoh.QueryTarget.ALL_COMPLETE,
                               timeout=5))
    assert len(bad) == 1 and bad[0].err is not None
    server.destroy()


def test_malformed_samples_are_counted_not_fatal(make_context) -> None:
    node = Node("robust", context=make_context())
    got: list[float] = []
    sub = node.create_subscription("sensor_msgs/msg/JointState", "joints", lambda m: got.append(m.position[0]), 10)
    raw = make_context()
    key = f"0/joints/sensor_msgs::msg::dds_::JointState_/{msgs.type_hash('sensor_msgs/msg/JointState')}"
    pub = raw.session.declare_publisher(key)
    assert raw.graph.wait_until(lambda g: g.count_subscribers("/joints") == 1, 5)
    time.sleep(0.2)
    gid = bytes(16)
    good = msgs.serialize(make("sensor_msgs/msg/JointState", name=["a"], position=[1.5], velocity=[0.0],
                               effort=[0.0]))
    pub.put(good, attachment=wire.encode_attachment(1, time.time_ns(), gid))
    pub.put(b"garbage!", attachment=wire.encode_attachment(2, time.time_ns(), gid))  # not CDR
    pub.put(good[:-6], attachment=wire.encode_attachment(3, time.time_ns(), gid))  # truncated CDR
    pub.put(good)  # no attachment: rmw_zenoh drops these too
    pub.put(good, attachment=b"\x01\x02\x03")  # malformed attachment
    pub.put(b"", attachment=wire.encode_attachment(4, time.time_ns(), gid))  # empty payload
    pub.put(good, attachment=wire.encode_legacy_attachment(5, time.time_ns(), gid))  # legacy layout: accepted
    assert wait_for(lambda: sub.malformed == 5 and len(got) == 2)
    assert got == [1.5, 1.5]
    pub.put(good, attachment=wire.encode_attachment(9, time.time_ns(), gid))
    assert wait_for(lambda: len(got) == 3)  # the node still works
    assert sub.lost == 4  # 6-8 never arrived; 4 (empty payload) was dropped before sequence tracking
    node.destroy()


def test_callback_exception_does_not_stop_node(make_context) -> None:
    ctx = make_context()
    node = Node("fragile", context=ctx)
    got: list[str] = []

    def callback(msg):
        if msg.data == "boom":
            raise RuntimeError("boom")
        got.append(msg.data)

    node.create_subscription(STRING, "t", callback, 10)
    pub = node.create_publisher(STRING, "t", 10)
    wait_matched(node, "/t")
    for text in ("a", "boom", "b"):
        pub.publish(make(STRING, data=text))
    assert wait_for(lambda: got == ["a", "b"])
    assert node._executor.errors == 1
    node.destroy()


def test_keep_last_depth_drops_oldest(make_context) -> None:
    node = Node("slow", context=make_context())
    gate, busy = threading.Event(), threading.Event()
    got: list[str] = []

    def callback(msg):
        busy.set()
        gate.wait(5)
        got.append(msg.data)

    sub = node.create_subscription(STRING, "burst", callback, 3)
    pub = node.create_publisher(STRING, "burst", QOS_RELIABLE_KEEP_ALL)
    wait_matched(node, "/burst")
    pub.publish(make(STRING, data="0"))
    assert busy.wait(5)
    for i in range(1, 10):
        pub.publish(make(STRING, data=str(i)))
    time.sleep(0.3)
    gate.set()
    assert wait_for(lambda: got and got[-1] == "9")
    time.sleep(0.1)
    assert got == ["0", "7", "8", "9"]  # the first was being handled; the queue kept the newest 3
    assert sub.queue_dropped == 6 and sub.lost == 0
    node.destroy()


def test_remapping_namespace_and_params(make_context, tmp_path) -> None:
    params = tmp_path / "params.yaml"
    params.write_text("/**:\n  ros__parameters:\n    rate: 5.0\n    common: 1\n"
                      "/robot1/renamed:\n  ros__parameters:\n    rate: 7.5\n    frame: base\n")
    argv = ["--extra", "--ros-args", "-r", "__node:=renamed", "-r", "__ns:=/robot1", "-r", "chatter:=/remapped",
            "--params-file", str(params), "-p", "frame:=tool0"]
    node = Node("talker", argv=argv, context=make_context())
    assert node.fully_qualified_name == "/robot1/renamed" and node.remaining_args == ["--extra"]
    assert node.declare_parameter("rate", 1.0) == 7.5
    assert node.declare_parameter("common", 0) == 1
    assert node.declare_parameter("frame", "world", "TF frame") == "tool0"
    assert node.declare_parameter("unset", 3) == 3 and node.get_parameter("rate") == 7.5
    pub = node.create_publisher(STRING, "chatter", 10)
    private = node.create_publisher(STRING, "~/status", 10)
    rel = node.create_publisher(STRING, "joint_states", 10)
    assert (pub.topic, private.topic, rel.topic) == ("/remapped", "/robot1/renamed/status", "/robot1/joint_states")
    other = Node("observer", context=make_context())
    assert other.backend.graph.wait_until(lambda g: ("renamed", "/robot1") in g.node_names()
                                          and "/remapped" in g.topic_names_and_types(), 5)
    node.destroy()
    other.destroy()


def test_graph_listing_and_domains(make_context) -> None:
    a = Node("cam", "/robot", context=make_context(domain_id=7), enable_rosout=False)
    a.create_publisher("sensor_msgs/msg/Image", "image_raw", QOS_SENSOR_DATA)
    a.create_service("std_srvs/srv/SetBool", "enable", lambda r: make("std_srvs/srv/SetBool_Response"))
    observer = make_context(domain_id=7)
    other_domain = make_context(domain_id=8)
    assert observer.graph.wait_until(lambda g: "/robot/enable" in g.service_names_and_types(), 5)
    assert observer.graph.topic_names_and_types()["/robot/image_raw"] == ["sensor_msgs/msg/Image"]
    assert ("cam", "/robot") in observer.graph.node_names()
    pub = next(e for e in observer.graph.entities("MP") if e.topic == "/robot/image_raw")
    assert pub.qos == QOS_SENSOR_DATA.resolved()
    time.sleep(0.2)
    assert other_domain.graph.node_names() == []  # ROS_DOMAIN_ID isolates graphs
    a.destroy()
    assert observer.graph.wait_until(lambda g: ("cam", "/robot") not in g.node_names(), 5)


def test_type_hash_mismatch_warns(make_context, caplog) -> None:
    ctx = make_context()
    node = Node("strict", context=ctx)
    node.create_subscription(STRING, "chatter", lambda m: None, 10)
    foreign = make_context()
    token = wire.liveliness_token(0, foreign.zid, 0, 1, "MP", "/", "old_talker", topic="/chatter", typename=STRING,
                                  type_hash="RIHS01_" + "0" * 64, qos=10)
    with caplog.at_level("WARNING", logger="lerobot_ros"):
        declared = foreign.session.liveliness().declare_token(token)
        assert wait_for(lambda: ctx.hash_mismatches)
    assert "TYPE HASH MISMATCH" in ctx.hash_mismatches[0] and "/old_talker" in ctx.hash_mismatches[0]
    assert any("TYPE HASH MISMATCH" in r.getMessage() for r in caplog.records)
    declared.undeclare()
    node.destroy()


def test_rosout_and_logger(make_context) -> None:
    node = Node("chatty", context=make_context())
    observer = Node("rosout_reader", context=make_context(), enable_rosout=False)
    logs = []
    observer.create_subscription("rcl_interfaces/msg/Log", "/rosout", logs.append, QoSProfile(
        depth=100, durability=1))
    node.get_logger().info("hello rosout")
    node.get_logger().debug("not shown at info level")
    assert wait_for(lambda: any(m.msg == "hello rosout" for m in logs))
    log = next(m for m in logs if m.msg == "hello rosout")
    assert log.level == 20 and log.name == "chatty" and log.stamp.sec > 0
    assert all(m.msg != "not shown at info level" for m in logs)
    stamp = node.now()
    assert abs(stamp.sec + stamp.nanosec * 1e-9 - time.time()) < 1
    node.destroy()
    observer.destroy()


def test_timer_and_publish_type_check(make_context) -> None:
    node = Node("ticker", context=make_context())
    ticks: list[float] = []
    timer = node.create_timer(0.02, lambda: ticks.append(time.monotonic()))
    assert wait_for(lambda: len(ticks) >= 5)
    timer.cancel()
    n = len(ticks)
    time.sleep(0.1)
    assert len(ticks) <= n + 1
    pub = node.create_publisher(STRING, "typed", 10)
    with pytest.raises(TypeError, match="std_msgs/msg/String"):
        pub.publish(make("std_msgs/msg/Header"))
    with pytest.raises(ValueError):
        node.create_timer(0, lambda: None)
    node.destroy()
    with pytest.raises(RuntimeError):
        node.create_publisher(STRING, "after", 10)


def test_humble_keys_and_legacy_attachment(make_context) -> None:
    ctx = make_context(distro="humble", legacy_attachment=True)
    spy = make_context()
    key = "0/chatter_humble/std_msgs::msg::dds_::String_/TypeHashNotSupported"
    samples: list[zenoh.Sample] = []
    spy.session.declare_subscriber(key, samples.append)
    node = Node("humble_talker", context=ctx, enable_rosout=False)
    pub = node.create_publisher(STRING, "chatter_humble", 10)
    assert spy.graph.wait_until(lambda g: any(e.type_hash == "TypeHashNotSupported" for e in g.entities("MP")), 5)
    time.sleep(0.2)
    pub.publish(make(STRING, data="old"))
    assert wait_for(lambda: len(samples) == 1)
    att = samples[0].attachment.to_bytes()
    assert len(att) == 77 and wire.decode_attachment(att).sequence_number == 1
    node.destroy()


def test_service_queue_depth_drops_oldest(make_context) -> None:
    server = Node("busy_server", context=make_context())
    gate, busy = threading.Event(), threading.Event()

    def handler(req):
        busy.set()
        gate.wait(5)
        return make("example_interfaces/srv/AddTwoInts_Response", sum=req.a)

    service = server.create_service("example_interfaces/srv/AddTwoInts", "slow_add", handler, 2)
    client_node = Node("eager_client", context=make_context())
    client = client_node.create_client("example_interfaces/srv/AddTwoInts", "slow_add")
    assert client.wait_for_service(5)
    req = msgs.request_class("example_interfaces/srv/AddTwoInts")
    first = client.call_async(req(a=0, b=0), 10)
    assert busy.wait(5)
    futures = []
    for i in range(1, 5):
        futures.append(client.call_async(req(a=i, b=0), 10))
        time.sleep(0.1)
    assert wait_for(lambda: service.dropped == 2)
    gate.set()
    assert first.result(10).sum == 0
    outcomes = []
    for f in futures:
        try:
            outcomes.append(f.result(10).sum)
        except ServiceError as exc:
            outcomes.append("queue full" in str(exc))
    assert outcomes == [True, True, 3, 4]  # depth 2: the two oldest waiting requests were dropped
    server.destroy()
    client_node.destroy()


def test_log_level_and_disabled_rosout_from_ros_args(make_context, capsys) -> None:
    node = Node("quiet", context=make_context(), argv=["--ros-args", "--log-level", "debug", "--disable-rosout-logs"])
    node.get_logger().debug("a debug line")
    node.get_logger().warning("a warning line")
    err = capsys.readouterr().err
    assert "[DEBUG]" in err and "[quiet]: a debug line" in err and "[WARN]" in err
    assert node._rosout_pub is None
    assert "/rosout" not in [e.topic for e in node.backend.graph.entities("MP") if e.node_name == "quiet"]
    node.destroy()
