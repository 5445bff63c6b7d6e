"""The YAML launch subset: args, let, set_env, node attributes, params, remaps, include, group/namespaces,
substitutions, conditions, and clear errors for anything else (no processes started here)."""

from __future__ import annotations

from pathlib import Path

import pytest
from lerobot_ros.launch_runner import runner
from lerobot_ros.launch_runner.description import LaunchError, load_launch_file
from lerobot_ros.launch_runner.substitutions import SubstitutionError, substitute
from lerobot_ros.runtime.params import ParameterStore
from lerobot_ros.runtime.ros_args import parse_ros_args

DATA = Path(__file__).parent / "data" / "launch"


def _load(text: str, tmp_path: Path, args: dict[str, str] | None = None, **kwargs):
    path = tmp_path / "t.launch.yaml"
    path.write_text(text)
    return load_launch_file(path, args, **kwargs)


def test_full_example(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAUNCH_TEST_HOME", "/home/test")
    nodes, declared = load_launch_file(DATA / "main.launch.yaml", {"robot": "koch"})
    assert [(n.label, n.namespace) for n in nodes] == [
        ("talker", None), ("demo_listener", None), ("inner", "/robot/arm"), ("absolute", "/abs"),
        ("from_koch", "/inner_ns"), ("last", "/leaked"),
    ]  # fmt: skip
    talker = nodes[0]
    assert talker.args == ["--flag", "two words"] and talker.output == "screen"
    assert talker.ros_args == ["--log-level", "debug"]
    assert talker.params == [
        str(DATA / "params.yaml"),
        {"rate": 10.0, "gains": {"p": 1.5, "names": ["a", "koch"]}},
    ]
    assert talker.remaps == [("chatter", "chatter_koch")]
    assert talker.env == {"DEMO_ENV": "from_launch", "NODE_ENV": "/home/test"}
    assert nodes[1].output == "log" and nodes[1].name is None
    assert nodes[4].params == [{"rate": "10.0"}] or nodes[4].params == [{"rate": 10.0}]
    assert [a.name for a in declared] == ["rate", "use_listener", "robot", "inner_name", "rate"]
    assert declared[0].description == "talker rate in Hz" and declared[0].default == "10.0"


def test_ros_argv_is_what_launch_ros_builds_and_nodes_read_it(tmp_path: Path) -> None:
    nodes, _ = load_launch_file(DATA / "main.launch.yaml", {"use_listener": "false"})
    assert [n.label for n in nodes][:2] == ["talker", "inner"]
    written: list[dict] = []

    def param_file(params: dict) -> str:
        written.append(params)
        path = tmp_path / f"p{len(written)}.yaml"
        import yaml

        path.write_text(yaml.safe_dump({"/**": {"ros__parameters": params}}))
        return str(path)

    argv = nodes[0].ros_argv(param_file)
    assert argv == ["--ros-args", "-r", "__node:=talker", "--params-file", str(DATA / "params.yaml"),
                    "--params-file", str(tmp_path / "p1.yaml"), "-r", "chatter:=chatter_so101",
                    "--log-level", "debug"]  # fmt: skip
    args = parse_ros_args(["--flag", *argv]).for_node("demo_talker")
    assert args.node_name == "talker" and args.remaining == ["--flag"] and args.log_level == "debug"
    store = ParameterStore("/talker", args.params_files, args.params)
    assert store.declare("greeting", "") == "hello from file"
    assert store.declare("rate", 1.0) == 10.0 and store.declare("gains.names", ["x"]) == ["a", "so101"]
    assert nodes[1].ros_argv(param_file) == ["--ros-args", "-r", "__node:=inner", "-r", "__ns:=/robot/arm"]


def test_command_line_args_and_includes_override_defaults(tmp_path: Path) -> None:
    nodes, _ = load_launch_file(DATA / "main.launch.yaml", {"rate": "2.5", "use_listener": "0"})
    assert nodes[0].params[1]["rate"] == 2.5 and "demo_listener" not in [n.label for n in nodes]


@pytest.mark.parametrize(("text", "match"), [
    ("launch:\n- timer: {period: 1}\n", "unsupported launch entity `timer`"),
    ("launch:\n- node: {pkg: lerobot_ros, exec: a, respawn: true}\n", r"unsupported attribute\(s\) \['respawn'\] in `node`"),
    ("launch:\n- node: {pkg: demo_nodes_cpp, exec: talker}\n", "package 'demo_nodes_cpp' cannot run without ROS"),
    ("launch:\n- node: {pkg: lerobot_ros}\n", "`node` needs the attribute `exec`"),
    ("launch:\n- node: {pkg: lerobot_ros, exec: a, name: 'bad-name'}\n", "invalid node name"),
    ("launch:\n- node: {pkg: lerobot_ros, exec: a, output: tty}\n", "output 'tty'"),
    ("launch:\n- arg: {name: needed}\n", "launch argument 'needed' has no default"),
    ("launch:\n- arg: {name: m, default: x, choices: [a, b]}\n", "is not one of"),
    ("launch:\n- let: {name: x, value: $(eval 1+1)}\n", r"unsupported substitution \$\(eval"),
    ("launch:\n- let: {name: x, value: $(var nope)}\n", "launch argument 'nope' is not set"),
    ("launch:\n- node: {pkg: lerobot_ros, exec: a, if: maybe}\n", "evaluated to 'maybe'"),
    ("launch:\n- include: {file: other.launch.py}\n", "only YAML launch files"),
    ("launch:\n- include: {file: missing.launch.yaml}\n", "cannot read launch file"),
    ("launch:\n- include: {file: t.launch.yaml}\n", "includes itself"),
    ("nodes: []\n", "single key `launch:`"),
    ("launch:\n- node: {pkg: lerobot_ros, exec: a, param: [{name: x}]}\n", "exactly one of `value`"),
    ("launch:\n- node: {pkg: lerobot_ros, exec: a, remap: chatter}\n", "must be a list of mappings"),
    ("launch:\n- group: {forwarding: false, children: []}\n", r"\['forwarding'\] in `group`"),
    ("launch:\n- node: {pkg: lerobot_ros, exec: nope}\n", "has no executable 'nope'"),
])  # fmt: skip
def test_unsupported_or_bad_constructs_name_construct_and_file(tmp_path: Path, text: str, match: str) -> None:
    with pytest.raises(LaunchError, match=match) as err:
        _load(text, tmp_path, executables={"a"})
    assert "t.launch.yaml" in str(err.value)


def test_substitution_parser() -> None:
    def share(pkg: str) -> Path:
        if pkg != "lerobot_ros":
            raise LookupError(f"package {pkg!r} not found")
        return Path("/share/lerobot_ros")

    here = Path("/ws/launch/x.launch.yaml")
    env = {"A": "1", "B": "two words"}
    assert substitute("$(var A)-$(var B)", env, here, share) == "1-two words"
    assert substitute("$(find-pkg-share lerobot_ros)/config", {}, here, share) == "/share/lerobot_ros/config"
    assert substitute("$(dirname)/$(filename)", {}, here, share) == "/ws/launch/x.launch.yaml"
    assert substitute("$(env LEROBOT_SURELY_UNSET 'dflt value')", {}, here, share) == "dflt value"
    assert substitute("$(optenv LEROBOT_SURELY_UNSET)", {}, here, share) == ""
    assert substitute("$(env LEROBOT_SURELY_UNSET $(var A)x)", env, here, share) == "1x"
    for text, match in [("$(var A", "unterminated"), ("$()", "empty"), ("$(var)", "takes 1"),
                        ("$(env LEROBOT_SURELY_UNSET)", "not set"), ("$(find-pkg-share nope)", "not found"),
                        ("$(command ls)", "unsupported substitution")]:  # fmt: skip
        with pytest.raises(SubstitutionError, match=match):
            substitute(text, env, here, share)


def test_find_pkg_share_uses_the_package_share_directory(tmp_path: Path) -> None:
    nodes, _ = _load(
        "launch:\n- node: {pkg: lerobot_ros, exec: a, param: [{from: '$(find-pkg-share lerobot_ros)/config/x.yaml'}]}\n",
        tmp_path,
    )
    from lerobot_ros.share import package_share_directory

    assert nodes[0].params == [str(package_share_directory() / "config" / "x.yaml")]


def test_resolve_launch_file_forms(tmp_path: Path) -> None:
    path = tmp_path / "x.launch.yaml"
    path.write_text("launch: []\n")
    assert runner.resolve_launch_file([str(path), "a:=1"]) == (path, ["a:=1"])
    with pytest.raises(LaunchError, match="not found"):
        runner.resolve_launch_file(["nope.launch.yaml"])
    with pytest.raises(LaunchError, match="was not found in the share directory"):
        runner.resolve_launch_file(["lerobot_ros", "nope.launch.yaml"])
    with pytest.raises(LaunchError, match="no launch file"):
        runner.resolve_launch_file([])


def test_cli_show_args_print_and_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "x.launch.yaml"
    path.write_text("launch:\n- arg: {name: rate, default: '5', description: Hz}\n"
                    "- node: {pkg: lerobot_ros, exec: run_probe, name: n1, param: [{name: r, value: $(var rate)}]}\n")  # fmt: skip
    assert runner.main([str(path), "--show-args"]) == 0
    assert "'rate':\n        Hz\n        (default: '5')" in capsys.readouterr().out
    assert (
        runner.main([str(path), "-p", "rate:=7", "--log-dir", str(tmp_path)]) == 2
    )  # run_probe is not a node
    assert "no executable 'run_probe'" in capsys.readouterr().err
    assert runner.main([str(path), "bad-arg"]) == 2
    assert "expected name:=value" in capsys.readouterr().err
    assert runner.main([str(path), "--router", "udp/x", "--print"]) == 2
    assert "tcp/<host>:<port>" in capsys.readouterr().err


def test_router_endpoint_check() -> None:
    import socket

    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        assert runner.router_answers(f"tcp/127.0.0.1:{port}")
    assert not runner.router_answers(f"tcp/127.0.0.1:{port}", timeout=0.2)
    assert runner._host_port("tcp/[::]:7447") == ("::1", 7447)
    assert runner._host_port("tcp/localhost:7447") == ("127.0.0.1", 7447)
