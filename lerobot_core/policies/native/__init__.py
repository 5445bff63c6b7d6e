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
import logging
from pathlib import Path

from lerobot_core.utils import native_build
from lerobot_core.utils.native_build import NativeBuildError

logger = logging.getLogger(__name__)

SOURCE = Path(__file__).with_name("winograd.c")
FLAGS = ["-O3", "-march=native", "-std=gnu99", "-fopenmp", "-fPIC", "-shared"]
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


def enabled() -> bool:
    """False when ``LEROBOT_CORE_NATIVE=0`` (or ``false``/``no``/``off``) asks for the torch path."""
    return native_build.switched_on(ENV_SWITCH)


def cache_dir() -> Path:
    return native_build.cache_dir("lerobot_core")


def build(source: Path = SOURCE) -> Path:
    """Path of the compiled shared object for ``source`` (compiled now unless cached)."""
    # Tried in turn when a flag is not supported: no -march=native (some clang/ARM), no OpenMP (clang without libomp).
    fallbacks = [[f for f in FLAGS if f != "-march=native"],
                 [f for f in FLAGS if f not in ("-march=native", "-fopenmp")]]
    return native_build.build(source, [FLAGS, *fallbacks], cache_dir())


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
