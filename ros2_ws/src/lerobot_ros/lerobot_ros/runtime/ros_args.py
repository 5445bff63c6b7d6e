"""Parse ROS 2 command-line arguments (``--ros-args ... [--]``) as rcl does, without ROS.

Supported inside ``--ros-args``: ``-r/--remap [node:]from:=to`` (incl. ``__node:=``/``__name:=``, ``__ns:=``),
``-p/--param [node:]name:=value`` (value typed as ROS parameter YAML), ``--params-file FILE``,
``--log-level [logger:=]LEVEL``, ``-e/--enclave VALUE``, ``--log-config-file FILE`` and the
``--enable|disable-{rosout,stdout,external-lib}-logs`` flags. Several ``--ros-args`` blocks may appear; each ends
at ``--`` or at the end of argv. Everything outside them is returned in ``remaining``. An unknown flag inside a
block is an error naming it (rclpy raises ``UnknownROSArgsError`` there too).

Node-targeted forms (``talker:__ns:=/x``, ``-p talker:rate:=5``) are kept with their prefix and folded in by
:meth:`RosArgs.for_node`.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import yaml

__all__ = ["LOG_LEVELS", "RemapRule", "RosArgs", "RosArgsError", "parse_param_value", "parse_ros_args"]

LOG_LEVELS = ("debug", "info", "warn", "error", "fatal", "unset")
_LOG_FLAGS = {
    f"--{state}-{what}-logs": (what.replace("-", "_"), state == "enable")
    for state in ("enable", "disable")
    for what in ("rosout", "stdout", "external-lib")
}
_TARGET = re.compile(r"([A-Za-z_][A-Za-z0-9_]*):(?!=)(.*)\Z")  # "node:rest", not the ":=" of "a:=b"


class RosArgsError(ValueError):
    """Malformed ``--ros-args``: names the offending argument and the expected form."""


@dataclasses.dataclass(frozen=True)
class RemapRule:
    """One ``-r`` rule; ``node`` is the target node name for ``node:from:=to`` forms, else ``None``."""

    source: str
    target: str
    node: str | None = None


@dataclasses.dataclass
class RosArgs:
    """The ROS part of a command line (see the module docstring)."""

    remaps: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    node_name: str | None = None
    namespace: str | None = None
    params: dict[str, Any] = dataclasses.field(default_factory=dict)
    params_files: list[str] = dataclasses.field(default_factory=list)
    log_level: str | None = None
    remaining: list[str] = dataclasses.field(default_factory=list)
    # Everything in command-line order, including node-targeted forms (see for_node()).
    rules: list[RemapRule] = dataclasses.field(default_factory=list)
    targeted_params: list[tuple[str, str, Any]] = dataclasses.field(
        default_factory=list
    )  # (node, name, value)
    logger_levels: dict[str, str] = dataclasses.field(default_factory=dict)
    enclave: str | None = None
    log_config_file: str | None = None
    log_flags: dict[str, bool] = dataclasses.field(default_factory=dict)  # e.g. {"rosout": False}

    def for_node(self, node_name: str) -> RosArgs:
        """The arguments that apply to the node originally named ``node_name``: node-targeted entries for it are
        merged in order (first matching remap wins; a later ``-p`` overrides an earlier one), others are dropped."""
        out = dataclasses.replace(self, remaps=[], node_name=None, namespace=None, params={})
        for rule in self.rules:
            if rule.node not in (None, node_name):
                continue
            if rule.source in ("__node", "__name"):
                out.node_name = out.node_name or rule.target
            elif rule.source == "__ns":
                out.namespace = out.namespace or rule.target
            else:
                out.remaps.append((rule.source, rule.target))
        out.params = dict(self.params)
        for node, name, value in self.targeted_params:
            if node == node_name:
                out.params[name] = value
        return out

    def to_argv(self) -> list[str]:
        """Re-emit the ROS part as ``["--ros-args", ...]`` (empty list when there is nothing to pass)."""
        argv: list[str] = []
        for rule in self.rules:
            argv += ["-r", f"{rule.node + ':' if rule.node else ''}{rule.source}:={rule.target}"]
        for name, value in self.params.items():
            argv += ["-p", f"{name}:={format_param_value(value)}"]
        for node, name, value in self.targeted_params:
            argv += ["-p", f"{node}:{name}:={format_param_value(value)}"]
        for path in self.params_files:
            argv += ["--params-file", path]
        if self.log_level:
            argv += ["--log-level", self.log_level]
        for logger, level in self.logger_levels.items():
            argv += ["--log-level", f"{logger}:={level}"]
        return ["--ros-args", *argv] if argv else []


class _ParamLoader(yaml.SafeLoader):
    """YAML 1.1 safe loading plus rcl's reading of ``1e3``-style plain scalars as doubles."""


