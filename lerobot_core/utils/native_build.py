"""Compile a C source on first use with the system C compiler and cache the shared object.

The object is built once per source, flags, compiler, machine, CPU (``-march=native`` builds must not move to
another CPU) and any extra key parts (e.g. the Python ABI of an extension module) under a cache folder, and
written atomically (temporary file + rename) so concurrent processes never load a half-written file.
The compiler is ``$CC``, else the first of cc, gcc, clang on the PATH.
"""

from __future__ import annotations

import hashlib
import os
import platform
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

__all__ = ["NativeBuildError", "build", "cache_dir", "compiler", "cpu_signature", "switched_on"]


class NativeBuildError(RuntimeError):
    """A C source could not be compiled or loaded."""


def switched_on(env_var: str) -> bool:
    """False when ``env_var`` is ``0``, ``false``, ``no`` or ``off`` (a native path switched off); read each call."""
    return os.environ.get(env_var, "1").strip().lower() not in ("0", "false", "no", "off")


def cache_dir(package: str) -> Path:
    """``$XDG_CACHE_HOME/<package>/native`` (default ``~/.cache``)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / package / "native"


def cpu_signature() -> str:
    """The CPU's feature flags."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                return line
    except OSError:
        pass
    return platform.processor()


def compiler() -> list[str]:
    """``$CC``, else the first of cc, gcc, clang on the PATH."""
    if os.environ.get("CC"):
        return shlex.split(os.environ["CC"])
    return [next((name for name in ("cc", "gcc", "clang") if shutil.which(name)), "cc")]


def _compile(source: Path, target: Path, flag_sets: Sequence[Sequence[str]]) -> None:
    cc = compiler()
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".so", prefix=f".{target.stem}-", dir=target.parent)
    os.close(fd)
    try:
        errors = []
        for flags in flag_sets:
            try:
                proc = subprocess.run([*cc, *flags, "-o", tmp, str(source)], capture_output=True, text=True,
                                      timeout=120)
            except (OSError, subprocess.SubprocessError) as e:
                raise NativeBuildError(f"C compiler {cc[0]!r} could not run ({e}); install one (apt-get install "
                                       "gcc) or set CC") from e
            if proc.returncode == 0:
                os.replace(tmp, target)
                return
            errors.append(f"{' '.join([*cc, *flags])}: {proc.stderr.strip()[-2000:]}")
        raise NativeBuildError("compiling " + str(source) + " failed:\n" + "\n".join(errors))
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def build(source: Path, flag_sets: Sequence[Sequence[str]], cache: Path, key_parts: Sequence[str] = ()) -> Path:
    """Path of the shared object compiled from ``source`` (now, unless cached in ``cache``), with the first
    of ``flag_sets`` the compiler accepts; ``NativeBuildError`` when none does."""
    key = hashlib.sha256()
    for part in (source.read_bytes(), " ".join(flag_sets[0]).encode(), " ".join(compiler()).encode(),
                 platform.machine().encode(), cpu_signature().encode(), *(p.encode() for p in key_parts)):
        key.update(part)
        key.update(b"\0")
    target = cache / f"{source.stem}-{key.hexdigest()[:24]}.so"
    if not target.exists():
        _compile(source, target, flag_sets)
    return target
