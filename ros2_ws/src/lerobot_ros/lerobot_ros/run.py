"""`lerobot-ros run [lerobot_ros] <node> [args ...] [--ros-args ...]`: what `ros2 run lerobot_ros <node>` does.

Both resolve the same table: the ``NODES`` of ``setup.py``, installed as console scripts (``name = module:func``).
The node's ``main`` runs in this process with ``sys.argv = [<node>, args ...]``, exactly as its console script
would. ``--list`` prints the table.
"""

from __future__ import annotations

import ast
import importlib
import sys
from importlib import metadata
from pathlib import Path

__all__ = ["main", "node_table", "run_node"]

PACKAGE = "lerobot_ros"
DISTRIBUTION = "lerobot-ros"
_SETUP = (
    Path(__file__).resolve().parents[1] / "setup.py"
)  # the source checkout (also used by editable installs)


def _from_setup(path: Path) -> dict[str, str]:
    """``NODES`` as written in setup.py (a dict literal), read without running setup.py."""
    tree = ast.parse(path.read_text(), str(path))
    for stmt in tree.body:
        target = (
            stmt.target
            if isinstance(stmt, ast.AnnAssign)
            else (stmt.targets[0] if isinstance(stmt, ast.Assign) else None)
        )
        if isinstance(target, ast.Name) and target.id == "NODES" and stmt.value is not None:
            return dict(ast.literal_eval(stmt.value))
    return {}


def node_table() -> dict[str, str]:
    """``{executable: "module:function"}`` for every node of the package.

    From the source checkout's setup.py when present (so a node added there works before reinstalling),
    else from the installed distribution's console scripts.
    """
    if _SETUP.is_file() and _SETUP.with_name("package.xml").is_file():  # the lerobot_ros source package
        return _from_setup(_SETUP)
    try:
        scripts = metadata.distribution(DISTRIBUTION).entry_points
    except metadata.PackageNotFoundError:
        return {}
    return {ep.name: ep.value for ep in scripts if ep.group == "console_scripts" and ep.name != "lerobot-ros"}


def run_node(name: str, args: list[str]) -> int:
    """Run node executable ``name`` in this process with ``args`` as its command line; return its exit code."""
    table = node_table()
    if name not in table:
        known = ", ".join(sorted(table)) or "none"
        print(f"lerobot-ros run: {PACKAGE} has no executable {name!r} (known: {known})", file=sys.stderr)
        return 2
    module, _, func = table[name].partition(":")
    entry = getattr(importlib.import_module(module.strip()), func.strip() or "main")
    sys.argv = [name, *args]
    result = entry()
    return result if isinstance(result, int) else 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == PACKAGE:  # `lerobot-ros run lerobot_ros <node>`, as with ros2 run
        argv = argv[1:]
    if not argv or argv[0] in ("-h", "--help"):
        print(
            "usage: lerobot-ros run [lerobot_ros] <node> [args ...] [--ros-args ...]\n       lerobot-ros run --list"
        )
        return 0 if argv else 2
    if argv[0] == "--list":
        for name, target in sorted(node_table().items()):
            print(f"{name}  ({target})")
        return 0
    return run_node(argv[0], argv[1:])


if __name__ == "__main__":
    raise SystemExit(main())
