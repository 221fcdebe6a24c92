"""Phrases that set a cluster apart: n-grams of its own notes, scored against the rest of the run.

A candidate phrase is 1-4 consecutive words of one note, never crossing punctuation, that
neither starts nor ends with a stop word or a number (a negation may start a phrase of two or
more words: ``"doesn't exist"``) and holds at most one stop word inside. Phrases are
matched on a normal form (lower case, no possessive ``'s``, no plural ``s``, inner function
words dropped, every negation read as ``not``: ``"timezone wasn't applied"`` is ``"timezone
not applied"``) and shown as most often written in the notes.

A phrase's score is ``weighted share in the cluster * log(lift) * length bonus``:

- the weighted share counts the notes that contain it, the cluster's representative notes
  (closest to the centre) twice and its boundary notes half;
- the lift is how many times more often it occurs in the cluster's notes than in the run's
  other notes, ``share in / ((count elsewhere + 0.5) / (notes elsewhere + 10))``: smoothed, so
  a phrase absent elsewhere is not infinitely distinctive and a run with few other notes is
  not trusted much; a phrase no more frequent in the cluster than elsewhere is dropped;
- each word beyond the first adds a quarter: longer is more specific.

A phrase is also dropped for a longer one that occurs in exactly the same notes (``"anchor
date"`` for ``"wrong anchor date"``), and when it occurs in a single note of a cluster of two
or more: one note's wording says nothing about the cluster.

Example::

    index = PhraseIndex(all_notes_of_the_run)
    [p.text for p in top_phrases(sample, index, 3)]  # ["wrong anchor date", "timezone", ...]
"""

from __future__ import annotations

import functools
import math
import re
import sys
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace

from judges.judge import ClusterSample, SampleNote

MAX_WORDS = 4
LENGTH_BONUS = 0.25
"""Each word beyond the first adds this share to a phrase's score: longer is more specific."""
SURFACE_NOTES = 50
"""How a phrase is written is looked up in at most this many of its notes (lowest ids)."""

_SEGMENT = re.compile(r"[.!?;:,()\[\]{}\"“”„«»…|/\\→←=+*<>~#]|\s[-–—]+\s|--|\n")
_SENTENCE = re.compile(r"[.!?:;\n\"“”]+")
_TOKEN = re.compile(r"\w*[^\W_]\w*(?:['’\-]\w*[^\W_]\w*)*")  # keeps snake_case whole
_NUMBER = re.compile(r"\d+(?:[.,:-]\d+)*(?:st|nd|rd|th|am|pm|s|h|d|m|k|x)?")

_NEGATIONS = """
    no not never nothing nobody none nowhere without can't cannot couldn't didn't doesn't
    don't hadn't hasn't haven't isn't wasn't weren't won't wouldn't shouldn't
"""
_STARTING_NEGATIONS = frozenset(_NEGATIONS.split())
"""Negations may start a phrase of two or more words (``"doesn't exist"``, ``"never
scheduled"``) but never end one or stand alone: the failure is often in the negation."""

_STOP_WORDS = """
    a about above after again against ago all almost along already also although always am
    among an and another any anyone anything are around as at be because been before being
    below between both but by can can't cannot could couldn't did didn't do does doesn't doing
    don't during each either else etc even ever every everyone everything few for from further
    get gets got had hadn't has hasn't have haven't having he he'd he's her here hers herself
    him himself his how however i i'd i'll i'm i've ie if in into is isn't it it'd it'll it's
    its itself just least less let's like lot many may me might more most much must my myself
    neither no nor not nothing now of off on once one only onto or other others otherwise our
    ours ourselves out over own per perhaps quite rather really said say says she she'd she'll
    she's should shouldn't since so some someone something such than that that's the their
    theirs them themselves then there there's these they they'd they'll they're they've thing
    things this those though through thus to too told toward towards under unless until upon
    us very via was wasn't we we'd we'll we're we've were weren't what what's whatever when
    whenever where whether which while who who's whom whose why will with within without
    won't would wouldn't yes yet you you'd you'll you're you've your yours yourself yourselves
    eg basically actually literally kinda sorta pretty stuff same way instead
    ask asked asking asks mention mentioned mentions reply replied replies saying
    suggest suggested suggesting suggests tell telling tells wrote
"""
STOP_WORDS = frozenset(_STOP_WORDS.split()) | _STARTING_NEGATIONS
"""Function words, fillers and reporting verbs a phrase may contain but never start or end
with. Negations are among them, but may start a phrase of two or more words (above)."""


