"""`lerobot-ros topic ...`: see cli_graph."""

from .cli_graph import topic_main as main

__all__ = ["main"]
