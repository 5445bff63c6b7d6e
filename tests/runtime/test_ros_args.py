"""`--ros-args` parsing as rcl does it: remaps, node name/namespace, typed -p values, files, log levels."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lerobot_ros.runtime.ros_args import RosArgsError, format_param_value, parse_param_value, parse_ros_args


def test_full_command_line() -> None:
    argv = ["--flag", "x", "--ros-args", "-r", "chatter:=talk", "--remap", "__node:=talker2", "-r", "__ns:=/robot",
            "-p", "rate:=30", "--param", "name:=hello", "--params-file", "a.yaml", "--log-level", "DEBUG",
            "--", "tail", "--ros-args", "-p", "ratio:=0.5", "--params-file", "b.yaml"]  # fmt: skip
    args = parse_ros_args(argv)
    assert args.remaining == ["--flag", "x", "tail"]
    assert args.remaps == [("chatter", "talk")]
    assert (args.node_name, args.namespace) == ("talker2", "/robot")
    assert args.params == {"rate": 30, "name": "hello", "ratio": 0.5}
    assert args.params_files == ["a.yaml", "b.yaml"]
    assert args.log_level == "debug"


def test_no_ros_args_leaves_everything_remaining() -> None:
    args = parse_ros_args(["a", "-p", "x:=1"])
    assert args.remaining == ["a", "-p", "x:=1"] and not args.params and args.to_argv() == []


@pytest.mark.parametrize(("text", "value"), [
    ("30", 30), ("-2", -2), ("0.5", 0.5), ("1e3", 1000.0), ("-1.5E-2", -0.015), ("true", True), ("False", False),
    ("yes", True), ("hello", "hello"), ("'30'", "30"), ('"true"', "true"), ("[1, 2]", [1, 2]),
    ("[a, b]", ["a", "b"]), ("[1.0, 2]", [1.0, 2]), ("/dev/ttyACM0", "/dev/ttyACM0"),
])  # fmt: skip
def test_param_values_are_yaml_typed(text: str, value: object) -> None:
    parsed = parse_param_value(text)
    assert parsed == value and type(parsed) is type(value)


def test_empty_param_value_is_an_error() -> None:
    with pytest.raises(RosArgsError, match="empty or null"):
        parse_ros_args(["--ros-args", "-p", "x:="])


@given(st.one_of(
    st.booleans(), st.integers(-(2**63), 2**63 - 1), st.floats(allow_nan=False),
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=20),
    st.lists(st.integers(-1000, 1000), max_size=4), st.lists(st.text("abc1e ", max_size=4), max_size=3),
))  # fmt: skip
def test_format_param_value_round_trips(value: object) -> None:
    text = format_param_value(value)
    assert parse_param_value(text) == value


def test_first_node_and_namespace_remap_win_and_targeted_forms() -> None:
    argv = ["--ros-args", "-r", "talker:__node:=renamed", "-r", "__node:=a", "-r", "__node:=b",
            "-r", "listener:chatter:=heard", "-r", "chatter:=global", "-p", "talker:rate:=5", "-p", "rate:=1",
            "-r", "talker:__ns:=/t"]  # fmt: skip
    args = parse_ros_args(argv)
    assert args.node_name == "a" and args.namespace is None and args.params == {"rate": 1}
    talker = args.for_node("talker")
    assert (talker.node_name, talker.namespace, talker.params) == ("renamed", "/t", {"rate": 5})
    assert talker.remaps == [("chatter", "global")]
    listener = args.for_node("listener")
    assert listener.node_name == "a" and listener.remaps == [("chatter", "heard"), ("chatter", "global")]
    assert listener.params == {"rate": 1}


def test_to_argv_round_trips() -> None:
    argv = ["--ros-args", "-r", "a:=b", "-r", "n:c:=d", "-p", "x:=[1, 2]", "-p", "s:='1e3'", "-p", "n:y:=true",
            "--params-file", "f.yaml", "--log-level", "warn", "--log-level", "rcl:=error"]  # fmt: skip
    args = parse_ros_args(argv)
    again = parse_ros_args(args.to_argv())
    assert again == args
    assert again.params["s"] == "1e3" and again.logger_levels == {"rcl": "error"}


@pytest.mark.parametrize(("argv", "match"), [
    (["--ros-args", "-r", "nothing"], "expected"), (["--ros-args", "-p"], "needs a value"),
    (["--ros-args", "--params-file", "--"], "needs a value"), (["--ros-args", "--log-level", "loud"], "level must"),
    (["--ros-args", "--bogus"], "unknown ROS argument '--bogus'"), (["--ros-args", "-r", "a:="], "empty replacement"),
])  # fmt: skip
def test_errors_name_the_argument(argv: list[str], match: str) -> None:
    with pytest.raises(RosArgsError, match=match):
        parse_ros_args(argv)


def test_other_rcl_flags_are_accepted() -> None:
    args = parse_ros_args(["--ros-args", "-e", "/enc", "--log-config-file", "l.conf", "--disable-rosout-logs",
                           "--enable-stdout-logs", "--disable-external-lib-logs"])  # fmt: skip
    assert args.enclave == "/enc" and args.log_config_file == "l.conf"
    assert args.log_flags == {"rosout": False, "stdout": True, "external_lib": False}
