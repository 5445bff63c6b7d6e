"""rcl_interfaces parameter services of native-backend nodes (what `ros2 param` calls), over real Zenoh."""

from __future__ import annotations

from lerobot_ros.runtime import Node, make, msgs
from lerobot_ros.runtime.param_services import from_parameter_value, to_parameter_value


def test_parameter_value_roundtrip() -> None:
    for value in (True, 3, 2.5, "x", b"\x00\x07", [True, False], [1, 2], [0.5], ["a", "b"]):
        back = from_parameter_value(msgs.deserialize(msgs.serialize(to_parameter_value(value)),
                                                     "rcl_interfaces/msg/ParameterValue"))
        assert back == value and type(back) is type(value)
    assert from_parameter_value(to_parameter_value(None)) is None


def test_ros2_param_services(make_context) -> None:
    node = Node("tuned", "/robot", context=make_context(), argv=["--ros-args", "-p", "gains.kp:=2.0"])
    node.declare_parameter("rate_hz", 30.0, "publishing rate")
    node.declare_parameter("gains.kp", 1.0)
    node.declare_parameter("frame", "base", read_only=True)
    cli = Node("param_cli", context=make_context(), start_parameter_services=False)

    def call(srv: str, **fields):
        client = cli.create_client(f"rcl_interfaces/srv/{srv}", f"/robot/tuned/{srv_name(srv)}")
        assert client.wait_for_service(5)
        return client.call(make(f"rcl_interfaces/srv/{srv}_Request", **fields), 5)

    listed = call("ListParameters").result
    assert list(listed.names) == ["frame", "gains.kp", "rate_hz", "start_type_description_service", "use_sim_time"]
    assert list(listed.prefixes) == ["gains"]
    assert list(call("ListParameters", prefixes=["gains"]).result.names) == ["gains.kp"]
    values = call("GetParameters", names=["rate_hz", "gains.kp", "missing"]).values
    assert [from_parameter_value(v) for v in values] == [30.0, 2.0, None]
    assert list(call("GetParameterTypes", names=["rate_hz", "frame"]).types) == [3, 4]
    desc = call("DescribeParameters", names=["rate_hz", "frame"]).descriptors
    assert desc[0].description == "publishing rate" and desc[1].read_only
    param = make("rcl_interfaces/msg/Parameter", name="rate_hz", value=to_parameter_value(60))
    bad = make("rcl_interfaces/msg/Parameter", name="rate_hz", value=to_parameter_value("fast"))
    ro = make("rcl_interfaces/msg/Parameter", name="frame", value=to_parameter_value("tool"))
    results = call("SetParameters", parameters=[param, bad, ro]).results
    assert [r.successful for r in results] == [True, False, False] and "read-only" in results[2].reason
    assert node.get_parameter("rate_hz") == 60.0
    atomic = call("SetParametersAtomically", parameters=[
        make("rcl_interfaces/msg/Parameter", name="gains.kp", value=to_parameter_value(5.0)), bad]).result
    assert not atomic.successful and node.get_parameter("gains.kp") == 2.0  # all or nothing
    node.destroy()
    cli.destroy()


def srv_name(srv: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in srv).lstrip("_")
