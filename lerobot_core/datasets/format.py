"""LeRobot v3.0 on-disk format: paths, defaults, feature specs, Arrow schemas and frame validation.

Layout (upstream's, byte-compatible):

    meta/info.json                                    features, fps, totals, path templates
    meta/stats.json                                   aggregated feature stats
    meta/tasks.parquet                                task string (pandas index) -> task_index
    meta/episodes/chunk-XXX/file-XXX.parquet          one row per episode (+ per-episode stats)
    data/chunk-XXX/file-XXX.parquet                   frames, many episodes per file
    videos/<video_key>/chunk-XXX/file-XXX.mp4         episodes concatenated, located by timestamps
"""

from __future__ import annotations

import io
import json
from typing import Any

import numpy as np
import pyarrow as pa

from lerobot_core.datasets.language import LANGUAGE_COLUMNS, language_arrow_type

CODEBASE_VERSION = "v3.0"
DEFAULT_CHUNK_SIZE = 1000
DEFAULT_DATA_FILE_SIZE_IN_MB = 100
DEFAULT_VIDEO_FILE_SIZE_IN_MB = 200
DEFAULT_DATA_PATH = "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
DEFAULT_VIDEO_PATH = "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"
DEFAULT_EPISODES_PATH = "meta/episodes/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
INFO_PATH = "meta/info.json"
STATS_PATH = "meta/stats.json"
TASKS_PATH = "meta/tasks.parquet"
EPISODES_DIR = "meta/episodes"
DATA_DIR = "data"
VIDEO_DIR = "videos"

