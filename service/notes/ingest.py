"""Parse and validate submitted notes (JSON, JSONL or CSV) before anything is stored.

Every problem raises :class:`BadInput` naming the field (``notes[3].text``) or the line of the
file (``line 7``) and the reason; nothing is written until the whole batch is valid.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from service.errors import BadInput, PayloadTooLarge
from service.inputs import (
    bracketed,
    check_http_url,
    check_text,
    check_tree,
    decode_utf8,
    load_json,
)

FIELDS = ("text", "external_id", "trace_id", "trace_url", "author", "metadata")
_STR_LIMITS = {"external_id": 200, "trace_id": 200, "trace_url": 2000, "author": 200}


@dataclass(frozen=True, slots=True)
class NoteIn:
    """One validated note, ready to store."""

    text: str
    external_id: str | None = None
    trace_id: str | None = None
    trace_url: str | None = None
    author: str | None = None
    metadata: dict[str, Any] | None = field(default=None)


@dataclass(frozen=True, slots=True)
class Limits:
    max_note_chars: int
    max_batch_notes: int


def parse_json_body(body: bytes, limits: Limits) -> list[NoteIn]:
    """``{"notes": [{text, ...}, ...]}``; hostile JSON (too deep, NUL, lone surrogates,
    non-finite numbers) is refused naming the field (:mod:`service.inputs`)."""
    data = load_json(decode_utf8(body))
    check_tree(data, bracketed(""), check_ints=False)
    if not isinstance(data, dict) or not isinstance(data.get("notes"), list):
        raise BadInput('expected an object {"notes": [...]}', field="notes")
    rows = data["notes"]
    _check_count(len(rows), limits)
    return _nonempty([validate_note(row, f"notes[{i}]", limits) for i, row in enumerate(rows)])


def parse_jsonl(body: bytes, limits: Limits) -> list[NoteIn]:
    """One JSON object per line; blank lines are skipped; errors name the line."""
    notes: list[NoteIn] = []
    for lineno, line in enumerate(decode_utf8(body).splitlines(), start=1):
        if not line.strip():
            continue
        row = load_json(line, field=f"line {lineno}", line=lineno)
        check_tree(row, bracketed(f"line {lineno}"), check_ints=False, line=lineno)
        notes.append(validate_note(_with_id_alias(row), f"line {lineno}", limits, line=lineno))
        _check_count(len(notes), limits)
    return _nonempty(notes)


def parse_csv(body: bytes, limits: Limits) -> list[NoteIn]:
    """A header row with ``text`` and optional ``id``/``external_id``, ``trace_id``,
    ``trace_url``, ``author``; any other column goes into the note's metadata."""
    reader = csv.reader(io.StringIO(decode_utf8(body), newline=""), strict=True)
    try:
        header = next(reader)
    except StopIteration:
        raise BadInput(
            "empty CSV: expected a header row with a 'text' column", field="body"
        ) from None
    except csv.Error as exc:
        raise BadInput(f"line 1: malformed CSV: {exc}", field="line 1", line=1) from exc
    header = [h.strip() for h in header]
    for cell in header:
        check_text(cell, "line 1", line=1)
    if "text" not in header:
        raise BadInput("CSV header has no 'text' column", field="line 1", line=1, header=header)
    notes: list[NoteIn] = []
    try:
        for row in reader:
            lineno = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                raise BadInput(
                    f"line {lineno}: expected {len(header)} fields, found {len(row)}",
                    field=f"line {lineno}",
                    line=lineno,
                )
            for column, cell in zip(header, row, strict=True):
                check_text(cell, f"line {lineno}.{column}", line=lineno)
            record = _csv_record(dict(zip(header, row, strict=True)))
            notes.append(validate_note(record, f"line {lineno}", limits, line=lineno))
            _check_count(len(notes), limits)
    except csv.Error as exc:
        lineno = reader.line_num
        raise BadInput(
            f"line {lineno}: malformed CSV: {exc}", field=f"line {lineno}", line=lineno
        ) from exc
    return _nonempty(notes)


