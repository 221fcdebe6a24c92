"""The offline default judge: names clusters with phrases from their own notes. Not an LLM.

Its id says so (``keyword-not-an-llm``) so the UI and API never pass its names off as a
model's. For each cluster it ranks the 1-4 word phrases of the cluster's notes by how much more
often they occur there than in the run's other clusters, weighted toward the notes closest to
the cluster centre (:mod:`judges.phrases`), and picks them so no two share a word:

- **name**: the best phrase, joined with the second (``"Wrong anchor date; timezone"``) when
  that one scores at least half as well, covers notes the first misses and the two fit in six
  words; sentence case; never the same or nearly the same name as an earlier cluster of the
  run (the next phrases are tried, then a ``(2)`` suffix).
- **definition**: the inclusion rule (the top phrases, and how many notes mention one), the
  exclusion rule (the top phrase of each of the nearest clusters, and how many of these notes
  mention it), and that the phrases were picked by the keyword judge.
- **confidence**: the *coverage* of the name: the share of the cluster's notes that contain at
  least one of the name's phrases. Not a probability that the name is right.
- **members**: every member; **misfits** (clusters of 3 or more): members that contain none of
  the top phrases and share no word with the top five c-TF-IDF keywords.
- **matched category**: an existing category most of whose name words are among the
  cluster's top keywords.

A cluster where no phrase occurs in two notes (or only stop words and numbers do) is named
from its c-TF-IDF keywords as before (``"date / week / follow-up"``), a name that shows it is
a placeholder, and its coverage counts the notes containing one of those three keywords.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from judges.judge import (
    CategoryProposal,
    ClusterSample,
    ContrastCluster,
    ExistingCategory,
    ProgressCallback,
    SampleNote,
)
from judges.llm_reply import name_key, names_clash
from judges.phrases import (
    Phrase,
    PhraseIndex,
    mentions,
    phrase_key,
    top_phrases,
)

_WORD = re.compile(r"[a-z0-9]+(?:['-][a-z0-9]+)*")
_PLAIN_WORD = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*")

KEYWORD_JUDGE_ID = "keyword-not-an-llm"
KEYWORD_JUDGE_VERSION = "keyword-not-an-llm/2"


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


def _sentence_case(text: str) -> str:
    """Capitalise a plain lower-case first word (not ``make_find_path`` or ``iOS``)."""
    first, _, rest = text.partition(" ")
    if first.islower() and _PLAIN_WORD.fullmatch(first):
        first = first[:1].upper() + first[1:]
    return f"{first} {rest}" if rest else first


def _notes_mention(k: int, n: int, what: str) -> str:
    return f"{k} of these {n} notes {'mentions' if k == 1 else 'mention'} {what}"


def _quoted(texts: Sequence[str], conjunction: str = "or") -> str:
    quoted = [f"“{t}”" for t in texts]
    return quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} {conjunction} {quoted[-1]}"


def _word_count(text: str) -> int:
    return len(text.split())


@dataclass(frozen=True, slots=True)
class _Named:
    name: str
    phrases: tuple[Phrase, ...]


def _all_notes(samples: Sequence[ClusterSample]) -> Iterator[SampleNote]:
    for sample in samples:
        yield from sample.members
        for contrast in sample.contrast:
            yield from contrast.notes


class KeywordJudge:
    """Names each cluster from phrases of its own notes; the honest offline default.

    Args:
        max_name_words: longest name, in words.
        definition_phrases: phrases listed in the definition's inclusion rule.
        second_phrase_share: the second phrase joins the name when it scores at least this
            share of the first phrase's score.
        match_threshold: share of an existing category's name words that must be among the
            cluster's keywords for a match.

    Example::

        judge = KeywordJudge()
        [proposal] = judge.propose([sample], categories=[])
        proposal.name        # "Wrong anchor date; timezone"
        proposal.confidence  # 0.62: share of the notes containing one of the name's phrases
    """

    judge_id = KEYWORD_JUDGE_ID
    judge_version = KEYWORD_JUDGE_VERSION

    def __init__(
        self,
        max_name_words: int = 6,
        definition_phrases: int = 3,
        second_phrase_share: float = 0.5,
        match_threshold: float = 0.5,
    ) -> None:
        self.max_name_words = max_name_words
        self.definition_phrases = definition_phrases
        self.second_phrase_share = second_phrase_share
        self.match_threshold = match_threshold

    def propose(
        self,
        samples: Sequence[ClusterSample],
        categories: Sequence[ExistingCategory],
        on_progress: ProgressCallback | None = None,
    ) -> list[CategoryProposal]:
        index = PhraseIndex(_all_notes(samples))
        ranked = [top_phrases(s, index, 5) for s in samples]
        tops = {s.label: r[0] for s, r in zip(samples, ranked, strict=True) if r}
        proposals: list[CategoryProposal] = []
        used: list[str] = []
        for done, (sample, phrases) in enumerate(zip(samples, ranked, strict=True), start=1):
            proposal = self._propose_one(sample, phrases, index, tops, categories, used)
            proposals.append(proposal)
            used.append(proposal.name)
            if on_progress is not None:
                on_progress(done)
        return proposals

    def _propose_one(
        self,
        sample: ClusterSample,
        phrases: list[Phrase],
        index: PhraseIndex,
        tops: dict[int, Phrase],
        categories: Sequence[ExistingCategory],
        used: Sequence[str],
    ) -> CategoryProposal:
        named = self._name(sample, phrases, used)
        member_ids = tuple(n.note_id for n in sample.members)
        covered = self._covered(sample, named, index)
        coverage = covered / len(member_ids) if member_ids else 0.0
        audit: dict[str, Any] = {
            "keywords": list(sample.keywords),
            "phrases": [_phrase_audit(p) for p in phrases],
            "name_phrases": [p.text for p in named.phrases],
            "coverage": {"notes": covered, "of": len(member_ids)},
        }
        return CategoryProposal(
            name=named.name,
            definition=self._definition(sample, phrases, index, tops),
            member_note_ids=member_ids,
            misfit_note_ids=self._misfits(sample, phrases, index),
            matched_category_id=self._match(sample.keywords, categories),
            confidence=round(coverage, 4),
            audit=audit,
        )

    def _name_options(self, phrases: Sequence[Phrase]) -> Iterator[tuple[Phrase, ...]]:
        """Names to try, best first: each phrase with its best partner, then alone."""
        for i, first in enumerate(phrases):
            for second in phrases[i + 1 :]:
                fits = _word_count(first.text) + _word_count(second.text) <= self.max_name_words
                if (
                    fits
                    and second.score >= self.second_phrase_share * first.score
                    and not second.note_ids <= first.note_ids
                ):
                    yield first, second
                    break
            if _word_count(first.text) <= self.max_name_words:
                yield (first,)

    def _name(
        self, sample: ClusterSample, phrases: Sequence[Phrase], used: Sequence[str]
    ) -> _Named:
        options = [
            _Named("; ".join([_sentence_case(o[0].text), *(p.text for p in o[1:])]), o)
            for o in self._name_options(phrases)
        ]
        if not options:
            options = [_Named(keyword_name(sample.keywords), ())]
        for option in options:
            if not any(names_clash(option.name, u) for u in used):
                return option
        base, suffix = options[0], 2
        taken = {name_key(u) for u in used}
        while name_key(f"{base.name} ({suffix})") in taken:  # distinct by its suffix
            suffix += 1
        return _Named(f"{base.name} ({suffix})", base.phrases)

    @staticmethod
    def _covered(sample: ClusterSample, named: _Named, index: PhraseIndex) -> int:
        ids = [n.note_id for n in sample.members]
        if named.phrases:
            return mentions(named.phrases, index, ids)
        head = _keyword_words(sample.keywords[:3])
        return sum(1 for n in sample.members if _words(n.text) & head)

    def _definition(
        self,
        sample: ClusterSample,
        phrases: Sequence[Phrase],
        index: PhraseIndex,
        tops: dict[int, Phrase],
    ) -> str:
        n = len(sample.members)
        ids = [m.note_id for m in sample.members]
        listed = list(phrases[: self.definition_phrases])
        if listed:
            k = mentions(listed, index, ids)
            include = (
                f"Notes that mention {_quoted([p.text for p in listed])}: "
                f"{_notes_mention(k, n, 'at least one')}."
            )
        else:
            words = ", ".join(sample.keywords[:5]) or "no distinctive words"
            include = f"No phrase recurs in two of these notes; their distinctive words: {words}."
        parts = [include]
        neighbours = [t for c in sample.contrast if (t := _contrast_top(c, sample, index, tops))]
        neighbours = list(dict.fromkeys(neighbours))
        if neighbours:
            keys = {key for key, _ in neighbours}
            j = sum(1 for i in ids if keys & index.phrases.get(i, frozenset()))
            one = len(neighbours) == 1
            whose = (
                "cluster, whose most distinctive phrase is"
                if one
                else "clusters, whose most distinctive phrases are"
            )
            parts.append(
                f"Unlike the nearest {whose} {_quoted([t for _, t in neighbours], 'and')}: "
                f"{_notes_mention(j, n, 'it' if one else 'one of them')}."
            )
        parts.append(
            "Phrases picked from the notes by the offline keyword judge (not an LLM): "
            "rename it to the failure these notes describe."
        )
        return " ".join(parts)

    def _misfits(
        self, sample: ClusterSample, phrases: Sequence[Phrase], index: PhraseIndex
    ) -> tuple[int, ...]:
        top = _keyword_words(sample.keywords[:5])
        keys = {p.key for p in phrases}
        if len(sample.members) < 3 or not (top or keys):
            return ()
        return tuple(
            n.note_id
            for n in sample.members
            if not (_words(n.text) & top) and not (keys & index.phrases.get(n.note_id, frozenset()))
        )

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


def _contrast_top(
    contrast: ContrastCluster,
    sample: ClusterSample,
    index: PhraseIndex,
    tops: dict[int, Phrase],
) -> tuple[str, str] | None:
    """The neighbour's top phrase (key, text): as judged in this run, else from its notes."""
    if contrast.label == sample.label:
        return None
    top = tops.get(contrast.label)
    if top is None and contrast.notes:
        shown = ClusterSample(
            label=contrast.label,
            size=len(contrast.notes),
            keywords=contrast.keywords,
            members=contrast.notes,
            representative=contrast.notes,
        )
        picked = top_phrases(shown, index, 1)
        top = picked[0] if picked else None
    if top is not None:
        return top.key, top.text
    if contrast.keywords:
        return phrase_key(contrast.keywords[0]), contrast.keywords[0]
    return None


def _phrase_audit(phrase: Phrase) -> dict[str, Any]:
    return {
        "phrase": phrase.text,
        "notes": len(phrase.note_ids),
        "share_in": round(phrase.share_in, 4),
        "share_out": round(phrase.share_out, 4),
        "score": round(phrase.score, 4),
    }
