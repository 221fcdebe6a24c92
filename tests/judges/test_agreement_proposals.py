"""Per-proposal outcomes and the mapping m(j) (METRICS.md §0, §1.1), on a hand-built run."""

from __future__ import annotations

import pytest

from judges.agreement import (
    JudgeProposal,
    Label,
    Outcome,
    ProposalOutcome,
    judge_category_counts,
    map_proposals,
    normalise_name,
    proposal_agreement,
    proposal_outcomes,
)


def P(pid: int, name: str, members: range | set[int], lineage: int | None = None) -> JudgeProposal:
    return JudgeProposal(pid, name, frozenset(members), lineage)


def _labels(spec: dict[Label, list[int]]) -> dict[int, Label]:
    return {note: label for label, notes in spec.items() for note in notes}


# Final human partition at the watermark (None = noise).
FINAL = _labels(
    {
        10: [1, 2, 3, 4, 5],
        20: [6, 7, 8, 9, 10],  # note 10 is in no proposal: the reviewer moved it in
        30: [11, 12, 13, 14],
        40: [15, 16, 17],  # human-created category, carved out of proposal 3
        50: [30, 31, 32, 33, 34],  # proposals 5 and 6 merged
        70: [46, 47],
        80: [50, 51],
        81: [52, 53],
        90: [60, 61],
        95: [62, 63, 64],
        None: [18, 40, 41, 42, 43, 44, 45, 54, 99],
    }
)
NAMES = {
    10: "Date handling",
    20: "Auth errors",
    30: "Tool timeout",
    40: "Billing",
    50: "Rate limits",
    70: "Formatting",
    80: "A",
    81: "B",
    90: "Time zone bugs",
    95: "pdf export broken",
}
PROPOSALS = [
    P(1, "Date handling", range(1, 6), 10),
    P(2, "auth errors!", {6, 7, 8, 9}, 20),
    P(3, "Timeouts", range(11, 19), 30),
    P(5, "Rate limits", {30, 31, 32}, 50),
    P(6, "Throttling", {33, 34}),
    P(7, "Misc", {40, 41, 42, 43}),
    P(8, "Formatting issues", {44, 45, 46, 47}),
    P(9, "Mixed", range(50, 55), 81),
    P(10, "Time zone bugs", {60, 61}, 90),
    P(11, "PDF export — broken!", {62, 63, 64}, 95),
]
RENAMED = {10}


def _by_id() -> dict[int, ProposalOutcome]:
    return {o.proposal_id: o for o in proposal_outcomes(PROPOSALS, FINAL, NAMES, RENAMED)}


def test_mapping_and_its_tie_rules() -> None:
    m = map_proposals(PROPOSALS, FINAL)
    assert m[3] == 30  # 4 notes in 30 beat 3 in 40 and 1 noise
    assert m[7] is None  # all noise
    assert m[8] == 70  # 2 noise vs 2 in 70: a category wins the tie over noise
    assert m[9] == 81  # 2 in 80 vs 2 in 81: the lineage successor 81 wins
    tie = [P(1, "x", {1, 2})]
    assert map_proposals(tie, {1: 7, 2: 3}) == {1: 3}  # no lineage: lowest id


def test_primary_outcome_and_flags() -> None:
    o = _by_id()
    expected = {
        1: (Outcome.accepted, {Outcome.accepted}),
        # 4 of 4 kept, but |H_20| = 5 > 4: a note was moved in.
        2: (Outcome.membership_edited, {Outcome.membership_edited}),
        # 30 gets 4 ≥ max(2, 0.2·8) and 40 gets 3: split; also edited and renamed.
        3: (Outcome.split_up, {Outcome.split_up, Outcome.membership_edited, Outcome.renamed}),
        # Proposal 6 also maps to 50 and contributes 2 ≥ max(2, 0.2·5).
        5: (Outcome.merged, {Outcome.merged}),
        6: (Outcome.merged, {Outcome.merged, Outcome.renamed}),
        7: (Outcome.rejected_noise, {Outcome.rejected_noise}),
        # o_∅ = 2 ≥ 0.5·4 wins by precedence; the lower rows stay as flags.
        8: (
            Outcome.rejected_noise,
            {Outcome.rejected_noise, Outcome.membership_edited, Outcome.renamed},
        ),
        9: (Outcome.split_up, {Outcome.split_up, Outcome.membership_edited, Outcome.renamed}),
        10: (Outcome.renamed, {Outcome.renamed}),  # same name, but a rename event
        11: (Outcome.accepted, {Outcome.accepted}),  # names equal after norm
    }
    for pid, (primary, flags) in expected.items():
        got = o[pid]
        assert (got.primary, set(got.flags)) == (primary, flags), pid


def test_proposal_7_maps_to_noise_so_merge_and_rename_do_not_apply() -> None:
    # m(7) = ∅ and o_∅ = 4 = |J_7|: nothing moved out, and ∅ has no category to merge into,
    # be renamed or have notes moved in, so "rejected as noise" is the only flag.
    o = _by_id()[7]
    assert o.mapped_to is None and o.overlap == 4
    assert o.precision is None and o.count_error is None


