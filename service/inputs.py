"""Hostile-input checks shared by the JSON API (:mod:`service.http.limits`) and note ingestion.

Every check raises :class:`~service.errors.BadInput` (422) naming the field, before anything is
parsed deeper or stored, so SQLite and PostgreSQL refuse the same inputs the same way:

- JSON nested deeper than :data:`MAX_JSON_DEPTH` (checked on the text before ``json.loads``,
  which would otherwise recurse until ``RecursionError``);
- lone surrogates (``"\\ud800"``), which no database can encode;
- NUL characters, which PostgreSQL refuses in text and JSON and SQLite would store;
- ``NaN``/``Infinity`` and numbers too large for a float, which PostgreSQL's JSON refuses;
- integers outside a signed 64-bit column (ids, versions), when ``check_ints`` is set;
- links that are not http(s) (:func:`check_http_url`).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from service.errors import BadInput

MAX_JSON_DEPTH = 64
MAX_INT = 2**63 - 1  # the largest value of a BIGINT column (ids, versions)
MIN_INT = -(2**63)

_STRINGS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKETS = re.compile(r"[^\[\]{}]+")
_INNERMOST = re.compile(r"\[\]|\{\}")
_SURROGATE = re.compile("[\ud800-\udfff]")

Path = tuple[str | int, ...]
Namer = Callable[[Path], str]


def decode_utf8(body: bytes) -> str:
    """The body as text (a leading BOM dropped), or 422 naming the byte where it stops being UTF-8."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadInput(
            f"body is not UTF-8: invalid byte at offset {exc.start}", field="body"
        ) from exc
    return text.removeprefix("\ufeff")


def dotted(path: Path) -> str:
    """FastAPI's style, as the API's validation errors name fields: ``groups.0.1``."""
    return ".".join(str(p) for p in path) or "body"


def bracketed(prefix: str) -> Namer:
    """The batch style: ``notes[3].author`` (``prefix`` is what the root is called)."""

    def name(path: Path) -> str:
        out = prefix
        for part in path:
            out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
        return out or "body"

    return name


def json_depth_exceeds(text: str, limit: int = MAX_JSON_DEPTH) -> bool:
    """True when the JSON text nests arrays/objects deeper than ``limit``.

    Strings are cut out, then the innermost ``[]``/``{}`` pairs are removed one level per pass
    (C-speed regular expressions; at most ``limit + 1`` passes). Malformed text that stops
    shrinking is left to ``json.loads`` to report.
    """
    skeleton = _NOT_BRACKETS.sub("", _STRINGS.sub("", text))
    for _ in range(limit):
        if not skeleton:
            return False
        skeleton, removed = _INNERMOST.subn("", skeleton)
        if removed == 0:
            return False
    return bool(skeleton)


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def load_json(text: str, *, field: str = "body", line: int | None = None) -> Any:
    """``json.loads`` with the nesting depth checked first; 422 naming ``field`` otherwise."""
    extra: dict[str, Any] = {"line": line} if line is not None else {}
    where = f"line {line}: " if line is not None else ""
    if json_depth_exceeds(text):
        raise BadInput(
            f"{where}JSON nested deeper than {MAX_JSON_DEPTH} levels", field=field, **extra
        )
    try:
        return json.loads(text, parse_constant=_no_constants)
    except json.JSONDecodeError as exc:
        raise BadInput(
            f"{where}malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}",
            field=field,
            line=line if line is not None else exc.lineno,
        ) from exc
    except (ValueError, RecursionError) as exc:
        raise BadInput(f"{where}unacceptable JSON: {exc}", field=field, **extra) from exc


def check_text(value: str, field: str, **extra: Any) -> None:
    """422 naming ``field`` if the string holds a NUL or a lone surrogate."""
    if "\x00" in value:
        raise BadInput(f"{field}: contains a NUL character", field=field, **extra)
    if not value.isascii() and _SURROGATE.search(value):
        raise BadInput(
            f"{field}: contains a lone surrogate (not valid Unicode text)", field=field, **extra
        )


def check_tree(data: Any, name: Namer, *, check_ints: bool, **extra: Any) -> None:
    """Walk parsed JSON without recursion: every key and string through :func:`check_text`,
    every float finite, and (``check_ints``) every integer within a 64-bit column."""
    stack: list[tuple[Path, Any]] = [((), data)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            check_text(value, name(path), **extra)
        elif isinstance(value, dict):
            for key, item in value.items():
                shown = _shown(key)
                check_text(key, name((*path, shown)), **extra)
                stack.append(((*path, shown), item))
        elif isinstance(value, list):
            stack.extend(((*path, i), item) for i, item in enumerate(value))
        elif isinstance(value, float) and not math.isfinite(value):
            raise BadInput(f"{name(path)}: number out of range", field=name(path), **extra)
        elif check_ints and isinstance(value, int) and not MIN_INT <= value <= MAX_INT:
            raise BadInput(
                f"{name(path)}: integer out of range (at most {MAX_INT})",
                field=name(path),
                **extra,
            )


def _shown(key: str) -> str:
    """A key as an error may name it: NUL and lone surrogates escaped (``k\\udfff``)."""
    if key.isascii() and "\x00" not in key:
        return key
    return key.replace("\x00", "\\x00").encode("utf-8", "backslashreplace").decode("utf-8")


def check_int(value: int, field: str) -> None:
    """422 naming ``field`` for an integer a 64-bit column cannot hold."""
    if not MIN_INT <= value <= MAX_INT:
        raise BadInput(f"{field}: integer out of range (at most {MAX_INT})", field=field)


def check_http_url(value: str, field: str, **extra: Any) -> None:
    """422 unless ``value`` is an absolute http:// or https:// URL with a host."""
    try:
        parts = urlsplit(value)
    except ValueError as exc:
        raise BadInput(f"{field}: not a URL ({exc})", field=field, **extra) from exc
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise BadInput(f"{field}: must be an http:// or https:// URL", field=field, **extra)