_ENDING_PARTICLES = frozenset({"up", "down", "back"})
"""Particles that may end a phrase of two or more words (``"follow up"``) but not start one."""


def _fold(token: str) -> str:
    return token.casefold().replace("’", "'")


def _norm(token: str) -> str:
    word = _fold(token)
    if word.endswith("'s"):
        word = word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    return word


@dataclass(frozen=True, slots=True)
class _Word:
    function: bool  # a stop word, number or particle: never a phrase alone, one at most inside
    starts: bool  # may start a phrase of two or more words
    ends: bool  # may end a phrase of two or more words
    key: str  # its part of the normal form ("" for a function word other than a negation)


@functools.lru_cache(maxsize=65536)
def _word(token: str) -> _Word:
    folded = _fold(token)
    stop = _is_stop(folded)
    negation, particle = folded in _STARTING_NEGATIONS, folded in _ENDING_PARTICLES
    key = "not" if negation else "" if stop else _norm(folded)
    starts = (negation or not stop) and not particle
    return _Word(stop or particle, starts, particle or not stop, key)


def _key(words: Sequence[_Word]) -> str:
    """Content words in order, negations as ``not``; other function words dropped."""
    return " ".join(w.key for w in words if w.key)


def _is_stop(token: str) -> bool:
    word = _fold(token)
    return word in STOP_WORDS or len(word) < 2 or _NUMBER.fullmatch(word) is not None


def _phrase_ok(gram: Sequence[_Word]) -> bool:
    if len(gram) == 1:
        return not gram[0].function
    if not (gram[0].starts and gram[-1].ends):
        return False
    return sum(1 for w in gram[1:-1] if w.function) <= 1  # "parent said they use" is no phrase


def note_phrases(text: str) -> dict[str, tuple[str, ...]]:
    """Every candidate phrase of one note: normal form -> the words as first written."""
    found: dict[str, tuple[str, ...]] = {}
    for segment in _SEGMENT.split(text):
        tokens = _TOKEN.findall(segment)
        words = [_word(t) for t in tokens]
        for start in range(len(tokens)):
            for end in range(start + 1, min(start + MAX_WORDS, len(tokens)) + 1):
                gram = words[start:end]
                if _phrase_ok(gram):
                    key = sys.intern(_key(gram))
                    if key not in found:
                        found[key] = tuple(tokens[start:end])
    return found


def phrase_key(text: str) -> str:
    """The normal form a phrase is matched on: ``"Reminders"`` -> ``"reminder"``."""
    return _key([_word(t) for t in _TOKEN.findall(text)])


def content_words(key: str) -> frozenset[str]:
    """The words of a phrase's normal form that are not stop words."""
    return frozenset(w for w in key.split() if not _is_stop(w))


class PhraseIndex:
    """Which notes of a run contain which candidate phrases (notes deduplicated by id).

    Args:
        notes: every note the judge was shown: members of all clusters and contrast notes.
    """

    def __init__(self, notes: Iterable[SampleNote]) -> None:
        self.texts: dict[int, str] = {}
        self.phrases: dict[int, frozenset[str]] = {}
        self.df: Counter[str] = Counter()
        cased: Counter[tuple[str, bool]] = Counter()
        for note in notes:
            if note.note_id in self.texts:
                continue
            found = note_phrases(note.text)
            self.texts[note.note_id] = note.text
            self.phrases[note.note_id] = frozenset(found)
            self.df.update(found.keys())
            cased.update(_inner_casing(note.text))
        self._cased = cased

    def surface(self, key: str, note_ids: Iterable[int]) -> str:
        """The phrase as most often written in these notes.

        A capitalised word is lower-cased unless, away from sentence starts, the run writes it
        capitalised more often than not (``"Monday"``, ``"Sydney"`` stay).
        """
        written: Counter[str] = Counter()
        for note_id in sorted(note_ids)[:SURFACE_NOTES]:
            words = note_phrases(self.texts[note_id]).get(key)
            if words is not None:
                written[" ".join(self._display(w) for w in words)] += 1
        if not written:
            return key
        return min(written.items(), key=lambda item: (-item[1], item[0]))[0]

    def _display(self, word: str) -> str:
        low = word.lower()
        if (
            word[:1].isupper()
            and word[1:].islower()
            and (self._cased[low, True] >= self._cased[low, False])
        ):
            return low
        return word