def test_membership_precision_recall_and_count_error() -> None:
    o = _by_id()
    # (prec, rec, Δ): P3 4/8, 4/4, 8−4; P5 3/3, 3/5, 3−5; P6 2/2, 2/5, 2−5; P9 2/5, 2/2, 5−2.
    got = {pid: (o[pid].precision, o[pid].recall, o[pid].count_error) for pid in (3, 5, 6, 9)}
    assert got == {3: (0.5, 1.0, 4), 5: (1.0, 0.6, -2), 6: (1.0, 0.4, -3), 9: (0.4, 1.0, 3)}
    assert o[2].relative_count_error == pytest.approx(-1 / 5)


def test_spurious_is_rejected_or_dissolved() -> None:
    o = _by_id()
    # P7 all noise; P8 half noise (rejected, not dissolved); P9 no category holds ≥ 2.5 of 5.
    assert [pid for pid, x in o.items() if x.spurious] == [7, 8, 9]
    assert (o[8].dissolved, o[9].dissolved) == (False, True)


def test_summary_by_hand() -> None:
    s = proposal_agreement(PROPOSALS, FINAL, NAMES, RENAMED)
    # Accepted as-is: P1 and P11 → 2 of 10.
    assert s.acceptance is not None
    assert (s.acceptance.value, s.acceptance.n) == (0.2, 10)
    assert s.mix_by_proposal == {
        Outcome.rejected_noise: 2,
        Outcome.split_up: 2,
        Outcome.merged: 2,
        Outcome.membership_edited: 1,
        Outcome.renamed: 1,
        Outcome.accepted: 2,
    }
    # Note-weighted: rejected 4+4, split 8+5, merged 3+2, edited 4, renamed 2, accepted 5+3.
    assert s.mix_by_note[Outcome.split_up] == 13
    assert sum(s.mix_by_note.values()) == 40
    # Nine proposals map to a category (all but P7).
    # prec: 1+1+.5+1+1+.5+.4+1+1 = 7.4 → 7.4/9; rec: 1+.8+1+.6+.4+1+1+1+1 = 7.8 → 7.8/9
    # |Δ|: 0+1+4+2+3+2+3+0+0 = 15 → 15/9.
    assert s.n_mapped == 9
    assert s.mean_precision == pytest.approx(7.4 / 9)
    assert s.mean_recall == pytest.approx(7.8 / 9)
    assert s.mean_abs_count_error == pytest.approx(15 / 9)
    assert s.spurious == (7, 8, 9)


def test_judge_category_recall_counts_lineages() -> None:
    s = proposal_agreement(PROPOSALS, FINAL, NAMES, RENAMED)
    # 10 final categories; lineages from proposals: 10, 20, 30, 50, 81, 90, 95 → 7 of 10.
    assert s.category_recall is not None
    assert (s.category_recall.value, s.category_recall.n) == (0.7, 10)
    assert s.missed_categories == (40, 70, 80)
    explicit = proposal_agreement(PROPOSALS, FINAL, NAMES, RENAMED, judge_origin={10})
    assert explicit.category_recall is not None and explicit.category_recall.value == 0.1


def test_split_then_re_merge_is_no_split() -> None:
    # A reviewer split proposal 1 into 51 and 52, then merged 52 back into 51. Outcomes come
    # from the final partition only, so the clicks leave no trace: accepted as-is.
    proposal = [P(1, "Tool timeout", range(1, 7), 51)]
    names = {51: "Tool timeout", 52: "Tool timeout (slow)"}
    split_kept = {1: 51, 2: 51, 3: 51, 4: 52, 5: 52, 6: 52}
    re_merged = dict.fromkeys(range(1, 7), 51)
    assert proposal_outcomes(proposal, split_kept, names)[0].primary is Outcome.split_up
    assert proposal_outcomes(proposal, re_merged, names)[0].primary is Outcome.accepted


def test_split_needs_two_notes_in_each_part() -> None:
    # 10 members: 9 in c=1 and 1 in c=2; 1 < max(2, 0.2·10) = 2 → edited, not split.
    final = {i: 1 for i in range(9)} | {9: 2}
    out = proposal_outcomes([P(1, "one", range(10), 1)], final, {1: "one", 2: "two"})[0]
    assert out.primary is Outcome.membership_edited


def test_judge_counts_follow_the_mapping() -> None:
    m = map_proposals(PROPOSALS, FINAL)
    counts = judge_category_counts(PROPOSALS, m)
    assert counts[50] == 5  # proposals 5 and 6: 3 + 2
    assert counts[None] == 4  # proposal 7


def test_normalise_name() -> None:
    assert normalise_name("  PDF   export — broken! ") == "pdf export broken"
    assert normalise_name("Straße") == normalise_name("STRASSE")


def test_invalid_proposals_are_refused() -> None:
    with pytest.raises(ValueError, match="in proposals 1 and 2"):
        map_proposals([P(1, "a", {1}), P(2, "b", {1})], {1: 3})
    with pytest.raises(ValueError, match="has no final label"):
        map_proposals([P(1, "a", {1, 2})], {1: 3})
    with pytest.raises(ValueError, match="has no members"):
        map_proposals([P(1, "a", set())], {1: 3})
    with pytest.raises(ValueError, match="has no name"):
        proposal_outcomes([P(1, "a", {1})], {1: 3}, {})
