"""Dataclass configs parsed from dotted CLI flags and YAML files (see ``parser``)."""

from lerobot_core.configs.parser import parse_config

__all__ = ["parse_config"]
