"""`lerobot-ros` command line: a dispatcher to one module per sub-command (imported on use)."""

from __future__ import annotations

import importlib
import sys

# name -> (module with main(argv), one-line help). Add new sub-commands here.
COMMANDS: dict[str, tuple[str, str]] = {
    "share": ("lerobot_ros.share", "print the share directory (launch/, urdf/, config/) of lerobot_ros"),
    "router": ("lerobot_ros.runtime.router", "run a Zenoh router with rmw_zenohd's defaults (--ipv4 for IPv4-only hosts)"),
    "node": ("lerobot_ros.runtime.cli_node", "list ROS nodes (rmw_zenoh graph, no ROS needed)"),
    "topic": ("lerobot_ros.runtime.cli_topic", "topic list/echo/hz/pub (rmw_zenoh graph, no ROS needed)"),
    "service": ("lerobot_ros.runtime.cli_service", "service list/call (rmw_zenoh graph, no ROS needed)"),
    "launch": ("lerobot_ros.launch_runner.runner", "run a ROS 2 YAML launch file without ROS (native Zenoh backend)"),
    "run": ("lerobot_ros.run", "run a node executable of lerobot_ros (as `ros2 run lerobot_ros <node>`)"),
    "demo": ("lerobot_ros.demo", "the main demo: record in simulation, train ACT, run it on the simulated arm (no ROS)"),
    "sim-demo": ("lerobot_ros.nodes.sim_demo", "launch the simulated SO-101 with scripted teleop and show its topics flow"),
    "record-demo": ("lerobot_ros.nodes.record_demo", "record a small dataset from the simulated SO-101 (scripted teleop), headless"),
}


def _usage() -> str:
    width = max(len(n) for n in COMMANDS)
    lines = ["usage: lerobot-ros <command> [args ...]", "", "commands:"]
    lines += [f"  {name.ljust(width)}  {help_}" for name, (_, help_) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"lerobot-ros: unknown command {name!r}.\n\n{_usage()}", file=sys.stderr)
        return 2
    return int(importlib.import_module(COMMANDS[name][0]).main(rest) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
