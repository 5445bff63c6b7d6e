"""Native CPU kernels in plain C, compiled on first use with the system C compiler and loaded with ctypes.

``winograd_lib()`` returns the loaded Winograd kernels (``winograd.c``), or None when they cannot be used;
callers then take their torch path. The shared object is built once per source, flags, compiler and CPU
into ``$XDG_CACHE_HOME/lerobot_core/native/`` (default ``~/.cache``) with ``$CC`` (default: cc, gcc or clang),
``-O3 -march=native -fopenmp`` (OpenMP binds to the libgomp torch loaded, so the kernels run on torch's
threads) and no fast-math, written atomically (temporary file + rename) so concurrent processes
never load a half-written file. A failed build logs one warning and the torch path is used.
``LEROBOT_CORE_NATIVE=0`` disables the native kernels (read on every call).
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import platform
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path

logger = logging.getLogger(__name__)

SOURCE = Path(__file__).with_name("winograd.c")
FLAGS = ["-O3", "-march=native", "-std=gnu99", "-fopenmp", "-fPIC", "-shared"]
# Tried in turn when a flag is not supported: no -march=native (some clang/ARM), no OpenMP (clang without libomp).
_FALLBACK_FLAGS = [[f for f in FLAGS if f != "-march=native"],
                   [f for f in FLAGS if f not in ("-march=native", "-fopenmp")]]
ENV_SWITCH = "LEROBOT_CORE_NATIVE"

_c_idx, _c_ptr = ctypes.c_long, ctypes.c_void_p
_SIGNATURES = {
    "winograd_f43_input": [_c_ptr, *[_c_idx] * 13, _c_ptr],
    "winograd_f43_output": [_c_ptr, *[_c_idx] * 8, _c_ptr, _c_ptr, _c_idx, _c_idx, _c_idx, ctypes.c_int, _c_ptr,
                            *[_c_idx] * 5],
    "winograd_conv_parallel": [ctypes.c_int, _c_ptr, *[_c_idx] * 11, ctypes.c_int, _c_ptr, _c_ptr, _c_ptr,
                               _c_idx, _c_idx, _c_idx, ctypes.c_int, _c_ptr, _c_idx, _c_idx, _c_idx, _c_ptr, _c_idx,
                               ctypes.c_int],
    "winograd_openmp": [],
}
_loaded: dict[str, ctypes.CDLL | Exception] = {}


class NativeBuildError(RuntimeError):
    """The C kernels could not be compiled or loaded."""


def enabled() -> bool:
    """False when ``LEROBOT_CORE_NATIVE=0`` (or ``false``/``no``/``off``) asks for the torch path."""
    return os.environ.get(ENV_SWITCH, "1").strip().lower() not in ("0", "false", "no", "off")


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "lerobot_core" / "native"


def _cpu_signature() -> str:
    """The CPU's feature flags (a ``-march=native`` build must not be reused on another CPU)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                return line
    except OSError:
        pass
    return platform.processor()


def _compiler() -> list[str]:
    """``$CC``, else the first of cc, gcc, clang on the PATH."""
    if os.environ.get("CC"):
        return shlex.split(os.environ["CC"])
    return [next((name for name in ("cc", "gcc", "clang") if shutil.which(name)), "cc")]


def _compile(source: Path, target: Path) -> None:
    cc = _compiler()
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".so", prefix=f".{target.stem}-", dir=target.parent)
    os.close(fd)
    try:
        errors = []
        for flags in (FLAGS, *_FALLBACK_FLAGS):
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


def build(source: Path = SOURCE) -> Path:
    """Path of the compiled shared object for ``source`` (compiled now unless cached)."""
    key = hashlib.sha256()
    for part in (source.read_bytes(), " ".join(FLAGS).encode(), " ".join(_compiler()).encode(),
                 platform.machine().encode(), _cpu_signature().encode()):
        key.update(part)
        key.update(b"\0")
    target = cache_dir() / f"{source.stem}-{key.hexdigest()[:24]}.so"
    if not target.exists():
        _compile(source, target)
    return target


def _load(source: Path) -> ctypes.CDLL:
    lib = ctypes.CDLL(str(build(source)))
    for fn, argtypes in _SIGNATURES.items():
        getattr(lib, fn).argtypes = argtypes
        getattr(lib, fn).restype = ctypes.c_int if fn == "winograd_openmp" else None
    lib.has_openmp = bool(lib.winograd_openmp())
    return lib


def winograd_lib(strict: bool = False) -> ctypes.CDLL | None:
    """The Winograd kernels, or None when disabled or unavailable (one warning logged per process).
    ``strict``: raise ``NativeBuildError`` instead of returning None when the build fails."""
    if not enabled():
        return None
    hit = _loaded.get("winograd")
    if hit is None:
        try:
            hit = _load(SOURCE)
        except (NativeBuildError, OSError, AttributeError) as e:
            hit = e if isinstance(e, NativeBuildError) else NativeBuildError(f"loading the native kernels: {e}")
            logger.warning("native Winograd kernels unavailable, using the slower torch path: %s", hit)
        _loaded["winograd"] = hit
    if isinstance(hit, Exception):
        if strict:
            raise hit
        return None
    return hit


def openmp(lib: ctypes.CDLL) -> bool:
    """Whether ``lib`` was built with OpenMP (its parallel kernels then use torch's OpenMP threads)."""
    return lib.has_openmp
