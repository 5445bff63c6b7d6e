"""ROS 2 launch substitutions in strings: ``$(var x)``, ``$(env X [default])``, ``$(optenv X [default])``,
``$(find-pkg-share pkg)``, ``$(dirname)``, ``$(filename)``; nested (``$(env A $(var b))``) and quoted
(``'a b'``) arguments as in the launch frontend grammar. Any other substitution is an error naming it."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

__all__ = ["SUPPORTED", "SubstitutionError", "substitute"]

SUPPORTED = ("var", "env", "optenv", "find-pkg-share", "dirname", "filename")


class SubstitutionError(ValueError):
    """A bad or unsupported substitution (the message names it)."""


def substitute(text: str, variables: dict[str, str], current_file: Path,
               find_share: Callable[[str], Path]) -> str:  # fmt: skip
    """``text`` with every ``$(...)`` replaced."""
    out, _ = _parse(text, 0, variables, current_file, find_share, top=True)
    return out


def _parse(text: str, i: int, variables: dict[str, str], current_file: Path,
           find_share: Callable[[str], Path], top: bool) -> tuple[str, int]:  # fmt: skip
    """Expand from ``i`` up to the end (top level) or the ``)`` closing a substitution; returns (text, index)."""
    parts: list[str] = []
    while i < len(text):
        if text.startswith("$(", i):
            value, i = _substitution(text, i + 2, variables, current_file, find_share)
            parts.append(value)
        elif not top and text[i] == ")":
            return "".join(parts), i
        else:
            parts.append(text[i])
            i += 1
    if not top:
        raise SubstitutionError(f"unterminated substitution in {text!r}: missing ')'")
    return "".join(parts), i


def _substitution(text: str, i: int, variables: dict[str, str], current_file: Path,
                  find_share: Callable[[str], Path]) -> tuple[str, int]:  # fmt: skip
    """Parse ``name args...)`` starting at ``i`` (after ``$(``); return its value and the index after ``)``."""
    args: list[str] = []
    current: list[str] | None = None
    while True:
        if i >= len(text):
            raise SubstitutionError(f"unterminated substitution in {text!r}: missing ')'")
        ch = text[i]
        if ch == ")":
            i += 1
            break
        if ch.isspace():
            if current is not None:
                args.append("".join(current))
                current = None
            i += 1
        elif ch in "'\"":
            end = text.find(ch, i + 1)
            if end < 0:
                raise SubstitutionError(f"unterminated quote in substitution in {text!r}")
            current = (current or []) + [text[i + 1 : end]]
            i = end + 1
        elif text.startswith("$(", i):
            value, i = _substitution(text, i + 2, variables, current_file, find_share)
            current = (current or []) + [value]
        else:
            current = (current or []) + [ch]
            i += 1
    if current is not None:
        args.append("".join(current))
    if not args:
        raise SubstitutionError(f"empty substitution $() in {text!r}")
    name, rest = args[0], args[1:]
    return _evaluate(name, rest, variables, current_file, find_share, text), i


def _evaluate(name: str, args: list[str], variables: dict[str, str], current_file: Path,
              find_share: Callable[[str], Path], text: str) -> str:  # fmt: skip
    def arity(low: int, high: int) -> None:
        if not low <= len(args) <= high:
            want = str(low) if low == high else f"{low} to {high}"
            raise SubstitutionError(f"$({name}) takes {want} argument(s), got {len(args)} in {text!r}")

    if name == "var":
        arity(1, 1)
        if args[0] not in variables:
            known = ", ".join(sorted(variables)) or "none"
            raise SubstitutionError(
                f"$(var {args[0]}): launch argument {args[0]!r} is not set (known: {known})"
            )
        return variables[args[0]]
    if name in ("env", "optenv"):
        arity(1, 2)
        if args[0] in os.environ:
            return os.environ[args[0]]
        if len(args) == 2:
            return args[1]
        if name == "optenv":
            return ""
        raise SubstitutionError(
            f"$(env {args[0]}): environment variable {args[0]!r} is not set and has no default"
        )
    if name == "find-pkg-share":
        arity(1, 1)
        try:
            return str(find_share(args[0]))
        except LookupError as exc:
            raise SubstitutionError(f"$(find-pkg-share {args[0]}): {exc}") from None
    if name == "dirname":
        arity(0, 0)
        return str(current_file.parent)
    if name == "filename":
        arity(0, 0)
        return current_file.name
    raise SubstitutionError(
        f"unsupported substitution $({name} ...) in {text!r}; supported: {', '.join(SUPPORTED)}"
    )
