"""`lerobot-core` command line: a thin dispatcher to one module per sub-command.

Each sub-command lives in its own module and exposes ``main(argv: list[str]) -> int``; it is imported
only when invoked, so ``lerobot-core info`` stays fast and works with optional extras missing.
"""

from __future__ import annotations

import importlib
import sys

# name -> (module with main(argv), one-line help). Add new sub-commands here.
COMMANDS: dict[str, tuple[str, str]] = {
    "info": ("lerobot_core.utils.env_info", "print versions, codecs, devices and paths (paste into bug reports)"),
    "demo": ("lerobot_core.demo", "core-only demo: write a synthetic LeRobot v3.0 dataset and read it back"),
    "dataset": ("lerobot_core.datasets.cli", "LeRobot v3.0 datasets: info | validate | push | pull | from-bag | inspect-bag"),
    "calibrate": ("lerobot_core.robots.calibrate_cmd", "calibrate an arm (--robot.type=so101_follower --robot.port=…)"),
    "setup-motors": ("lerobot_core.robots.setup_motors_cmd", "give each motor of an arm its id and baud rate"),
    "find-port": ("lerobot_core.robots.find_port_cmd", "find the serial port of a motor bus by unplugging it"),
    "policy-server": ("lerobot_core.inference.server_cmd", "serve a policy to robots over Zenoh (remote inference)"),
    "sim": ("lerobot_core.sim.cli", "run the scripted expert in the simulated SO-101 (success rate, optional video)"),
    "train": ("lerobot_core.training.train", "train a policy on a LeRobot dataset (--policy.type=act|diffusion)"),
    "eval-offline": ("lerobot_core.training.evaluate", "action L1/MSE of a checkpoint on a dataset's episodes"),
}


def _usage() -> str:
    width = max(len(n) for n in COMMANDS)
    lines = ["usage: lerobot-core <command> [--flag.sub=value ...]", "", "commands:"]
    lines += [f"  {name.ljust(width)}  {help_}" for name, (_, help_) in COMMANDS.items()]
    lines += ["", "Run `lerobot-core <command> --help` for the flags of one command."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0
    if argv[0] in ("-V", "--version"):
        from lerobot_core import __version__

        print(__version__)
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"lerobot-core: unknown command {name!r}.\n\n{_usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[name][0])
    return int(module.main(rest) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
