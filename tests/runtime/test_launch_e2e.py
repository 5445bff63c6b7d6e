"""`lerobot-ros launch` end to end: real router, real node processes, output forwarding, SIGINT shutdown, exits."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from helpers.zenoh_router import free_port
from lerobot_ros.launch_runner.runner import router_answers


def _launch(args: list[str], env: dict[str, str] | None = None) -> tuple[subprocess.Popen[str], list[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "lerobot_ros.cli", "launch", *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, env=env, start_new_session=True,
    )  # fmt: skip
    lines: list[str] = []

    def read() -> None:
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))

    threading.Thread(target=read, daemon=True).start()
    return proc, lines


def _wait_for(lines: list[str], predicate, timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(predicate(line) for line in list(lines)):
            return True
        time.sleep(0.1)
    return False


@pytest.mark.e2e
def test_demo_launch_exchanges_messages_and_stops_cleanly_on_sigint(tmp_path: Path) -> None:
    endpoint = f"tcp/127.0.0.1:{free_port()}"
    env = {
        k: v for k, v in os.environ.items() if k not in ("ZENOH_CONFIG_OVERRIDE", "ZENOH_SESSION_CONFIG_URI")
    }
    proc, lines = _launch(["lerobot_ros", "demo_talker_listener.launch.yaml", "rate:=10.0", "namespace:=e2e",
                           "--router", endpoint, "--log-dir", str(tmp_path)], env)  # fmt: skip
    try:

        def heard(line: str) -> bool:
            return line.startswith("[listener]") and "[e2e.listener]: I heard: [Hello World: " in line

        # the listener may join after the first messages (volatile QoS): wait for three of them
        assert _wait_for(lines, lambda _: sum(map(heard, list(lines))) >= 3), "\n".join(lines)
        assert router_answers(endpoint)  # the launcher started a router there
        assert any(f"started a Zenoh router on {endpoint}" in line for line in lines)
        assert any(
            line.startswith("[talker]") and "[e2e.talker]: Publishing: 'Hello World: 1'" in line
            for line in lines
        )
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0, "\n".join(lines)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    time.sleep(0.3)
    text = "\n".join(lines)
    assert "[INFO] [talker]: process has finished cleanly" in text
    assert "[INFO] [listener]: process has finished cleanly" in text
    assert "process has died" not in text
    assert not router_answers(endpoint), "the router the launcher started must be stopped"


@pytest.mark.e2e
def test_exits_are_reported_with_codes_and_never_restarted(tmp_path: Path, zenoh_router: str,
                                                           router_env: dict[str, str]) -> None:  # fmt: skip
    launch = tmp_path / "exits.launch.yaml"
    launch.write_text(
        "launch:\n"
        "- node: {pkg: lerobot_ros, exec: demo_talker, name: finite, output: screen,\n"
        "         param: [{name: count, value: 2}, {name: rate, value: 20.0}]}\n"
        "- node: {pkg: lerobot_ros, exec: demo_talker, name: broken, param: [{name: rate, value: -1.0}]}\n"
    )
    proc, lines = _launch([str(launch), "--router", zenoh_router, "--log-dir", str(tmp_path)], router_env)
    try:
        assert proc.wait(timeout=60) == 1, "\n".join(lines)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    time.sleep(0.3)
    text = "\n".join(lines)
    assert f"using the Zenoh router answering on {zenoh_router}" in text
    assert "[finite] " in text and "Publishing: 'Hello World: 2'" in text
    assert "[INFO] [finite]: process has finished cleanly" in text
    assert "[ERROR] [broken]: process has died" in text and "exit code 2" in text
    assert "parameter 'rate' must be > 0" in text  # stderr of an output=log node still reaches the screen
    assert text.count("process started") == 2  # nothing was restarted
    log = next(tmp_path.glob("launch-*.log")).read_text()
    assert "[broken]" in log
