"""Blind names linked to the codebook, and the judge persuasion rate (METRICS.md §2.1, §2.2).

On a project's first run the codebook is empty, so a blind label is a name in the reviewer's
own words, and names are not identities: "Date arithmetic" written blind and "Date and time
arithmetic" confirmed later are one category. :func:`link_blind_name` links a name ``b`` to
the category where the final review put most of the notes the reviewer gave it:

``c*(b) = argmax_c |B_b ∩ H_c|`` over the codebook's categories, ties to the larger category
(``|H_c|``), then the lowest id; when no note of ``B_b`` is in a category (all noise), ``∅``.

Noise does not compete with categories: a blind name says "a failure of a kind the codebook
lacks", so it links to the category holding most of its notes that ended in one, and only a
name none of whose notes ended in a category is noise. Until the review is final for every
note of ``B_b`` the link is unknown (``linked`` is ``False``): the headline leaves such notes
out and says it is pending, never compares the judge to an unlinked name.

:func:`persuasion` compares each revision (a label given after the judge's work was shown) with
the blind label it replaces and the judge's label.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from judges.agreement.data import Label
from judges.agreement.intervals import Interval, wilson


@dataclass(frozen=True, slots=True)
class NameLink:
    """Where one reviewer's blind name lands in the codebook.

    Attributes:
        notes: ``B_b``, the notes the reviewer gave the name.
        evidence: ``(category, |B_b ∩ H_c|)`` per category holding some of them, in the rule's
            order (the first is ``c*(b)``).
        noise: Notes of ``B_b`` the final review left in noise.
        undecided: Notes of ``B_b`` without a final label (``0`` once the review is final).
        linked: Whether the link is known (every note of ``B_b`` has its final label).
        label: ``c*(b)`` (``None`` = ∅); meaningful only when ``linked``.
        tie: The top count was shared and the rule (larger category, lower id) broke it.
    """

    notes: tuple[int, ...]
    evidence: tuple[tuple[int, int], ...]
    noise: int
    undecided: int
    linked: bool
    label: Label
    tie: bool


def link_blind_name(
    notes: Collection[int],
    final: Mapping[int, Label],
    sizes: Mapping[int, int],
    *,
    complete: bool = False,
) -> NameLink:
    """Link a blind name to the category of ``argmax_c |B_b ∩ H_c|`` (METRICS.md §2.1).

    Args:
        notes: ``B_b``: the notes one reviewer gave the name (in one run).
        final: The final review: note → category (``None`` = noise); undecided notes absent.
        sizes: ``|H_c|`` per category (the tie-break "larger category").
        complete: The review is final for the run: a note still without a label was left
            unassigned and counts as noise.

    Returns:
        The :class:`NameLink`; ``linked`` is ``False`` while a note of ``B_b`` is undecided.

    Raises:
        ValueError: If ``notes`` is empty.
    """
    members = tuple(sorted(set(notes)))
    if not members:
        raise ValueError("a blind name needs at least one note")
    undecided = 0 if complete else sum(1 for n in members if n not in final)
    counts: Counter[int] = Counter()
    noise = 0
    for n in members:
        if n not in final:
            noise += 1 if complete else 0  # left unassigned in a finished review: noise
            continue
        label = final[n]
        if label is None:
            noise += 1
        else:
            counts[label] += 1
    order = sorted(counts, key=lambda c: (-counts[c], -sizes.get(c, 0), c))
    evidence = tuple((c, counts[c]) for c in order)
    tie = len(order) > 1 and counts[order[0]] == counts[order[1]]
    best: Label = order[0] if order else None
    return NameLink(members, evidence, noise, undecided, undecided == 0, best, tie)


@dataclass(frozen=True, slots=True)
class Persuasion:
    """How labels changed once the judge's work was shown (the judge persuasion rate).

    Attributes:
        revisions: Revised labels of notes their author had labelled blind (judge label known).
        changed: Of them, different from the blind label.
        toward_judge: Changed to the judge's label (the blind one differed from it).
        away_from_judge: Changed away from the judge's label (the blind one matched it).
        rate: ``toward_judge / revisions`` with its Wilson interval (``None`` without revisions):
            how often a revision moved toward the judge's proposal.
    """

    revisions: int
    changed: int
    toward_judge: int
    away_from_judge: int
    rate: Interval | None


def persuasion(revisions: Sequence[tuple[Label, Label, Label]]) -> Persuasion:
    """The judge persuasion rate over ``(blind, revised, judge)`` label triples.

    Args:
        revisions: One triple per revised note: its author's blind label, their revision and
            the judge's (mapped) label. None of these feeds the judge error rate.

    Returns:
        The :class:`Persuasion`.
    """
    changed = [(b, r, j) for b, r, j in revisions if r != b]
    toward = sum(1 for b, r, j in changed if r == j)
    away = sum(1 for b, r, j in changed if b == j)
    rate = wilson(toward, len(revisions)) if revisions else None
    return Persuasion(len(revisions), len(changed), toward, away, rate)
