"""The compiled CDR codec: ``cdr.c``, a CPython extension built on first use, and its per-type plans.

``plan(store, typename)`` returns the C codec of a type (``plan.serialize(msg) -> bytes``,
``plan.deserialize(data) -> msg``), byte-for-byte and object-for-object what rosbags' generated functions
give, or None when the native codec is off (``LEROBOT_ROS_NATIVE=0``), cannot be built (one warning per
process) or the type uses something it does not support; :class:`lerobot_ros.runtime.msgs.Codec` then uses
rosbags. The plan of a type lists its fields with the alignment rosbags' code generator emits (mirrored from
``rosbags.serde.cdr``), built once per store and type. The extension is compiled with the system C compiler
(``$CC``, else cc/gcc/clang; needs the Python headers, e.g. ``apt-get install gcc python3-dev``) into
``$XDG_CACHE_HOME/lerobot_ros/native/`` (default ``~/.cache``), keyed by the source, flags, compiler, Python
ABI and numpy version.
"""

from __future__ import annotations

import dataclasses
import importlib.machinery
import importlib.util
import logging
import sys
import sysconfig
import threading
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
from rosbags.typesys.base import Nodetype
from rosbags.typesys.store import Typestore

from lerobot_core.utils import native_build
from lerobot_core.utils.native_build import NativeBuildError

try:  # rosbags' own alignment helpers, which its code generator uses: the plans mirror them
    from rosbags.serde.utils import SIZEMAP, align, align_after, ndtype
except ImportError as _exc:  # another rosbags layout: the codec stays off (load() warns), rosbags' code is used
    _ROSBAGS_LAYOUT_ERROR: ImportError | None = _exc
else:
    _ROSBAGS_LAYOUT_ERROR = None

__all__ = ["ENV_SWITCH", "NativeBuildError", "build", "enabled", "load", "plan"]

logger = logging.getLogger(__name__)

SOURCE = Path(__file__).with_name("cdr.c")
MODULE_NAME = "_cdr"  # PyInit__cdr in cdr.c
ENV_SWITCH = "LEROBOT_ROS_NATIVE"
FLAGS = ["-O2", "-fPIC", "-shared", "-std=gnu99", "-fno-strict-aliasing", "-fvisibility=hidden"]

# cdr.c's field kinds and primitives
K_SCALAR, K_STRING, K_NESTED, K_ARR_PRIM, K_ARR_STR, K_ARR_NESTED, K_SEQ_PRIM, K_SEQ_STR, K_SEQ_NESTED = range(9)
PRIMS = {name: i for i, name in enumerate(("bool", "byte", "char", "int8", "uint8", "int16", "uint16", "int32",
                                           "uint32", "int64", "uint64", "float32", "float64"))}

_lock = threading.RLock()
_module: ModuleType | NativeBuildError | None = None
_plans: dict[tuple[int, str], Any] = {}  # (id of a store, type): stores live as long as the process


def enabled() -> bool:
    """False when ``LEROBOT_ROS_NATIVE=0`` (or ``false``/``no``/``off``) asks for rosbags' codec."""
    return native_build.switched_on(ENV_SWITCH)


def build() -> Path:
    """Path of the compiled extension (compiled now unless cached); ``NativeBuildError`` when it cannot be."""
    if not SOURCE.is_file():
        raise NativeBuildError(f"{SOURCE} is missing: the package was installed without its C source "
                               "(package data lerobot_ros.runtime.native/*.c)")
    includes = [f"-I{sysconfig.get_paths()['include']}", f"-I{np.get_include()}"]
    flag_sets = [[*FLAGS, *includes], [f for f in [*FLAGS, *includes] if f != "-fvisibility=hidden"]]
    key = [sys.version, str(sysconfig.get_config_var("EXT_SUFFIX")), np.__version__, np.get_include()]
    return native_build.build(SOURCE, flag_sets, native_build.cache_dir("lerobot_ros"), key)


def _import(path: Path) -> ModuleType:
    name = f"{__name__}.{MODULE_NAME}"
    loader = importlib.machinery.ExtensionFileLoader(name, str(path))
    spec = importlib.util.spec_from_file_location(name, path, loader=loader)
    if spec is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def load(strict: bool = False) -> ModuleType | None:
    """The extension module, built and loaded once per process; None (one warning logged) when that fails.
    ``strict``: raise ``NativeBuildError`` instead."""
    global _module
    with _lock:
        if _module is None:
            try:
                if _ROSBAGS_LAYOUT_ERROR is not None:
                    raise NativeBuildError(f"this rosbags has no rosbags.serde.utils ({_ROSBAGS_LAYOUT_ERROR})")
                _module = _import(build())
            except (NativeBuildError, ImportError, OSError) as e:
                _module = e if isinstance(e, NativeBuildError) else NativeBuildError(f"loading {SOURCE.name}: {e}")
                logger.warning("native CDR codec unavailable, using rosbags' slower one: %s\nfix: install a C "
                               "compiler and the Python headers (apt-get install gcc python3-dev) or set CC; "
                               "%s=0 silences this", _module, ENV_SWITCH)
        if isinstance(_module, NativeBuildError):
            if strict:
                raise _module
            return None
        return _module


