"""Recording fixtures: an in-process Zenoh router (as tests/runtime's), its environment for node processes,
Zenoh contexts for in-test nodes, and helpers to run the recorder node and call its services."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers.zenoh_router import open_router
from lerobot_ros.runtime.spin import reset_shutdown
from lerobot_ros.runtime.zenoh_backend import ZenohContext

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="session")
def zenoh_router() -> Iterator[str]:
    with open_router() as endpoint:
        yield endpoint


@pytest.fixture
def router_env(zenoh_router: str) -> dict[str, str]:
    env = dict(os.environ)
    env["ZENOH_CONFIG_OVERRIDE"] = f'connect/endpoints=["{zenoh_router}"];listen/endpoints=["tcp/127.0.0.1:0"]'
    env["ZENOH_ROUTER_CHECK_ATTEMPTS"] = "5"
    env["LEROBOT_ROS_BACKEND"] = "zenoh"
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")])
    return env


@pytest.fixture
def make_context(zenoh_router: str) -> Iterator[Callable[..., ZenohContext]]:
    contexts: list[ZenohContext] = []

    def factory() -> ZenohContext:
        ctx = ZenohContext(overrides={"connect/endpoints": json.dumps([zenoh_router]),
                                      "listen/endpoints": '["tcp/127.0.0.1:0"]'}, router_check_attempts=5)
        contexts.append(ctx)
        return ctx

    reset_shutdown()
    yield factory
    for ctx in contexts:
        ctx.close()


def start_node(exe: str, params: dict[str, Any], tmp_path: Path, env: dict[str, str], name: str | None = None,
               log_name: str | None = None) -> subprocess.Popen:
    """``python -m lerobot_ros.run <exe> --ros-args --params-file <params>``; output to a log file in tmp_path."""
    node = name or exe
    params_file = tmp_path / f"{node}_params.yaml"
    params_file.write_text(yaml.safe_dump({node: {"ros__parameters": params}}))
    log = open(tmp_path / f"{log_name or node}.log", "w")  # noqa: SIM115 (closed with the process)
    return subprocess.Popen([sys.executable, "-m", "lerobot_ros.run", exe, "--ros-args", "-r", f"__node:={node}",
                             "--params-file", str(params_file)], stdout=log, stderr=subprocess.STDOUT, env=env)


def start_publisher(tmp_path: Path, env: dict[str, str], *, bag: Path | None = None, size=(24, 32),
                    fps: int = 30) -> subprocess.Popen:
    log = open(tmp_path / "publisher.log", "w")  # noqa: SIM115
    cmd = [sys.executable, str(HERE / "rec_publisher.py"), "--fps", str(fps), "--height", str(size[0]),
           "--width", str(size[1])]
    if bag is not None:
        cmd += ["--bag", str(bag)]
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)


def stop(proc: subprocess.Popen, timeout: float = 30.0) -> int:
    if proc.poll() is None:
        proc.send_signal(2)
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
    return proc.wait()


def wait_until(predicate: Callable[[], Any], timeout: float, what: str, logs: Path | None = None) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    text = ""
    if logs is not None:
        text = "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in sorted(logs.glob("*.log")))
    raise AssertionError(f"timed out after {timeout} s waiting for {what}\n{text}")
