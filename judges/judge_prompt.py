"""The LLM judge's prompt: a versioned template file rendered into chat messages.

The template (``judges/prompts/judge_v1.txt``) has three sections, each opened by a line
``=== system ===``, ``=== user ===`` or ``=== rename ===``. The system section is the task and
is sent unchanged for every cluster; the user section carries the cluster as *data*: every
note, keyword and category is JSON-encoded inside clearly marked tags, with ``<`` and ``>``
escaped so that no note can close a tag. The rename section asks again when a name clashes with
another proposal of the same run.

Example::

    prompt = JudgePrompt.load()
    messages = prompt.messages(sample, categories)
    prompt.sha256[:12]  # part of the judge version
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import Any

from judges.judge import ClusterSample, ContrastCluster, ExistingCategory, SampleNote

PROMPTS_DIR = Path(__file__).parent / "prompts"
DEFAULT_TEMPLATE = PROMPTS_DIR / "judge_v1.txt"

_SECTION = re.compile(r"^=== (system|user|rename) ===$", re.MULTILINE)

Message = dict[str, str]


def data_json(value: Any) -> str:
    """JSON-encode untrusted data so it cannot close the tag it sits in.

    ``<``, ``>`` and ``&`` become ``\\u003c``, ``\\u003e`` and ``\\u0026``: still the same
    JSON value, but a note containing ``</cluster_notes>`` stays inside its block.
    """
    text = json.dumps(value, ensure_ascii=False, indent=1)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _notes(notes: Sequence[SampleNote]) -> list[dict[str, Any]]:
    return [{"id": n.note_id, "text": n.text} for n in notes]


def _contrast(clusters: Sequence[ContrastCluster]) -> list[dict[str, Any]]:
    return [{"keywords": list(c.keywords), "notes": [n.text for n in c.notes]} for c in clusters]


def _categories(categories: Sequence[ExistingCategory]) -> list[dict[str, Any]]:
    return [{"id": c.category_id, "name": c.name, "definition": c.definition} for c in categories]


@dataclass(frozen=True, slots=True)
class JudgePrompt:
    """A parsed prompt template.

    Attributes:
        system: the task, sent as the system message for every cluster.
        user: the data block template (``string.Template`` placeholders).
        rename: the follow-up sent when a name clashes with another proposal's.
        sha256: hex digest of the template file's bytes (the prompt part of the version).
    """

    system: str
    user: Template
    rename: Template
    sha256: str

    @classmethod
    def load(cls, path: Path = DEFAULT_TEMPLATE) -> JudgePrompt:
        """Read and parse a template file.

        Args:
            path: the template; defaults to ``judges/prompts/judge_v1.txt``.

        Returns:
            The parsed prompt.

        Raises:
            ValueError: when a section is missing or repeated.
        """
        raw = path.read_bytes()
        return cls.parse(raw.decode("utf-8"), hashlib.sha256(raw).hexdigest())

    @classmethod
    def parse(cls, text: str, sha256: str | None = None) -> JudgePrompt:
        """Parse template text (see :meth:`load`)."""
        parts = _SECTION.split(text)
        names = parts[1::2]
        if sorted(names) != ["rename", "system", "user"]:
            raise ValueError(f"template needs one each of system/user/rename, got {names}")
        sections = {name: body.strip() for name, body in zip(names, parts[2::2], strict=True)}
        digest = sha256 or hashlib.sha256(text.encode("utf-8")).hexdigest()
        return cls(
            system=sections["system"],
            user=Template(sections["user"]),
            rename=Template(sections["rename"]),
            sha256=digest,
        )

    def messages(
        self, sample: ClusterSample, categories: Sequence[ExistingCategory]
    ) -> list[Message]:
        """The chat messages for one cluster: the fixed task, then the cluster as data."""
        user = self.user.substitute(
            size=sample.size,
            keywords=data_json(list(sample.keywords)),
            cluster_notes=data_json(_notes(sample.representative)),
            boundary_notes=data_json(_notes(sample.boundary)),
            contrast_clusters=data_json(_contrast(sample.contrast)),
            existing_categories=data_json(_categories(categories)),
        )
        return [{"role": "system", "content": self.system}, {"role": "user", "content": user}]

    def rename_messages(self, messages: Sequence[Message], reply: str, taken: str) -> list[Message]:
        """Ask again after ``reply`` chose a name that clashes with ``taken``."""
        ask = self.rename.substitute(taken=data_json(taken))
        return [
            *messages,
            {"role": "assistant", "content": reply},
            {"role": "user", "content": ask},
        ]
