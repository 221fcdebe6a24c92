"""The LLM judge's reply: a pydantic model, its JSON schema, and name comparison.

The reply is validated against what the judge was offered: ``existing_category_id`` must be
one of the categories in the prompt (or null) and ``misfit_note_ids`` must be ids of the
cluster's members. A reply naming anything else is invalid, whatever a note asked for.

Example::

    reply = parse_reply(raw, category_ids={3, 7}, member_ids={11, 12, 13})
    reply.full_definition()
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

MAX_NAME_WORDS = 6

_WORD = re.compile(r"[a-z0-9]+")
_STOP = frozenset({"a", "an", "the", "of", "in", "on", "for", "to", "with", "and", "or", "by"})


class JudgeReplyInvalid(ValueError):
    """The reply is not JSON, not of the schema, or names ids that were not offered."""


class JudgeReply(BaseModel):
    """The failure category proposed for one cluster of reviewers' notes."""

    model_config = ConfigDict(extra="forbid", title="cluster_category")

    name: str = Field(description="The failure, not the topic; at most 6 words.")
    definition: str = Field(description="What the failure is, in one or two sentences.")
    include_rule: str = Field(description="A note belongs when ...")
    exclude_rule: str = Field(description="A note does not belong when ...")
    existing_category_id: int | None = Field(
        description="Id of the existing category this cluster is, or null."
    )
    misfit_note_ids: list[int] = Field(
        description="Ids of the cluster's notes that do not fit the definition."
    )

    @field_validator("name")
    @classmethod
    def _short_name(cls, value: str) -> str:
        name = " ".join(value.strip().strip("\"'").split())
        if not name:
            raise ValueError("name is empty")
        if len(name.split()) > MAX_NAME_WORDS:
            raise ValueError(f"name has more than {MAX_NAME_WORDS} words: {name!r}")
        return name

    @field_validator("definition", "include_rule", "exclude_rule")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value.strip()

    @model_validator(mode="after")
    def _only_offered_ids(self, info: ValidationInfo) -> JudgeReply:
        context: dict[str, Any] = info.context or {}
        offered = context.get("category_ids")
        chosen = self.existing_category_id
        if offered is not None and chosen is not None and chosen not in offered:
            raise ValueError(f"existing_category_id {chosen} was not offered")
        members = context.get("member_ids")
        if members is not None:
            strangers = sorted(set(self.misfit_note_ids) - set(members))
            if strangers:
                raise ValueError(f"misfit_note_ids {strangers} are not members of the cluster")
        return self

    def full_definition(self) -> str:
        """The stored definition: the definition, then the inclusion and exclusion rules."""
        return f"{self.definition}\nIncludes: {self.include_rule}\nExcludes: {self.exclude_rule}"


def reply_json_schema() -> dict[str, Any]:
    """The ``response_format`` payload for a strict JSON-schema reply."""
    return {
        "type": "json_schema",
        "json_schema": {
            "name": "cluster_category",
            "strict": True,
            "schema": JudgeReply.model_json_schema(),
        },
    }


def parse_reply(
    raw: str | None, category_ids: Collection[int], member_ids: Collection[int]
) -> JudgeReply:
    """Validate a raw reply against the schema and against what was offered.

    Args:
        raw: the message content as the server returned it.
        category_ids: ids of the existing categories shown to the judge.
        member_ids: ids of the cluster's member notes.

    Returns:
        The validated reply.

    Raises:
        JudgeReplyInvalid: with a short reason.
    """
    if raw is None or not raw.strip():
        raise JudgeReplyInvalid("empty reply")
    text = _strip_fence(raw)
    context = {"category_ids": set(category_ids), "member_ids": set(member_ids)}
    try:
        return JudgeReply.model_validate_json(text, context=context)
    except ValidationError as exc:
        raise JudgeReplyInvalid(_reason(exc)) from exc


def _strip_fence(raw: str) -> str:
    text = raw.strip()
    if text.startswith("```") and text.endswith("```"):
        text = text.removeprefix("```json").removeprefix("```").removesuffix("```")
    return text.strip()


def _reason(exc: ValidationError) -> str:
    first = exc.errors(include_url=False)[0]
    if first["type"] == "json_invalid":
        return f"reply is not valid JSON: {first['msg']}"
    message = str(first["msg"]).removeprefix("Value error, ")
    more = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    if not first["loc"]:
        return f"reply is invalid: {message}{more}"
    where = ".".join(str(part) for part in first["loc"])
    return f"reply does not match the schema: {where}: {message}{more}"


def name_key(name: str) -> str:
    """A normal form of a name: lower case, no stop words, no plural ``s``."""
    words = [w for w in _WORD.findall(name.casefold()) if w not in _STOP]
    words = [
        w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w for w in words
    ]
    return " ".join(words)


def names_clash(a: str, b: str) -> bool:
    """True when two names are the same or nearly the same.

    Same words in any order or spacing (``"Time zone errors"`` vs ``"Timezone error"``), all
    but one of four or more words shared, or a typo-level difference in a long name. Names that
    differ in one word of two or three (``"Wrong date"`` vs ``"Wrong data"``) do not clash.
    """
    ka, kb = name_key(a), name_key(b)
    if not ka or not kb:
        return ka == kb
    wa, wb = set(ka.split()), set(kb.split())
    sa, sb = ka.replace(" ", ""), kb.replace(" ", "")
    if wa == wb or sa == sb:
        return True
    if len(wa | wb) >= 4 and len(wa & wb) / len(wa | wb) >= 0.75:
        return True
    return min(len(sa), len(sb)) >= 12 and difflib.SequenceMatcher(None, sa, sb).ratio() >= 0.92
