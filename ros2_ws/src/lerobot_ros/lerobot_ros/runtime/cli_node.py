"""`lerobot-ros node ...`: see cli_graph."""

from .cli_graph import node_main as main

__all__ = ["main"]
