"""What every rclpy node has built in, on the native backend over real Zenoh: ``use_sim_time`` and ``/clock``,
``/parameter_events``, ``~/get_type_description``, and their endpoints in the graph tools."""

from __future__ import annotations

import time
from typing import Any

from helpers.inbox import Inbox
from helpers.waiting import wait_for
from lerobot_ros.runtime import Node, make, msgs, rihs
from lerobot_ros.runtime.cli_graph import service_main, topic_main
from lerobot_ros.runtime.param_services import from_parameter_value, to_parameter_value
from lerobot_ros.runtime.type_description import SERVICE_TYPE, is_available

CLOCK = "rosgraph_msgs/msg/Clock"




def ns(stamp: Any) -> int:
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def test_sim_time_follows_clock_and_drives_timers(make_context) -> None:
    node = Node("sim_user", context=make_context(), argv=["--ros-args", "-p", "use_sim_time:=true"])
    assert node.get_parameter("use_sim_time") is True and node.time_source.ros_time_is_active
    assert ns(node.now()) == 0  # zero until the first /clock message, as in ROS
    ticks: list[int] = []
    node.create_timer(1.0, lambda: ticks.append(ns(node.now())))
    sim = Node("simulator", context=make_context())
    clock_pub = sim.create_publisher(CLOCK, "/clock", 10)

    def publish(t_ns: int) -> None:
        clock_pub.publish(make(CLOCK, clock=make("builtin_interfaces/msg/Time", sec=t_ns // 10**9,
                                                 nanosec=t_ns % 10**9)))

    assert wait_for(lambda: ns(node.now()) == 10 * 10**9, every=lambda: publish(10 * 10**9))
    assert wait_for(lambda: len(ticks) == 1) and ticks == [10 * 10**9]  # 0 -> 10 s: one tick, missed ones skipped
    publish(10_500_000_000)
    assert wait_for(lambda: ns(node.now()) == 10_500_000_000)
    publish(11 * 10**9)
    assert wait_for(lambda: len(ticks) >= 2)
    assert ticks[:2] == [10 * 10**9, 11 * 10**9]  # 10.5 s was no period boundary

    node.set_parameter("use_sim_time", False)  # back to the system clock at run time
    assert not node.time_source.ros_time_is_active and abs(ns(node.now()) - time.time_ns()) < 60 * 10**9
    cli = Node("param_cli", context=make_context(), start_parameter_services=False)
    client = cli.create_client("rcl_interfaces/srv/SetParameters", "/sim_user/set_parameters")
    assert client.wait_for_service(10)
    request = make("rcl_interfaces/srv/SetParameters_Request", parameters=[
        make("rcl_interfaces/msg/Parameter", name="use_sim_time", value=to_parameter_value(True))])
    assert [r.successful for r in client.call(request, 10).results] == [True]  # `ros2 param set` switches back
    assert ns(node.now()) == 11 * 10**9  # the last /clock time is kept
    bad = make("rcl_interfaces/srv/SetParameters_Request", parameters=[
        make("rcl_interfaces/msg/Parameter", name="use_sim_time", value=to_parameter_value("yes"))])
    assert [r.successful for r in client.call(bad, 10).results] == [False]
    for n in (node, sim, cli):
        n.destroy()


def test_use_sim_time_from_yaml(make_context, tmp_path) -> None:
    params = tmp_path / "params.yaml"
    params.write_text("/**:\n  ros__parameters:\n    use_sim_time: true\n")
    node = Node("from_yaml", context=make_context(), argv=["--ros-args", "--params-file", str(params)])
    plain = Node("plain", context=make_context())
    assert node.get_parameter("use_sim_time") is True and ns(node.now()) == 0
    assert plain.get_parameter("use_sim_time") is False and ns(plain.now()) > 0
    assert wait_for(lambda: "/clock" in plain.get_topic_names_and_types())  # the /clock subscription is in the graph
    assert plain.get_topic_names_and_types()["/clock"] == [CLOCK]
    node.destroy()
    plain.destroy()


def test_parameter_events_on_declare_and_set(make_context) -> None:
    watcher = Node("watcher", context=make_context(), start_parameter_services=False)
    events = Inbox()
    watcher.create_subscription("rcl_interfaces/msg/ParameterEvent", "/parameter_events", events, 1000)
    node = Node("tuned", "/robot", context=make_context())
    node.declare_parameter("probe", 0)
    probe = iter(range(1, 10**6))
    assert wait_for(lambda: any(e.node == "/robot/tuned" for e in events.messages),
                    every=lambda: node.set_parameter("probe", next(probe)))  # the subscription is matched now

    def event_with(field: str, names: list[str]) -> Any:
        return events.wait(lambda e: e.node == "/robot/tuned" and [p.name for p in getattr(e, field)] == names)

    before = time.time_ns()
    node.declare_parameter("rate_hz", 30.0, "publishing rate")
    event = event_with("new_parameters", ["rate_hz"])
    assert from_parameter_value(event.new_parameters[0].value) == 30.0
    assert not event.changed_parameters and not event.deleted_parameters and ns(event.stamp) >= before - 10**9
    node.set_parameter("rate_hz", 60)
    event = event_with("changed_parameters", ["rate_hz"])
    assert from_parameter_value(event.changed_parameters[0].value) == 60.0 and not event.new_parameters
    node.declare_parameter("frame", "base")
    cli = Node("param_cli", context=make_context(), start_parameter_services=False)
    client = cli.create_client("rcl_interfaces/srv/SetParametersAtomically", "/robot/tuned/set_parameters_atomically")
    assert client.wait_for_service(10)
    result = client.call(make("rcl_interfaces/srv/SetParametersAtomically_Request", parameters=[
        make("rcl_interfaces/msg/Parameter", name="rate_hz", value=to_parameter_value(15.0)),
        make("rcl_interfaces/msg/Parameter", name="frame", value=to_parameter_value("tool"))]), 10).result
    assert result.successful
    event = event_with("changed_parameters", ["rate_hz", "frame"])  # one event for an atomic set
    assert [from_parameter_value(p.value) for p in event.changed_parameters] == [15.0, "tool"]
    for n in (node, watcher, cli):
        n.destroy()


