"""Blind names linked to the codebook (METRICS.md §2.1) and the judge persuasion rate, by hand."""

from __future__ import annotations

import pytest

from judges.agreement import link_blind_name, persuasion, saturation, wilson

# Final review of a run: categories 3 (four notes), 5 (two notes), 7 (two notes); 90, 91 noise.
FINAL = {1: 3, 2: 3, 3: 3, 4: 3, 10: 5, 11: 5, 20: 7, 21: 7, 90: None, 91: None}
SIZES = {3: 4, 5: 2, 7: 2}


def test_a_name_links_to_the_category_holding_most_of_its_notes() -> None:
    link = link_blind_name([1, 2, 3, 10], FINAL, SIZES)  # spread: 3 notes in 3, one in 5
    assert link.linked and link.label == 3 and not link.tie
    assert link.evidence == ((3, 3), (5, 1)) and (link.noise, link.undecided) == (0, 0)
    assert link.notes == (1, 2, 3, 10)


def test_a_tie_goes_to_the_larger_category_then_the_lower_id() -> None:
    larger = link_blind_name([1, 2, 10, 11], FINAL, SIZES)  # 2 in 3 (size 4) vs 2 in 5 (size 2)
    assert (larger.label, larger.tie, larger.evidence) == (3, True, ((3, 2), (5, 2)))
    lower_id = link_blind_name([10, 20], FINAL, SIZES)  # 1 in 5 vs 1 in 7, both size 2
    assert (lower_id.label, lower_id.tie) == (5, True)


def test_noise_never_outvotes_a_category_and_all_noise_links_to_noise() -> None:
    mostly_noise = link_blind_name([90, 91, 20], FINAL, SIZES)
    assert (mostly_noise.label, mostly_noise.noise, mostly_noise.evidence) == (7, 2, ((7, 1),))
    all_noise = link_blind_name([90, 91], FINAL, SIZES)
    assert all_noise.linked and all_noise.label is None and all_noise.evidence == ()


def test_a_name_waits_for_the_final_review_of_every_note() -> None:
    waiting = link_blind_name([1, 2, 55], FINAL, SIZES)  # note 55 has no final label yet
    assert not waiting.linked and waiting.undecided == 1
    done = link_blind_name([1, 2, 55], FINAL, SIZES, complete=True)  # left unassigned: noise
    assert done.linked and (done.label, done.noise, done.undecided) == (3, 1, 0)
    with pytest.raises(ValueError, match="at least one note"):
        link_blind_name([], FINAL, SIZES)


def test_persuasion_counts_revisions_that_moved_to_the_judge() -> None:
    # (blind, revised, judge): persuaded, persuaded, away from the judge, unchanged, elsewhere
    p = persuasion([(1, 2, 2), (None, 2, 2), (2, 1, 2), (3, 3, 2), (1, 3, 2)])
    assert (p.revisions, p.changed, p.toward_judge, p.away_from_judge) == (5, 4, 2, 1)
    assert p.rate == wilson(2, 5)
    assert persuasion([]).rate is None


def test_a_lineage_confirmed_before_the_stream_is_no_discovery() -> None:
    # category 4 was confirmed in week 1; week 5's audit draws it first: a re-appearance
    stream = [4, 4, 6, None, 6]
    fresh = saturation(stream, k=2, min_reviewed=1)
    assert fresh.discoveries == (1, 3)  # without history both look new
    known = saturation(
        stream, k=2, min_reviewed=1, confirmed_before=[True, True, False, False, False]
    )
    assert known.discoveries == (3,) and known.curve == (0, 0, 1, 1)
    assert known.singletons == 0  # 6 has two notes; 4 is no singleton of this stream
    with pytest.raises(ValueError, match="one flag per"):
        saturation(stream, confirmed_before=[True])