class _ParamDumper(yaml.SafeDumper):
    """Quotes the strings that :class:`_ParamLoader` would read as numbers."""


for _cls in (_ParamLoader, _ParamDumper):
    _cls.add_implicit_resolver(
        "tag:yaml.org,2002:float", re.compile(r"^[-+]?[0-9]+[eE][-+]?[0-9]+$"), list("-+0123456789")
    )


def parse_param_value(text: str) -> Any:
    """Type a ``-p name:=value`` value as rcl does: YAML scalars (bool, int, double, string) and flow lists."""
    try:
        value = yaml.load(text, Loader=_ParamLoader)
    except yaml.YAMLError as exc:
        raise RosArgsError(f"cannot parse parameter value {text!r} as YAML: {exc}") from exc
    if value is None:
        raise RosArgsError(
            f"parameter value {text!r} is empty or null; give a value (quote strings: \"'~'\")"
        )
    return value


def format_param_value(value: Any) -> str:
    """Inverse of :func:`parse_param_value` for the types parameters may hold."""
    text = yaml.dump(value, Dumper=_ParamDumper, default_flow_style=True, width=1 << 30)
    return text.strip().removesuffix("\n...").strip()


def _split_assignment(arg: str, flag: str, what: str) -> tuple[str | None, str, str]:
    if ":=" not in arg:
        raise RosArgsError(f"invalid {flag} argument {arg!r}: expected [node:]{what}:=value")
    left, value = arg.split(":=", 1)
    node = None
    match = _TARGET.match(left)
    if match:
        node, left = match.group(1), match.group(2)
    if not left:
        raise RosArgsError(f"invalid {flag} argument {arg!r}: empty {what}")
    return node, left, value


def parse_ros_args(argv: list[str]) -> RosArgs:
    """Split ``argv`` into its ROS arguments and the rest (see the module docstring)."""
    out = RosArgs()
    i, in_ros = 0, False
    argv = list(argv)

    def operand(flag: str) -> str:
        nonlocal i
        if i + 1 >= len(argv) or argv[i + 1] in ("--", "--ros-args"):
            raise RosArgsError(f"{flag} needs a value after it (in --ros-args)")
        i += 1
        return argv[i]

    while i < len(argv):
        arg = argv[i]
        if arg == "--ros-args":
            in_ros = True
        elif not in_ros:
            out.remaining.append(arg)
        elif arg == "--":
            in_ros = False
        elif arg in ("-r", "--remap"):
            node, source, target = _split_assignment(operand(arg), arg, "from")
            if not target:
                raise RosArgsError(f"invalid {arg} argument {argv[i]!r}: empty replacement")
            rule = RemapRule(source, target, node)
            out.rules.append(rule)
            if node is None:
                if source in ("__node", "__name"):
                    out.node_name = out.node_name or target  # rcl: the first matching rule wins
                elif source == "__ns":
                    out.namespace = out.namespace or target
                else:
                    out.remaps.append((source, target))
        elif arg in ("-p", "--param"):
            node, name, text = _split_assignment(operand(arg), arg, "name")
            value = parse_param_value(text)
            if node is None:
                out.params[name] = value
            else:
                out.targeted_params.append((node, name, value))
        elif arg == "--params-file":
            out.params_files.append(operand(arg))
        elif arg == "--log-level":
            text = operand(arg)
            logger, level = text.split(":=", 1) if ":=" in text else (None, text)
            if level.lower() not in LOG_LEVELS:
                raise RosArgsError(
                    f"invalid --log-level {text!r}: level must be one of {', '.join(LOG_LEVELS)}"
                )
            if logger:
                out.logger_levels[logger] = level.lower()
            else:
                out.log_level = level.lower()
        elif arg in ("-e", "--enclave"):
            out.enclave = operand(arg)
        elif arg == "--log-config-file":
            out.log_config_file = operand(arg)
        elif arg in _LOG_FLAGS:
            what, enabled = _LOG_FLAGS[arg]
            out.log_flags[what] = enabled
        else:
            raise RosArgsError(
                f"unknown ROS argument {arg!r} inside --ros-args (supported: -r/--remap, -p/--param, --params-file, "
                "--log-level, -e/--enclave, --log-config-file, --enable/--disable-*-logs; end the block with --)"
            )
        i += 1
    return out
