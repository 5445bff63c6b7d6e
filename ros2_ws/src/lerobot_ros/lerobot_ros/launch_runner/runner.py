"""`lerobot-ros launch [lerobot_ros] <file.launch.yaml> [name:=value ...]`: run a ROS 2 YAML launch file without ROS.

Starts a Zenoh router unless one answers on ``--router`` (default ``tcp/localhost:7447``, rmw_zenoh's), spawns
every node as its own process (``lerobot-ros run <exec>`` with the native Zenoh backend and ``--ros-args`` built
as launch_ros builds them), prefixes their output with ``[name]``, forwards SIGINT/SIGTERM (SIGINT to every node,
then SIGTERM and SIGKILL after each node's ``sigterm_timeout``/``sigkill_timeout``, 5 s by default, as ros2 launch),
reports each exit with its code and never restarts a node. Exits when every node has exited: 0 when all
finished cleanly (or stopped cleanly on request), 1 otherwise.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import IO, Any

import yaml

from .description import LaunchError, NodeSpec, load_launch_file, parse_cli_args

__all__ = ["main", "resolve_launch_file"]

DEFAULT_ROUTER = "tcp/localhost:7447"
CLEAN_STOP_CODES = (0, -signal.SIGINT, 128 + signal.SIGINT, -signal.SIGTERM, 128 + signal.SIGTERM)


def _say(level: str, who: str, text: str) -> None:
    print(
        f"[{level}] [{who}]: {text}",
        file=sys.stderr if level in ("ERROR", "WARN") else sys.stdout,
        flush=True,
    )


def resolve_launch_file(positionals: list[str]) -> tuple[Path, list[str]]:
    """(launch file, remaining ``name:=value`` args) from ``[pkg] file [args]`` as ``ros2 launch`` takes them."""
    if not positionals:
        raise LaunchError(
            "no launch file given: lerobot-ros launch [lerobot_ros] <file.launch.yaml> [name:=value ...]"
        )
    first = positionals[0]
    if len(positionals) > 1 and ":=" not in positionals[1] and not Path(first).is_file():
        from ..share import package_share_directory

        try:
            share = package_share_directory(first)
        except LookupError as exc:
            raise LaunchError(str(exc)) from None
        found = sorted(Path(root) / positionals[1] for root, _, files in os.walk(share, followlinks=True)
                       if positionals[1] in files)  # fmt: skip
        found.sort(key=lambda p: p.parent.name != "launch")  # share/launch/ first, as ros2 launch finds it
        if not found:
            raise LaunchError(
                f"file {positionals[1]!r} was not found in the share directory of package {first!r} ({share})"
            )
        return found[0], positionals[2:]
    path = Path(first)
    if path.is_file():
        return path, positionals[1:]
    from ..share import package_share_directory

    with contextlib.suppress(LookupError):
        candidate = package_share_directory() / "launch" / first
        if candidate.is_file():
            return candidate, positionals[1:]
    raise LaunchError(
        f"launch file {first!r} not found (neither a path nor a file in lerobot_ros' share/launch)"
    )


# ---------------------------------------------------------------------------------------------- router


def _host_port(endpoint: str) -> tuple[str, int]:
    proto, _, address = endpoint.partition("/")
    host, _, port = address.rpartition(":")
    if proto != "tcp" or not port.isdigit():
        raise LaunchError(f"router endpoint {endpoint!r} must look like tcp/<host>:<port>")
    host = host.strip("[]")
    return ("127.0.0.1" if host in ("localhost", "0.0.0.0", "") else "::1" if host == "::" else host), int(
        port
    )


def router_answers(endpoint: str, timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections on the router endpoint."""
    host, port = _host_port(endpoint)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


_ROUTER_MAIN = "import sys; from lerobot_ros.runtime.router import main; sys.exit(main(sys.argv[1:]))"


def _start_router(endpoint: str) -> subprocess.Popen[bytes]:
    listen = (
        [] if endpoint == DEFAULT_ROUTER else ["--listen", endpoint]
    )  # default: rmw_zenohd's tcp/[::]:7447
    cmd = [sys.executable, "-c", _ROUTER_MAIN, *listen]
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 15.0
    while not router_answers(endpoint, timeout=0.2):
        if proc.poll() is not None:
            raise LaunchError(
                f"the Zenoh router exited with code {proc.returncode} before listening on {endpoint}"
            )
        if time.monotonic() > deadline:
            _stop(proc, 2.0, 2.0)
            raise LaunchError(f"the Zenoh router did not listen on {endpoint} within 15 s")
        time.sleep(0.05)
    return proc


