"""`lerobot-ros service ...`: see cli_graph."""

from .cli_graph import service_main as main

__all__ = ["main"]
