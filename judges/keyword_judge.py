"""The offline default judge: names clusters from their c-TF-IDF keywords. Not an LLM.

Its id says so (``keyword-not-an-llm``) so the UI and API never pass its names off as a
model's. It claims every member of the cluster, flags as misfits the members that share no
word with the cluster's top keywords, matches an existing category when most of the
category's name words are among the cluster's keywords, and reports as confidence the share
of members that contain one of the top three keywords.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from judges.judge import CategoryProposal, ClusterSample, ExistingCategory, ProgressCallback

_WORD = re.compile(r"[a-z0-9]+(?:['-][a-z0-9]+)*")

KEYWORD_JUDGE_ID = "keyword-not-an-llm"
KEYWORD_JUDGE_VERSION = "keyword-not-an-llm/1"


def _words(text: str) -> set[str]:
    return set(_WORD.findall(text.casefold()))


def _keyword_words(keywords: Sequence[str]) -> set[str]:
    words: set[str] = set()
    for keyword in keywords:
        words |= _words(keyword)
    return words


def keyword_name(keywords: Sequence[str], n: int = 3) -> str:
    """A plain name from the top keywords: ``"date / week / follow-up"``."""
    top = [k for k in keywords if k.strip()][:n]
    return " / ".join(top) if top else "unnamed cluster"


class KeywordJudge:
    """Names each cluster from its keywords; the honest offline default.

    Example::

        judge = KeywordJudge()
        [proposal] = judge.propose([sample], categories=[])
        proposal.name  # "date / week / follow-up"
    """

    judge_id = KEYWORD_JUDGE_ID
    judge_version = KEYWORD_JUDGE_VERSION

    def __init__(self, name_terms: int = 3, match_threshold: float = 0.5) -> None:
        self.name_terms = name_terms
        self.match_threshold = match_threshold

    def propose(
        self,
        samples: Sequence[ClusterSample],
        categories: Sequence[ExistingCategory],
        on_progress: ProgressCallback | None = None,
    ) -> list[CategoryProposal]:
        proposals: list[CategoryProposal] = []
        used: set[str] = set()
        for done, sample in enumerate(samples, start=1):
            proposals.append(self._propose_one(sample, categories, used))
            if on_progress is not None:
                on_progress(done)
        return proposals

    def _propose_one(
        self,
        sample: ClusterSample,
        categories: Sequence[ExistingCategory],
        used: set[str],
    ) -> CategoryProposal:
        name = self._unique_name(sample.keywords, used)
        used.add(name.casefold())
        top = _keyword_words(sample.keywords[:5])
        head = _keyword_words(sample.keywords[:3])
        members = tuple(n.note_id for n in sample.members)
        misfits: tuple[int, ...] = ()
        if len(sample.members) >= 3 and top:
            misfits = tuple(n.note_id for n in sample.members if not (_words(n.text) & top))
        covered = sum(1 for n in sample.members if _words(n.text) & head)
        confidence = covered / len(sample.members) if sample.members else 0.0
        listed = ", ".join(sample.keywords[:5]) or "no distinctive words"
        definition = (
            f"Notes whose distinctive words are: {listed}. "
            "Named from keywords by the offline keyword judge (not an LLM): "
            "rename it to the failure these notes describe, and exclude notes that only "
            "share the topic without the failure."
        )
        return CategoryProposal(
            name=name,
            definition=definition,
            member_note_ids=members,
            misfit_note_ids=misfits,
            matched_category_id=self._match(sample.keywords, categories),
            confidence=round(confidence, 4),
            audit={"keywords": list(sample.keywords)},
        )

    def _unique_name(self, keywords: Sequence[str], used: set[str]) -> str:
        for n in range(min(self.name_terms, max(len(keywords), 1)), len(keywords) + 1):
            name = keyword_name(keywords, n)
            if name.casefold() not in used:
                return name
        base, suffix = keyword_name(keywords, self.name_terms), 2
        while f"{base} ({suffix})".casefold() in used:
            suffix += 1
        return f"{base} ({suffix})"

    def _match(self, keywords: Sequence[str], categories: Sequence[ExistingCategory]) -> int | None:
        words = _keyword_words(keywords[:8])
        best: tuple[float, int] | None = None
        for category in categories:
            name_words = _words(category.name)
            if not name_words:
                continue
            share = len(name_words & words) / len(name_words)
            if share >= self.match_threshold and (best is None or share > best[0]):
                best = (share, category.category_id)
        return best[1] if best else None