def _reset() -> None:
    """Forget the loaded module and plans (tests: rebuild under another environment)."""
    global _module
    with _lock:
        _module = None
        _plans.clear()


def plan(store: Typestore, typename: str) -> Any | None:
    """The native codec of ``typename`` in ``store``; None when disabled, unavailable or unsupported."""
    if not enabled():
        return None
    module = load()
    if module is None:
        return None
    with _lock:
        try:
            return _plan(module, store, typename)
        except _Unsupported as e:
            logger.debug("%s: native CDR codec not used (%s)", typename, e)
            return None


class _Unsupported(Exception):
    pass


def _plan(module: ModuleType, store: Typestore, typename: str) -> Any:
    key = (id(store), typename)
    found = _plans.get(key)
    if found is not None:
        return found
    msgdef = store.get_msgdef(typename)  # also what rosbags' code is generated from (normalized names)
    entries = msgdef.fields
    fields = []
    aligned = 8  # rosbags' static alignment tracking (rosbags.serde.cdr.generate_serialize_cdr)
    for i, (name, desc) in enumerate(entries):
        sub = descr = None
        prim = count = elem_align = 0
        label = f"{typename}.{name}"
        if desc[0] == Nodetype.NAME:
            kind, sub = K_NESTED, _plan(module, store, desc[1])
            aligned = align_after(desc, store)
        elif desc[0] == Nodetype.BASE:
            if desc[1][0] == "string":
                kind, aligned = K_STRING, 1
            else:
                kind, prim, aligned = K_SCALAR, _prim(desc[1][0], label), SIZEMAP[desc[1][0]]
        elif desc[0] == Nodetype.ARRAY:
            inner, count = desc[1]
            if inner[0] == Nodetype.BASE and inner[1][0] == "string":
                kind, aligned = K_ARR_STR, 1
            elif inner[0] == Nodetype.BASE:
                kind, prim, descr = K_ARR_PRIM, _prim(inner[1][0], label), np.dtype(ndtype(inner[1][0]))
                aligned = SIZEMAP[inner[1][0]]
            else:
                before, after = align(inner, store), align_after(inner, store)
                kind, sub, elem_align = K_ARR_NESTED, _plan(module, store, inner[1]), before if before > after else 0
                aligned = after
        elif desc[0] == Nodetype.SEQUENCE:
            inner, aligned = desc[1][0], 4
            if inner[0] == Nodetype.BASE and inner[1][0] == "string":
                kind, aligned = K_SEQ_STR, 1
            elif inner[0] == Nodetype.BASE:
                kind, prim, descr = K_SEQ_PRIM, _prim(inner[1][0], label), np.dtype(ndtype(inner[1][0]))
                before = align(inner, store)
                elem_align, aligned = (before if aligned < before else 0), before
            else:
                kind, sub, elem_align = K_SEQ_NESTED, _plan(module, store, inner[1]), align(inner, store)
                aligned = align_after(inner, store)
            aligned = min(4, aligned)
        else:
            raise _Unsupported(f"{label}: field kind {desc[0]!r}")
        post = 0
        if i + 1 < len(entries) and aligned < (following := align(entries[i + 1][1], store)):
            post = aligned = following
        fields.append((name, label, kind, prim, count, elem_align, post, sub, descr))
    fast_new, extras = _construction(msgdef.cls, [name for name, _ in entries])
    found = module.Plan(typename, msgdef.cls, fast_new, tuple(fields), extras, store.max_sequence_length)
    _plans[key] = found
    return found


def _prim(base: str, label: str) -> int:
    if base not in PRIMS:
        raise _Unsupported(f"{label}: type {base!r}")
    return PRIMS[base]


def _construction(cls: type, names: list[str]) -> tuple[bool, tuple[tuple[str, Any], ...]]:
    """Whether C may build ``cls(*values)`` as ``object.__new__`` + setting each attribute (what a plain
    dataclass ``__init__`` does), and the defaulted fields it then sets too (constants, ``__msgtype__``)."""
    if (not dataclasses.is_dataclass(cls) or cls.__dataclass_params__.frozen  # type: ignore[attr-defined]
            or hasattr(cls, "__post_init__") or cls.__new__ is not object.__new__
            or cls.__setattr__ is not object.__setattr__ or any("__slots__" in vars(c) for c in cls.__mro__)):
        return False, ()
    init = dataclasses.fields(cls)
    if (len(init) != len(cls.__dataclass_fields__)  # type: ignore[attr-defined]  # no ClassVar/InitVar
            or [f.name for f in init[: len(names)]] != names or any(not f.init for f in init)):
        return False, ()
    extras = init[len(names):]
    if any(f.default is dataclasses.MISSING for f in extras):
        return False, ()
    return True, tuple((f.name, f.default) for f in extras)
