"""The two command-line entry points and `lerobot-core info`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from lerobot_core import __version__


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, timeout=120)


def test_info_json_reports_versions_codecs_devices_and_paths() -> None:
    proc = _run("lerobot_core", "info", "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["lerobot_core"] == __version__
    assert report["python"].startswith(f"{sys.version_info.major}.{sys.version_info.minor}")
    assert report["packages"]["torch"] and report["packages"]["av"] and report["packages"]["pyarrow"]
    assert report["packages"]["eclipse-zenoh"], "zenoh is installed with the [all] extra"
    assert "libsvtav1" in report["video_codecs"]["encoders"]
    assert "libdav1d" in report["video_codecs"]["decoders"] or "av1" in report["video_codecs"]["decoders"]
    assert report["devices"]["cpu_threads"] >= 1
    assert Path(report["paths"]["HF_LEROBOT_HOME"]).name == "lerobot"


def test_info_text_and_env_override(tmp_path: Path) -> None:
    env_home = tmp_path / "lr"
    proc = subprocess.run(
        [sys.executable, "-m", "lerobot_core", "info"],
        capture_output=True, text=True, timeout=120,
        env={**__import__("os").environ, "HF_LEROBOT_HOME": str(env_home)},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert f"HF_LEROBOT_HOME: {env_home}" in proc.stdout
    assert "video encoders:" in proc.stdout


def test_help_lists_commands_and_unknown_command_fails() -> None:
    ok = _run("lerobot_core", "--help")
    assert ok.returncode == 0 and "info" in ok.stdout and "demo" in ok.stdout
    bad = _run("lerobot_core", "no-such-command")
    assert bad.returncode == 2 and "unknown command 'no-such-command'" in bad.stderr


def test_console_scripts_are_installed() -> None:
    bindir = Path(sys.executable).parent
    for script in ("lerobot-core", "lerobot-ros"):
        assert (bindir / script).exists(), f"{script} missing: run scripts/setup"
    proc = subprocess.run([str(bindir / "lerobot-core"), "--version"], capture_output=True, text=True)
    assert proc.stdout.strip() == __version__


def test_lerobot_ros_share_points_at_launch_urdf_config() -> None:
    proc = subprocess.run([sys.executable, "-m", "lerobot_ros.cli", "share"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    share = Path(proc.stdout.strip())
    for sub in ("launch", "urdf", "config"):
        assert (share / sub).is_dir()


def _subcommands(module: str) -> list[str]:
    import importlib

    return list(importlib.import_module(module).COMMANDS)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("cli", "command"),
    [("lerobot_core.cli", c) for c in _subcommands("lerobot_core.cli")]
    + [("lerobot_ros.cli", c) for c in _subcommands("lerobot_ros.cli")],
)
def test_every_subcommand_prints_help(cli: str, command: str) -> None:
    """`--help` works for every sub-command (argparse and draccus help text included)."""
    proc = subprocess.run([sys.executable, "-m", cli, command, "--help"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "usage" in (proc.stdout + proc.stderr).lower()