DEFAULT_FEATURES: dict[str, dict[str, Any]] = {
    "timestamp": {"dtype": "float32", "shape": [1], "names": None},
    "frame_index": {"dtype": "int64", "shape": [1], "names": None},
    "episode_index": {"dtype": "int64", "shape": [1], "names": None},
    "index": {"dtype": "int64", "shape": [1], "names": None},
    "task_index": {"dtype": "int64", "shape": [1], "names": None},
}
NUMERIC_DTYPES = {"float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "bool"}
VISUAL_DTYPES = {"image", "video"}
SUPPORTED_DTYPES = NUMERIC_DTYPES | VISUAL_DTYPES | {"string", "language"}


def update_chunk_file_indices(chunk_index: int, file_index: int, chunks_size: int) -> tuple[int, int]:
    """The (chunk, file) pair after ``(chunk_index, file_index)``: ``chunks_size`` files per chunk."""
    file_index += 1
    if file_index == chunks_size:
        return chunk_index + 1, 0
    return chunk_index, file_index


def normalize_features(features: dict[str, dict[str, Any]], use_videos: bool = True) -> dict[str, dict]:
    """Validate user features for ``create`` and return them (plus the default index features)."""
    out: dict[str, dict[str, Any]] = {}
    for key, spec in features.items():
        if not isinstance(spec, dict) or "dtype" not in spec or "shape" not in spec:
            raise ValueError(f"feature {key!r}: expected a dict with 'dtype' and 'shape', got {spec!r}")
        if "/" in key:
            raise ValueError(f"feature {key!r}: '/' is not allowed in feature names")
        dtype = spec["dtype"]
        if dtype not in SUPPORTED_DTYPES:
            raise ValueError(f"feature {key!r}: dtype {dtype!r} is not one of {sorted(SUPPORTED_DTYPES)}")
        shape = [int(s) for s in spec["shape"]]
        if dtype in VISUAL_DTYPES:
            if len(shape) != 3 or 3 not in (shape[0], shape[2]):
                raise ValueError(f"feature {key!r}: image shape must be (H, W, 3) or (3, H, W), got {shape}")
            dtype = "video" if use_videos else "image"
        elif dtype in NUMERIC_DTYPES and len(shape) != 1:
            raise ValueError(f"feature {key!r}: numeric features must be 1-D (shape (n,)), got {shape}")
        entry = {"dtype": dtype, "shape": shape, "names": spec.get("names")}
        if dtype in VISUAL_DTYPES and entry["names"] is None:
            entry["names"] = ["height", "width", "channels"] if shape[2] == 3 else ["channels", "height", "width"]
        if "info" in spec and dtype == "video":
            entry["info"] = dict(spec["info"])
        out[key] = entry
    for key, spec in DEFAULT_FEATURES.items():
        out[key] = json.loads(json.dumps(spec))
    return out


def image_hw(feature: dict[str, Any]) -> tuple[int, int]:
    shape = feature["shape"]
    return (shape[0], shape[1]) if shape[2] == 3 else (shape[1], shape[2])


# ---------------------------------------------------------------------------------------------- arrow schema
_ARROW_SCALARS = {
    "float16": pa.float16(),
    "float32": pa.float32(),
    "float64": pa.float64(),
    "int8": pa.int8(),
    "int16": pa.int16(),
    "int32": pa.int32(),
    "int64": pa.int64(),
    "uint8": pa.uint8(),
    "bool": pa.bool_(),
    "string": pa.string(),
}
IMAGE_ARROW_TYPE = pa.struct([pa.field("bytes", pa.binary()), pa.field("path", pa.string())])


def feature_arrow_type(key: str, feature: dict[str, Any]) -> pa.DataType:
    dtype = feature["dtype"]
    if dtype == "image":
        return IMAGE_ARROW_TYPE
    if dtype == "language" or key in LANGUAGE_COLUMNS:
        return language_arrow_type(key)
    scalar = _ARROW_SCALARS[dtype]
    shape = list(feature["shape"])
    if shape == [1] or dtype == "string":
        return scalar
    return pa.list_(scalar, shape[0])


def _hf_feature(key: str, feature: dict[str, Any]) -> dict[str, Any] | None:
    dtype = feature["dtype"]
    if dtype == "image":
        return {"_type": "Image"}
    if dtype == "language" or key in LANGUAGE_COLUMNS:
        return None
    value = {"dtype": dtype, "_type": "Value"}
    if list(feature["shape"]) == [1] or dtype == "string":
        return value
    return {"feature": value, "length": int(feature["shape"][0]), "_type": "List"}


def data_schema(features: dict[str, dict[str, Any]]) -> pa.Schema:
    """Arrow schema of ``data/*.parquet`` (no video columns), with the ``huggingface`` metadata upstream writes."""
    fields, hf = [], {}
    for key, feature in features.items():
        if feature["dtype"] == "video":
            continue
        fields.append(pa.field(key, feature_arrow_type(key, feature)))
        hf_feature = _hf_feature(key, feature)
        if hf_feature is not None:
            hf[key] = hf_feature
    metadata = {b"huggingface": json.dumps({"info": {"features": hf}}).encode()}
    return pa.schema(fields, metadata=metadata)


def tasks_table(tasks: list[str]) -> pa.Table:
    """``meta/tasks.parquet`` as pandas writes it: ``task_index`` plus the task string as the index."""
    pandas_meta = {
        "index_columns": ["__index_level_0__"],
        "column_indexes": [
            {"name": None, "field_name": None, "pandas_type": "unicode", "numpy_type": "object",
             "metadata": {"encoding": "UTF-8"}}
        ],
        "columns": [
            {"name": "task_index", "field_name": "task_index", "pandas_type": "int64", "numpy_type": "int64",
             "metadata": None},
            {"name": None, "field_name": "__index_level_0__", "pandas_type": "unicode", "numpy_type": "object",
             "metadata": None},
        ],
        "attributes": {},
        "creator": {"library": "pyarrow", "version": pa.__version__},
        "pandas_version": "2.2.3",
    }
    schema = pa.schema(
        [pa.field("task_index", pa.int64()), pa.field("__index_level_0__", pa.large_string())],
        metadata={b"pandas": json.dumps(pandas_meta).encode()},
    )
    return pa.table(
        {"task_index": pa.array(range(len(tasks)), pa.int64()), "__index_level_0__": pa.array(tasks, pa.large_string())},
        schema=schema,
    )


# ------------------------------------------------------------------------------------------ frame validation
def _describe(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"ndarray dtype={value.dtype} shape={tuple(value.shape)}"
    return f"{type(value).__name__} {value!r}"[:120]


def to_numpy(value: Any) -> Any:
    """torch tensors and PIL images become numpy arrays; everything else is returned as is."""
    if hasattr(value, "detach") and hasattr(value, "cpu"):
        return value.detach().cpu().numpy()
    if value.__class__.__module__.startswith("PIL."):
        return np.asarray(value)
    return value


def validate_image(key: str, feature: dict[str, Any], value: Any) -> np.ndarray:
    """An image frame as HWC uint8; accepts HWC/CHW, uint8 or float in [0, 1]."""
    array = to_numpy(value)
    height, width = image_hw(feature)
    if not isinstance(array, np.ndarray):
        raise ValueError(f"feature {key!r}: expected an image array of shape ({height}, {width}, 3), got {_describe(array)}")
    if array.shape == (3, height, width):
        array = array.transpose(1, 2, 0)
    if array.shape != (height, width, 3):
        raise ValueError(
            f"feature {key!r}: expected image shape ({height}, {width}, 3) or (3, {height}, {width}), got {array.shape}"
        )
    if array.dtype != np.uint8:
        if array.dtype.kind == "f":
            array = (np.clip(array, 0.0, 1.0) * 255).round().astype(np.uint8)
        else:
            raise ValueError(f"feature {key!r}: expected dtype uint8 (or float in [0, 1]), got {array.dtype}")
    return np.ascontiguousarray(array)


def validate_value(key: str, feature: dict[str, Any], value: Any) -> Any:
    """Check one non-visual feature value and return it normalised (numpy array of the feature's shape)."""
    dtype = feature["dtype"]
    if dtype == "string":
        if not isinstance(value, str):
            raise ValueError(f"feature {key!r}: expected a str, got {_describe(value)}")
        return value
    if dtype == "language":
        return None
    shape = tuple(feature["shape"])
    array = to_numpy(value)
    if isinstance(array, (bool, int, float, np.generic)) and shape == (1,):
        python_ok = dtype.startswith("float") or (dtype.startswith(("int", "uint")) and not isinstance(array, (float, np.floating))) or (
            dtype == "bool" and isinstance(array, (bool, np.bool_))
        )
        if isinstance(array, np.generic) and array.dtype != np.dtype(dtype):
            raise ValueError(f"feature {key!r}: expected dtype {dtype}, got {array.dtype}")
        if not python_ok:
            raise ValueError(f"feature {key!r}: expected dtype {dtype}, got {_describe(array)}")
        return np.array([array], dtype=dtype)
    if isinstance(array, (list, tuple)):
        array = np.asarray(array, dtype=dtype)
    if not isinstance(array, np.ndarray):
        raise ValueError(f"feature {key!r}: expected an array of dtype {dtype} and shape {shape}, got {_describe(array)}")
    if array.dtype != np.dtype(dtype):
        raise ValueError(f"feature {key!r}: expected dtype {dtype}, got {array.dtype}")
    if array.shape != shape:
        if array.shape == () and shape == (1,):
            array = array.reshape(1)
        else:
            raise ValueError(f"feature {key!r}: expected shape {shape}, got {tuple(array.shape)}")
    return array


def encode_png(image_hwc: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image_hwc).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def decode_png(data: bytes) -> np.ndarray:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as img:
        return np.asarray(img.convert("RGB"))
