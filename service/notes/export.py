"""Export a confirmed category as golden eval cases: each member note as one labelled case.

The top category of an error analysis becomes a permanent eval that gates the next release;
its confirmed notes (with their traces) are the golden cases that eval starts from.

CSV is written for spreadsheets, so every text cell that a spreadsheet would run as a formula
(starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return) gets a leading single quote
(:func:`spreadsheet_safe`, OWASP's CSV-injection rule); JSONL keeps the text unchanged.
"""

from __future__ import annotations

import csv
import io
import json
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.domain import CategoryStatus
from service.errors import NotFound
from service.storage.models import Category, Note, NoteAssignment


class Format(StrEnum):
    """The export formats."""

    jsonl = "jsonl"
    csv = "csv"


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

MEDIA_TYPES = {Format.jsonl: "application/x-ndjson", Format.csv: "text/csv"}

FIELDS = (
    "case_id",
    "category",
    "category_id",
    "definition",
    "note_id",
    "external_id",
    "trace_id",
    "trace_url",
    "author",
    "note",
    "expected",
)


def golden_cases(session: Session, project_id: int, category_id: int) -> list[dict[str, Any]]:
    """The category's member notes as eval cases, in note order."""
    category = session.get(Category, category_id)
    if (
        category is None
        or category.project_id != project_id
        or category.status != CategoryStatus.active
    ):
        raise NotFound(f"no confirmed category {category_id} in this project", field="category_id")
    notes = session.scalars(
        select(Note)
        .join(NoteAssignment, NoteAssignment.note_id == Note.id)
        .where(NoteAssignment.category_id == category_id)
        .order_by(Note.id)
    ).all()
    return [
        {
            "case_id": f"axial-{category.id}-{n.id}",
            "category": category.name,
            "category_id": category.id,
            "definition": category.definition,
            "note_id": n.id,
            "external_id": n.external_id,
            "trace_id": n.trace_id,
            "trace_url": n.trace_url,
            "author": n.author,
            "note": n.text,
            "expected": f"fails: {category.name}",
        }
        for n in notes
    ]


def to_jsonl(cases: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(case, ensure_ascii=False) + "\n" for case in cases)


def spreadsheet_safe(value: Any) -> Any:
    """A CSV cell a spreadsheet will not run: text starting like a formula gets a leading
    ``'`` (OWASP); numbers and everything else are left as they are."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def to_csv(cases: list[dict[str, Any]]) -> str:
    """The cases as CSV, a header row first, formula-like text neutralised."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: spreadsheet_safe(v) for k, v in case.items()} for case in cases)
    return out.getvalue()