# ---------------------------------------------------------------------------------------------- processes


def _signal_group(proc: subprocess.Popen[Any], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


def _stop(proc: subprocess.Popen[Any], sigterm_timeout: float, sigkill_timeout: float) -> None:
    for sig, wait in (
        (signal.SIGINT, sigterm_timeout),
        (signal.SIGTERM, sigkill_timeout),
        (signal.SIGKILL, 5.0),
    ):
        if proc.poll() is not None:
            return
        _signal_group(proc, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(wait)


class _Output:
    """Prefixes and forwards the lines of a node's stream; ``log`` output goes to the launch log file."""

    def __init__(self, log_file: IO[str] | None) -> None:
        self.lock = threading.Lock()
        self.log_file = log_file

    def pump(
        self, stream: IO[bytes], label: str, to_screen: bool, screen: IO[str], to_file: bool
    ) -> threading.Thread:
        def run() -> None:
            for raw in iter(stream.readline, b""):
                line = raw.decode("utf-8", "replace").rstrip("\n")
                with self.lock:
                    if to_screen:
                        print(f"[{label}] {line}", file=screen, flush=True)
                    if to_file and self.log_file is not None:
                        self.log_file.write(f"[{label}] {line}\n")
                        self.log_file.flush()
            stream.close()

        thread = threading.Thread(target=run, name=f"output:{label}", daemon=True)
        thread.start()
        return thread


class _Launch:
    def __init__(self, nodes: list[NodeSpec], endpoint: str, log_dir: Path | None) -> None:
        self.nodes = nodes
        self.endpoint = endpoint
        self.params_dir = Path(tempfile.mkdtemp(prefix="lerobot_ros_launch_"))
        self.log_path = None
        log_file = None
        if log_dir is not None and any(n.output in ("log", "both") for n in nodes):
            log_dir.mkdir(parents=True, exist_ok=True)
            self.log_path = log_dir / f"launch-{time.strftime('%Y-%m-%d-%H-%M-%S')}-{os.getpid()}.log"
            log_file = self.log_path.open("a")
        self.output = _Output(log_file)
        self.procs: list[tuple[NodeSpec, str, subprocess.Popen[bytes]]] = []
        self.threads: list[threading.Thread] = []
        self._count = 0

    def param_file(self, params: dict[str, Any]) -> str:
        self._count += 1
        path = self.params_dir / f"params_{self._count}.yaml"
        path.write_text(yaml.safe_dump({"/**": {"ros__parameters": params}}, sort_keys=False))
        return str(path)

    def env(self, spec: NodeSpec) -> dict[str, str]:
        env = {**os.environ, **spec.env, "LEROBOT_ROS_BACKEND": "zenoh", "PYTHONUNBUFFERED": "1"}
        if self.endpoint != DEFAULT_ROUTER:
            override = f'connect/endpoints=["{self.endpoint}"]'
            env["ZENOH_CONFIG_OVERRIDE"] = ";".join(
                filter(None, [env.get("ZENOH_CONFIG_OVERRIDE"), override])
            )
        return env

    def command(self, spec: NodeSpec) -> list[str]:
        return [
            sys.executable,
            "-m",
            "lerobot_ros.run",
            spec.exec,
            *spec.args,
            *spec.ros_argv(self.param_file),
        ]

    def start(self) -> None:
        labels: dict[str, int] = {}
        for spec in self.nodes:
            labels[spec.label] = labels.get(spec.label, 0) + 1
            label = spec.label if labels[spec.label] == 1 else f"{spec.label}-{labels[spec.label]}"
            proc = subprocess.Popen(
                self.command(spec), env=self.env(spec), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip
            _say("INFO", label, f"process started with pid [{proc.pid}]")
            to_file = spec.output in ("log", "both")
            self.threads.append(
                self.output.pump(proc.stdout, label, spec.output != "log", sys.stdout, to_file)
            )
            self.threads.append(self.output.pump(proc.stderr, label, True, sys.stderr, to_file))
            self.procs.append((spec, label, proc))

    def supervise(self, stop: threading.Event) -> int:
        reported: set[int] = set()
        failed = False
        stopping = False
        while True:
            for spec, label, proc in self.procs:
                if proc.pid in reported or proc.poll() is None:
                    continue
                reported.add(proc.pid)
                code = proc.returncode
                for thread in self.threads:  # let its last lines out before the exit report
                    if thread.name == f"output:{label}":
                        thread.join(1.0)
                if code == 0 or (stopping and code in CLEAN_STOP_CODES):
                    _say("INFO", label, f"process has finished cleanly [pid {proc.pid}]")
                else:
                    failed = True
                    cmd = " ".join(self.command_text(spec))
                    _say("ERROR", label, f"process has died [pid {proc.pid}, exit code {code}, cmd '{cmd}']")
            if len(reported) == len(self.procs):
                return 1 if failed else 0
            if stop.is_set() and not stopping:
                stopping = True
                _say("INFO", "launch", "shutting down: sending SIGINT to every node")
                stoppers = [threading.Thread(target=_stop, args=(p, s.sigterm_timeout, s.sigkill_timeout), daemon=True)
                            for s, _, p in self.procs if p.poll() is None]  # fmt: skip
                for thread in stoppers:
                    thread.start()
            time.sleep(0.05)

    def command_text(self, spec: NodeSpec) -> list[str]:
        return ["lerobot-ros", "run", spec.exec, *spec.args, *spec.ros_argv(lambda _: "<inline params>")]

    def close(self) -> None:
        for spec, _, proc in self.procs:
            _stop(proc, spec.sigterm_timeout, spec.sigkill_timeout)
        shutil.rmtree(self.params_dir, ignore_errors=True)
        if self.output.log_file is not None:
            self.output.log_file.close()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lerobot-ros launch",
        description="Run a ROS 2 YAML launch file without ROS (native Zenoh backend).",
    )
    parser.add_argument("positionals", nargs="*", metavar="[package] file [name:=value ...]")
    parser.add_argument("--router", default=os.environ.get("LEROBOT_ROS_ROUTER", DEFAULT_ROUTER),
                        help="Zenoh router endpoint the nodes connect to; one is started there unless it answers "
                             f"(default {DEFAULT_ROUTER}, env LEROBOT_ROS_ROUTER)")  # fmt: skip
    parser.add_argument("--no-router", action="store_true", help="never start a router")
    parser.add_argument("-s", "--show-args", action="store_true", help="print the launch arguments and exit")
    parser.add_argument("-p", "--print", action="store_true", help="print the node commands and exit")
    parser.add_argument("--log-dir", default=None,
                        help="where output: log goes (default $ROS_LOG_DIR or ~/.ros/log)")  # fmt: skip
    return parser


def main(argv: list[str] | None = None) -> int:
    opts = _parser().parse_intermixed_args(list(sys.argv[1:] if argv is None else argv))
    try:
        _host_port(opts.router)
        path, rest = resolve_launch_file(opts.positionals)
        from ..run import node_table

        table = None if opts.show_args else node_table()
        nodes, declared = load_launch_file(path, parse_cli_args(rest), executables=table)
    except LaunchError as exc:
        print(f"lerobot-ros launch: {exc}", file=sys.stderr)
        return 2
    if opts.show_args:
        print("Arguments (pass arguments as '<name>:=<value>'):\n" if declared else "No arguments.")
        for arg in declared:
            default = f"(default: '{arg.default}')" if arg.default is not None else "(required)"
            print(
                f"    '{arg.name}':\n        {arg.description or 'no description given'}\n        {default}\n"
            )
        return 0
    log_dir = Path(opts.log_dir or os.environ.get("ROS_LOG_DIR") or Path.home() / ".ros" / "log")
    launch = _Launch(nodes, opts.router, log_dir)
    if opts.print:
        for spec in nodes:
            print(" ".join(launch.command_text(spec)))
        launch.close()
        return 0
    if not nodes:
        _say("INFO", "launch", f"{path} starts no nodes")
        launch.close()
        return 0

    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        if stop.is_set():  # a second signal: do not wait for the grace period
            for _, _, proc in launch.procs:
                if proc.poll() is None:
                    _signal_group(proc, signal.SIGTERM if signum == signal.SIGINT else signal.SIGKILL)
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    router = None
    try:
        if not opts.no_router and not router_answers(opts.router):
            router = _start_router(opts.router)
            _say("INFO", "launch", f"started a Zenoh router on {opts.router} [pid {router.pid}]")
        elif not opts.no_router:
            _say("INFO", "launch", f"using the Zenoh router answering on {opts.router}")
        if launch.log_path:
            _say("INFO", "launch", f"output of log nodes goes to {launch.log_path}")
        launch.start()
        return launch.supervise(stop)
    except LaunchError as exc:
        print(f"lerobot-ros launch: {exc}", file=sys.stderr)
        return 2
    finally:
        launch.close()
        if router is not None:
            _stop(router, 5.0, 5.0)
        for sig, handler in previous.items():
            signal.signal(sig, handler)


if __name__ == "__main__":
    raise SystemExit(main())