def _inner_casing(text: str) -> Iterator[tuple[str, bool]]:
    """(word, written in lower case) for each word that does not start a sentence."""
    for sentence in _SENTENCE.split(text):
        for token in _TOKEN.findall(sentence)[1:]:
            yield token.lower(), token.islower()


@dataclass(frozen=True, slots=True)
class Phrase:
    """A candidate phrase of one cluster.

    Attributes:
        key: normal form (lower case, singular, inner function words dropped, negations as
            ``not``), used for matching.
        text: as most often written in the notes (see :func:`top_phrases`).
        note_ids: the cluster's member notes that contain it.
        share_in: share of the cluster's notes that contain it.
        share_out: share of the run's other notes that contain it.
        score: weighted share in the cluster times the log of the smoothed lift times the
            length bonus.
    """

    key: str
    text: str
    note_ids: frozenset[int]
    share_in: float
    share_out: float
    score: float

    @property
    def words(self) -> int:
        return len(self.key.split())


def _weights(sample: ClusterSample) -> dict[int, float]:
    weights = {n.note_id: 1.0 for n in sample.members}
    for note in sample.boundary:
        if note.note_id in weights:
            weights[note.note_id] = 0.5
    for note in sample.representative:
        if note.note_id in weights:
            weights[note.note_id] = 2.0
    return weights


def _postings(sample: ClusterSample, index: PhraseIndex) -> dict[str, set[int]]:
    postings: dict[str, set[int]] = {}
    for note in sample.members:
        for key in index.phrases.get(note.note_id, frozenset()):
            postings.setdefault(key, set()).add(note.note_id)
    return postings


def _maximal(postings: dict[str, set[int]]) -> dict[str, set[int]]:
    """Drop a phrase when a longer phrase containing it occurs in exactly the same notes."""
    kept = dict(postings)
    for key, ids in postings.items():
        words = key.split()
        for n in range(1, len(words)):
            for start in range(len(words) - n + 1):
                part = " ".join(words[start : start + n])
                if part in kept and postings[part] == ids:
                    del kept[part]
    return kept


def rank_phrases(sample: ClusterSample, index: PhraseIndex) -> list[Phrase]:
    """The cluster's distinctive phrases, best first (ties: longer, then by normal form).

    Only phrases in two or more of the cluster's notes (in its only note, for a cluster of one).
    Their ``text`` is the normal form: :func:`top_phrases` looks up how they were written.
    """
    members = {n.note_id for n in sample.members}
    if not members:
        return []
    weights, postings = _weights(sample), _maximal(_postings(sample, index))
    total_weight, n_in = sum(weights.values()), len(members)
    n_out = sum(1 for note_id in index.texts if note_id not in members)
    support = min(2, n_in)
    ranked: list[Phrase] = []
    for key, ids in postings.items():
        if len(ids) < support:
            continue
        share_in = len(ids) / n_in
        outside = index.df[key] - len(ids)
        share_out = outside / n_out if n_out else 0.0
        lift = share_in / ((outside + 0.5) / (n_out + 10))
        weighted = sum(weights[i] for i in sorted(ids)) / total_weight
        if lift > 1.0 and share_in > share_out:
            score = weighted * math.log(lift) * (1 + LENGTH_BONUS * (len(key.split()) - 1))
            ranked.append(Phrase(key, key, frozenset(ids), share_in, share_out, score))
    ranked.sort(key=lambda p: (-p.score, -p.words, p.key))
    return ranked


def top_phrases(sample: ClusterSample, index: PhraseIndex, k: int) -> list[Phrase]:
    """The ``k`` best phrases no two of which share a content word, as written in the notes."""
    return [
        replace(p, text=index.surface(p.key, p.note_ids))
        for p in pick_diverse(rank_phrases(sample, index), k)
    ]


def pick_diverse(ranked: Sequence[Phrase], k: int) -> list[Phrase]:
    """Up to ``k`` phrases, best first, no two sharing a content word."""
    picked: list[Phrase] = []
    used: set[str] = set()
    for phrase in ranked:
        words = content_words(phrase.key)
        if words & used:
            continue
        picked.append(phrase)
        used |= words
        if len(picked) == k:
            break
    return picked


def mentions(phrases: Sequence[Phrase], index: PhraseIndex, note_ids: Iterable[int]) -> int:
    """How many of these notes contain at least one of the phrases."""
    keys = {p.key for p in phrases}
    return sum(1 for i in note_ids if keys & index.phrases.get(i, frozenset()))
