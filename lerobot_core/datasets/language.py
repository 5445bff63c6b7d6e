"""The two language columns of annotated datasets (schema only): ``language_persistent`` and
``language_events``. They are carried through reading and writing unchanged; see the seed spec
``language_and_annotation_spec.md`` §1 for their meaning."""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa

LANGUAGE_PERSISTENT = "language_persistent"
LANGUAGE_EVENTS = "language_events"
LANGUAGE_COLUMNS = (LANGUAGE_PERSISTENT, LANGUAGE_EVENTS)
PERSISTENT_ROW_FIELDS = ("role", "content", "style", "timestamp", "camera", "tool_calls")
EVENT_ROW_FIELDS = ("role", "content", "style", "camera", "tool_calls")

SAY_TOOL_SCHEMA: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "say",
        "description": "Speak a short utterance to the user via the TTS executor.",
        "parameters": {
            "type": "object",
            "properties": {"text": {"type": "string", "description": "The verbatim text to speak."}},
            "required": ["text"],
        },
    },
}
DEFAULT_TOOLS = [SAY_TOOL_SCHEMA]


def _json_type() -> pa.DataType:
    return pa.json_() if hasattr(pa, "json_") else pa.string()


def language_persistent_row_arrow_type() -> pa.StructType:
    return pa.struct(
        [
            pa.field("role", pa.string(), nullable=False),
            pa.field("content", pa.string()),
            pa.field("style", pa.string()),
            pa.field("timestamp", pa.float32(), nullable=False),
            pa.field("camera", pa.string()),
            pa.field("tool_calls", pa.list_(_json_type())),
        ]
    )


def language_event_row_arrow_type() -> pa.StructType:
    return pa.struct(
        [
            pa.field("role", pa.string(), nullable=False),
            pa.field("content", pa.string()),
            pa.field("style", pa.string()),
            pa.field("camera", pa.string()),
            pa.field("tool_calls", pa.list_(_json_type())),
        ]
    )


def language_persistent_arrow_type() -> pa.ListType:
    return pa.list_(language_persistent_row_arrow_type())


def language_events_arrow_type() -> pa.ListType:
    return pa.list_(language_event_row_arrow_type())


def language_arrow_type(column: str) -> pa.DataType:
    return language_persistent_arrow_type() if column == LANGUAGE_PERSISTENT else language_events_arrow_type()


def language_feature_info() -> dict[str, dict[str, Any]]:
    """The ``meta/info.json`` feature entries of both language columns."""
    return {col: {"dtype": "language", "shape": [1], "names": None} for col in LANGUAGE_COLUMNS}


def is_language_column(key: str) -> bool:
    return key in LANGUAGE_COLUMNS


def _storage_type(arrow_type: pa.DataType) -> pa.DataType:
    if hasattr(arrow_type, "storage_type"):
        return arrow_type.storage_type
    if pa.types.is_list(arrow_type):
        field = arrow_type.value_field
        return pa.list_(pa.field(field.name, _storage_type(field.type), field.nullable))
    if pa.types.is_struct(arrow_type):
        return pa.struct([pa.field(f.name, _storage_type(f.type), f.nullable) for f in arrow_type])
    return arrow_type


def _normalize_row(row: dict[str, Any]) -> dict[str, Any]:
    calls = row.get("tool_calls")
    if calls is not None:
        row = {**row, "tool_calls": [c if isinstance(c, str) else json.dumps(c) for c in calls]}
    return row


def language_array(column: str, values: list[list[dict[str, Any]] | None]) -> pa.Array:
    """One language column for a batch of frames (``None`` -> empty list); tool calls stored as JSON."""
    arrow_type = language_arrow_type(column)
    rows = [[_normalize_row(r) for r in v] if v else [] for v in values]
    return pa.array(rows, _storage_type(arrow_type)).cast(arrow_type)
