"""One configuration convention for every command: dataclasses + draccus.

``--policy.type=act --dataset.root=data/x --steps=1000`` sets nested dataclass fields, and
``--config_path=train.yaml`` loads a YAML file first (flags override it). Polymorphic sections such as
``policy`` are ``draccus.ChoiceRegistry`` subclasses selected by ``type``, exactly like upstream LeRobot,
so upstream command lines and ``train_config.json`` files carry over unchanged.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TypeVar

import draccus

T = TypeVar("T")


class ConfigError(ValueError):
    """A command-line flag or config file could not be turned into the config dataclass."""


def parse_config(config_class: type[T], argv: list[str] | None = None, prog: str | None = None) -> T:
    """Parse ``argv`` (dotted flags, optional ``--config_path=FILE.yaml|json``) into ``config_class``.

    Raises ``ConfigError`` naming the offending flag and the fix instead of draccus' bare traceback.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    config_path = None
    rest = []
    for i, arg in enumerate(argv):
        if arg.startswith("--config_path="):
            config_path = arg.split("=", 1)[1]
        elif arg == "--config_path" and i + 1 < len(argv):
            config_path = argv[i + 1]
        elif i > 0 and argv[i - 1] == "--config_path":
            continue
        else:
            rest.append(arg)
    if config_path is not None and not Path(config_path).is_file():
        raise ConfigError(f"--config_path={config_path}: no such file; pass a YAML or JSON config file.")
    try:
        return draccus.parse(config_class=config_class, config_path=config_path, args=rest, prog=prog)
    except draccus.ParsingError as e:
        raise ConfigError(f"{e} (run with --help to list the accepted flags)") from e
