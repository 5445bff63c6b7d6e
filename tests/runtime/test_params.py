"""Parameters: ROS YAML files (node keys, namespaces, wildcards, nesting), overrides, types and errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from lerobot_ros.runtime.params import ParameterError, ParameterStore, load_param_files
from lerobot_ros.runtime.ros_args import parse_ros_args

FILE = """
/**:
  ros__parameters:
    use_sim_time: false
    rate: 1.0
talker:
  ros__parameters:
    rate: 10
    topic:
      name: chatter
      depth: 5
    gains: [1.0, 2.5]
    names: [a, b]
/robot:
  driver:
    ros__parameters: {port: /dev/ttyACM0, rate: 2.0}
/robot/*:
  ros__parameters: {in_robot: true}
/**/camera:
  ros__parameters: {fps: 30}
"""


@pytest.fixture
def params_file(tmp_path: Path) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text(FILE)
    return path


def test_node_keys_wildcards_and_nesting(params_file: Path) -> None:
    assert load_param_files([params_file], "/talker") == {
        "use_sim_time": False, "rate": 10, "topic.name": "chatter", "topic.depth": 5,
        "gains": [1.0, 2.5], "names": ["a", "b"],
    }  # fmt: skip
    assert load_param_files([params_file], "/robot/driver") == {
        "use_sim_time": False, "rate": 2.0, "port": "/dev/ttyACM0", "in_robot": True,
    }  # fmt: skip
    assert load_param_files([params_file], "/robot/arm/camera") == {
        "use_sim_time": False,
        "rate": 1.0,
        "fps": 30,
    }
    assert load_param_files([params_file], "/camera")["fps"] == 30
    # `talker` means /talker only; /* matches exactly one token
    assert "topic.name" not in load_param_files([params_file], "/ns/talker")
    assert "in_robot" not in load_param_files([params_file], "/robot/a/b")


def test_later_files_override_earlier(params_file: Path, tmp_path: Path) -> None:
    second = tmp_path / "second.yaml"
    second.write_text("/**:\n  ros__parameters:\n    rate: 99.0\n")
    assert load_param_files([params_file, second], "/talker")["rate"] == 99.0
    assert load_param_files([second, params_file], "/talker")["rate"] == 10


def test_store_precedence_override_file_default(params_file: Path) -> None:
    store = ParameterStore("/talker", [params_file], overrides={"names": ["z"]})
    assert (
        store.declare("rate", 5.0, description="Hz") == 10.0
    )  # file, integer promoted to the double default
    assert isinstance(store.get("rate"), float)
    assert store.declare("names", ["x"]) == ["z"]  # override beats file
    assert store.declare("missing", "dflt") == "dflt"
    assert store.declare("topic.depth", 10) == 5
    assert store.describe("rate").description == "Hz" and store.describe("rate").type == "double"
    assert store.names() == ["missing", "names", "rate", "topic.depth"]
    assert store.undeclared() == {"use_sim_time": str(params_file), "topic.name": str(params_file),
                                  "gains": str(params_file)}  # fmt: skip
    assert store.has("rate") and not store.has("gains")


def test_type_error_names_parameter_file_and_expected_type(params_file: Path) -> None:
    store = ParameterStore("/robot/driver", [params_file])
    with pytest.raises(ParameterError) as err:
        store.declare("port", 3)
    text = str(err.value)
    assert (
        "'port'" in text
        and "/robot/driver" in text
        and str(params_file) in text
        and "expected integer" in text
    )
    with pytest.raises(ParameterError, match=r"--ros-args -p gives 'x' of type string, expected bool"):
        ParameterStore("/n", overrides={"flag": "x"}).declare("flag", False)


def test_bool_is_not_an_integer_and_set_is_checked() -> None:
    store = ParameterStore("/n", overrides={"count": True})
    with pytest.raises(ParameterError, match="type bool, expected integer"):
        store.declare("count", 1)
    store.declare("gain", 1.0)
    assert store.set("gain", 2) == 2.0
    with pytest.raises(ParameterError, match=r"set\(\) gives 'a' of type string, expected double"):
        store.set("gain", "a")
    store.declare("frozen", "v", read_only=True)
    with pytest.raises(ParameterError, match="read-only"):
        store.set("frozen", "w")
    with pytest.raises(ParameterError, match="already declared"):
        store.declare("gain", 3.0)
    with pytest.raises(ParameterError, match="not declared"):
        store.get("nope")


def test_explicit_and_dynamic_types() -> None:
    store = ParameterStore("/n", overrides={"ids": [1, 2], "anything": "s", "blob": [1, 255]})
    assert store.declare("ids", type_="integer_array") == [1, 2]
    assert store.declare("empty", [], type_="string_array") == []
    assert store.declare("anything") == "s" and store.describe("anything").type is None
    assert store.set("anything", 3) == 3
    assert store.declare("blob", b"", type_=bytes) == b"\x01\xff"
    with pytest.raises(ParameterError, match="no default and no value"):
        store.declare("unset")
    with pytest.raises(ParameterError, match="empty list default"):
        store.declare("lst", [])
    with pytest.raises(ParameterError, match="unknown type"):
        store.declare("t", 1, type_="int64")


@pytest.mark.parametrize(("text", "match"), [
    ("- a\n- b\n", "expected a mapping"),
    ("talker:\n  rate: 3\n", "outside ros__parameters"),
    ("ros__parameters: {a: 1}\n", "top level"),
    ("talker:\n  ros__parameters: [1]\n", "must be a mapping"),
    ("talker:\n  ros__parameters: {a: [1, x]}\n", "one scalar type"),
    ("talker:\n  ros__parameters: {a: }\n", "no value"),
    ("talker:\n  ros__parameters: {a: {}}\n", "empty mapping"),
    ("talker: [\n", "not valid YAML"),
])  # fmt: skip
def test_bad_files_are_clear_errors(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ParameterError, match=match) as err:
        load_param_files([path], "/talker")
    assert str(path) in str(err.value)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match="cannot read parameter file .*nope.yaml"):
        ParameterStore("/n", [tmp_path / "nope.yaml"])


def test_from_command_line(params_file: Path) -> None:
    args = parse_ros_args(
        ["--ros-args", "--params-file", str(params_file), "-p", "rate:=2.5", "-p", "talker:x:=1"]
    )
    mine = args.for_node("talker")
    store = ParameterStore("/talker", mine.params_files, overrides=mine.params)
    assert store.declare("rate", 0.0) == 2.5 and store.declare("x", 0) == 1