def description_dict(description: Any) -> dict[str, Any]:
    """A returned TypeDescription in the form rihs hashes (fields without default_value)."""

    def individual(d: Any) -> dict[str, Any]:
        return {"type_name": d.type_name, "fields": [
            {"name": f.name, "type": {"type_id": int(f.type.type_id), "capacity": int(f.type.capacity),
                                      "string_capacity": int(f.type.string_capacity),
                                      "nested_type_name": f.type.nested_type_name}} for f in d.fields]}

    return {"type_description": individual(description.type_description),
            "referenced_type_descriptions": [individual(d) for d in description.referenced_type_descriptions]}


def test_get_type_description(make_context) -> None:
    assert is_available() and msgs.type_hash(SERVICE_TYPE) == (
        "RIHS01_69b9c19c1021405984cc60dbbb1edceb147a6538b411d812ba6afabeed962cd5")  # as ROS 2 Jazzy's
    node = Node("described", context=make_context())
    node.create_publisher("sensor_msgs/msg/JointState", "joint_states", 10)
    node.create_service("std_srvs/srv/Trigger", "reset", lambda r: make("std_srvs/srv/Trigger_Response"))
    cli = Node("type_cli", context=make_context(), start_parameter_services=False)
    client = cli.create_client(SERVICE_TYPE, "/described/get_type_description")
    assert client.wait_for_service(10)

    def ask(typename: str, type_hash: str | None = None) -> Any:
        return client.call(make(f"{SERVICE_TYPE}_Request", type_name=typename,
                                type_hash=type_hash or msgs.type_hash(typename), include_type_sources=True), 10)

    for typename in ("sensor_msgs/msg/JointState", "std_srvs/srv/Trigger", "rcl_interfaces/msg/ParameterEvent"):
        reply = ask(typename)
        assert reply.successful and reply.failure_reason == ""
        assert reply.type_description.type_description.type_name == typename
        assert rihs.hash_type_description(description_dict(reply.type_description)) == msgs.type_hash(typename)
    names = [d.type_name for d in ask("sensor_msgs/msg/JointState").type_description.referenced_type_descriptions]
    assert names == ["builtin_interfaces/msg/Time", "std_msgs/msg/Header"]
    unused = ask("geometry_msgs/msg/Twist")
    assert not unused.successful and unused.failure_reason == "Type not currently in use by this node"
    mismatch = ask("sensor_msgs/msg/JointState", "RIHS01_" + "0" * 64)
    assert not mismatch.successful and mismatch.failure_reason == "Type not currently in use by this node"
    garbage = ask("sensor_msgs/msg/JointState", "not-a-hash")
    assert not garbage.successful and garbage.failure_reason == "Failed to parse type hash"
    node.destroy()
    cli.destroy()


def test_start_type_description_service_false(make_context) -> None:
    node = Node("quiet", context=make_context(), argv=["--ros-args", "-p", "start_type_description_service:=false"])
    assert node.get_parameter("start_type_description_service") is False
    assert all(getattr(e, "srv_typename", "") != SERVICE_TYPE for e in node._entities)
    node.destroy()


def test_humble_has_no_type_description(monkeypatch) -> None:
    monkeypatch.setenv("LEROBOT_ROS_DISTRO", "humble")
    assert not is_available()
    assert msgs.type_hash(CLOCK) == rihs.TYPE_HASH_NOT_SUPPORTED


def test_builtin_endpoints_in_graph_tools(make_context, cli_env, capsys) -> None:
    node = Node("listed", "/arm", context=make_context())
    assert wait_for(lambda: "/parameter_events" in node.get_topic_names_and_types())
    capsys.readouterr()
    assert topic_main(["list", "-t"]) == 0
    assert "/parameter_events [rcl_interfaces/msg/ParameterEvent]" in capsys.readouterr().out.splitlines()
    assert service_main(["list", "-t"]) == 0
    services = capsys.readouterr().out.splitlines()
    assert "/arm/listed/get_type_description [type_description_interfaces/srv/GetTypeDescription]" in services
    assert "/arm/listed/set_parameters [rcl_interfaces/srv/SetParameters]" in services
    node.destroy()
