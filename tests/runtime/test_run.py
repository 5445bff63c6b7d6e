"""`lerobot-ros run <node>` resolves the same table as setup.py's console scripts (`ros2 run lerobot_ros <node>`)."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from lerobot_ros import run

SETUP = Path(run.__file__).resolve().parents[1] / "setup.py"


def test_node_table_is_setup_py_nodes_and_the_installed_console_scripts() -> None:
    table = run.node_table()
    assert table["demo_talker"] == "lerobot_ros.nodes.demo_talker:main"
    assert table["demo_listener"] == "lerobot_ros.nodes.demo_listener:main"
    tree = ast.parse(SETUP.read_text())
    assert any(isinstance(s, ast.AnnAssign) and getattr(s.target, "id", "") == "NODES" for s in tree.body)
    scripts = {ep.name: ep.value for ep in metadata.distribution("lerobot-ros").entry_points
               if ep.group == "console_scripts"}  # fmt: skip
    for name, target in table.items():
        assert scripts.get(name) == target, (
            f"reinstall: pip install -e ros2_ws/src/lerobot_ros ({name} missing)"
        )


def test_cli_list_help_and_unknown(capsys: pytest.CaptureFixture[str]) -> None:
    assert run.main(["--list"]) == 0
    assert "demo_talker  (lerobot_ros.nodes.demo_talker:main)" in capsys.readouterr().out
    assert run.main(["lerobot_ros", "nope"]) == 2
    assert "has no executable 'nope'" in capsys.readouterr().err
    assert run.main([]) == 2 and run.main(["--help"]) == 0


@pytest.mark.e2e
def test_run_and_console_script_behave_the_same(router_env: dict[str, str]) -> None:
    args = ["--ros-args", "-r", "__node:=probe", "-p", "count:=2", "-p", "rate:=20.0", "-p", "greeting:=hi"]
    script = shutil.which("demo_talker", path=str(Path(sys.executable).parent))
    assert script, "the demo_talker console script is not installed"
    outputs = []
    for cmd in (
        [sys.executable, "-m", "lerobot_ros.cli", "run", "lerobot_ros", "demo_talker", *args],
        [script, *args],
    ):
        proc = subprocess.run(cmd, env=router_env, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        outputs.append([line.split("]: ", 1)[1] for line in proc.stderr.splitlines() if "[probe]: " in line])
    assert outputs[0] == outputs[1] == ["Publishing: 'hi: 1'", "Publishing: 'hi: 2'"]