def _csv_record(row: Mapping[str, str]) -> dict[str, Any]:
    record: dict[str, Any] = {}
    extra: dict[str, str] = {}
    for key, value in row.items():
        name = "external_id" if key == "id" else key
        if name in FIELDS and name != "metadata":
            if value.strip() or name == "text":
                record[name] = value
        elif value.strip():
            extra[key] = value
    if extra:
        record["metadata"] = extra
    return record


def _with_id_alias(row: Any) -> Any:
    if isinstance(row, dict) and "id" in row and "external_id" not in row:
        row = dict(row)
        row["external_id"] = row.pop("id")
    return row


def validate_note(row: Any, where: str, limits: Limits, line: int | None = None) -> NoteIn:
    """Check one note's fields; ``where`` prefixes the field in error messages."""
    extra = {"line": line} if line is not None else {}
    if not isinstance(row, dict):
        raise BadInput(f"{where}: expected an object with a 'text' field", field=where, **extra)
    unknown = sorted(set(row) - set(FIELDS) - {"id"})
    text = row.get("text")
    if not isinstance(text, str):
        raise BadInput(f"{where}.text: required, must be a string", field=f"{where}.text", **extra)
    if not text.strip():
        raise BadInput(
            f"{where}.text: empty or whitespace-only note", field=f"{where}.text", **extra
        )
    if len(text) > limits.max_note_chars:
        raise BadInput(
            f"{where}.text: note has {len(text)} characters; the maximum is {limits.max_note_chars}",
            field=f"{where}.text",
            **extra,
        )
    if "\x00" in text:
        raise BadInput(f"{where}.text: contains a NUL character", field=f"{where}.text", **extra)
    values: dict[str, Any] = {"text": text.strip()}
    for name, limit in _STR_LIMITS.items():
        values[name] = _optional_str(row.get(name), f"{where}.{name}", limit, extra)
    metadata = row.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise BadInput(f"{where}.metadata: must be an object", field=f"{where}.metadata", **extra)
    if unknown:
        metadata = {**(metadata or {}), **{k: row[k] for k in unknown}}
    if values["trace_url"] is not None:
        check_http_url(values["trace_url"], f"{where}.trace_url", **extra)
    values["metadata"] = metadata or None
    return NoteIn(**values)


def _optional_str(value: Any, where: str, limit: int, extra: dict[str, Any]) -> str | None:
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise BadInput(f"{where}: must be a string", field=where, **extra)
    value = value.strip()
    if len(value) > limit:
        raise BadInput(f"{where}: longer than {limit} characters", field=where, **extra)
    return value or None


def _check_count(count: int, limits: Limits) -> None:
    if count > limits.max_batch_notes:
        raise PayloadTooLarge(
            f"batch has more than {limits.max_batch_notes} notes; split it into smaller batches",
            field="notes",
            max_batch_notes=limits.max_batch_notes,
        )


def _nonempty(notes: list[NoteIn]) -> list[NoteIn]:
    if not notes:
        raise BadInput("the batch has no notes", field="notes")
    return notes


def find_internal_duplicates(notes: Iterable[NoteIn]) -> list[NoteIn]:
    """Drop repeats of an external_id inside one submission (same text); 422 if texts differ."""
    seen: dict[str, tuple[int, str]] = {}
    kept: list[NoteIn] = []
    for i, note in enumerate(notes):
        if note.external_id is None:
            kept.append(note)
            continue
        if note.external_id in seen:
            first, text = seen[note.external_id]
            if text != note.text:
                raise BadInput(
                    f"external_id {note.external_id!r} appears twice in this batch with "
                    f"different texts (notes {first} and {i})",
                    field=f"notes[{i}].external_id",
                )
            continue
        seen[note.external_id] = (i, note.text)
        kept.append(note)
    return kept
