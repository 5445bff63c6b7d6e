"""ROS name rules (rcl/rmw): validation, expansion of ~, relative names and substitutions, remapping."""

from __future__ import annotations

import pytest
from lerobot_ros.runtime import names
from lerobot_ros.runtime.names import NameError_


@pytest.mark.parametrize("name", ["talker", "_x", "a1_b2", "N" * 255])
def test_valid_node_names(name: str) -> None:
    assert names.validate_node_name(name) == name


@pytest.mark.parametrize(("name", "why"), [
    ("", "non-empty"), ("1talker", "number"), ("my-node", "letters"), ("a/b", "letters"), ("~x", "letters"),
    ("N" * 256, "longer"),
])  # fmt: skip
def test_invalid_node_names_say_why(name: str, why: str) -> None:
    with pytest.raises(NameError_, match=why):
        names.validate_node_name(name)


def test_namespaces() -> None:
    assert names.validate_namespace("/") == "/"
    assert names.validate_namespace("/a/b_2") == "/a/b_2"
    assert names.normalize_namespace("") == "/" and names.normalize_namespace(None) == "/"
    assert names.normalize_namespace("robot") == "/robot"
    for bad, why in [
        ("a", "absolute"),
        ("/a/", "end"),
        ("/a//b", "empty token"),
        ("/1a", "number"),
        ("/a-b", "letters"),
    ]:
        with pytest.raises(NameError_, match=why):
            names.validate_namespace(bad)


def test_fully_qualified_node_name() -> None:
    assert names.fully_qualified_node_name("/", "talker") == "/talker"
    assert names.fully_qualified_node_name("", "talker") == "/talker"
    assert names.fully_qualified_node_name("/robot/arm", "driver") == "/robot/arm/driver"


@pytest.mark.parametrize(("name", "node", "ns", "expected"), [
    # the table of rcl's expand_topic_name documentation
    ("ping", "my_node", "/", "/ping"),
    ("ping", "my_node", "/my_ns", "/my_ns/ping"),
    ("/ping", "my_node", "/my_ns", "/ping"),
    ("~", "my_node", "/", "/my_node"),
    ("~", "my_node", "/my_ns", "/my_ns/my_node"),
    ("~/ping", "my_node", "/", "/my_node/ping"),
    ("~/ping", "my_node", "/my_ns", "/my_ns/my_node/ping"),
    ("{node}", "my_node", "/my_ns", "/my_ns/my_node"),
    ("{node}/ping", "my_node", "/my_ns", "/my_ns/my_node/ping"),
    ("{ns}/ping", "my_node", "/my_ns", "/my_ns/ping"),
    ("{namespace}/ping", "my_node", "/my_ns", "/my_ns/ping"),
    ("{ns}/ping", "my_node", "/", "/ping"),
    ("/{node}/ping", "my_node", "/my_ns", "/my_node/ping"),
    ("foo/bar", "n", "", "/foo/bar"),
])  # fmt: skip
def test_expand_topic_name(name: str, node: str, ns: str, expected: str) -> None:
    assert names.expand_topic_name(name, node, ns) == expected


@pytest.mark.parametrize(("name", "why"), [
    ("", "non-empty"), ("foo/", "end with"), ("a~b", "first character"), ("~foo", "followed by"),
    ("foo bar", "not allowed"), ("{node", "unmatched"), ("node}", "unmatched"), ("1foo", "number"),
    ("a//b", "repeated"), ("{bad-sub}", "not allowed"),
])  # fmt: skip
def test_invalid_topic_names(name: str, why: str) -> None:
    with pytest.raises(NameError_, match=why):
        names.expand_topic_name(name, "n", "/")


def test_unknown_substitution_is_an_error_naming_it() -> None:
    with pytest.raises(NameError_, match=r"unknown substitution \{robot\}"):
        names.expand_topic_name("{robot}/x", "n", "/")
    assert names.expand_topic_name("{robot}/x", "n", "/", {"robot": "so101"}) == "/so101/x"


def test_full_topic_name_validation() -> None:
    assert names.validate_full_topic_name("/a/b") == "/a/b"
    for bad in ["a", "/", "/a/", "/a//b", "/a/1b", "/a/b~"]:
        with pytest.raises(NameError_):
            names.validate_full_topic_name(bad)


def test_remaps_expand_both_sides_and_first_match_wins() -> None:
    remaps = [("chatter", "talk"), ("/ns/chatter", "other"), ("~/priv", "/abs"), ("__node", "ignored")]
    assert names.apply_remaps("/ns/chatter", remaps, "n", "/ns") == "/ns/talk"
    assert names.apply_remaps("/ns/n/priv", remaps, "n", "/ns") == "/abs"
    assert names.apply_remaps("/ns/unrelated", remaps, "n", "/ns") == "/ns/unrelated"
    # a relative rule matches only the name it expands to in the node's namespace
    assert names.apply_remaps("/chatter", remaps, "n", "/ns") == "/chatter"
    assert names.resolve_topic_name("chatter", "n", "/", [("/chatter", "{node}/out")]) == "/n/out"
