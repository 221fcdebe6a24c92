"""The offline keyword judge: names from the notes' own phrases, honest confidence."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from judges.judge import CategoryProposal, ClusterSample, ContrastCluster, SampleNote
from judges.keyword_judge import KEYWORD_JUDGE_ID, KeywordJudge
from judges.llm_reply import names_clash
from judges.phrases import STOP_WORDS, PhraseIndex, content_words, note_phrases, rank_phrases

REPO = Path(__file__).resolve().parents[2]

DATES = [
    "Booked the follow-up from the wrong anchor date.",
    "Used the wrong anchor date for the vaccination reminder.",
    "Wrong anchor date again: counted from the first message.",
    "Timezone not applied, the reminder fired at 3am.",
    "Timezone not applied for the parent in Sydney.",
]
FOLLOW_UPS = [
    "Missed follow-up after the fever conversation.",
    "Missed follow-up: promised to check back and nothing was scheduled.",
    "Missed follow-up on the sleep plan it offered to review.",
    "The check-in was dropped after the parent said yes.",
]
TONE = [
    "Lectured the parent about screen time.",
    "Lectured the dad about sugar in a one-line answer.",
    "Sarcastic reply to a tired parent at 3am.",
    "Sarcastic about the toddler refusing naps.",
]


def cluster(
    label: int, texts: list[str], contrast: tuple[ContrastCluster, ...] = ()
) -> ClusterSample:
    """Notes ``label*100 + i``; the first two are representative, the last is boundary."""
    notes = tuple(SampleNote(label * 100 + i, t) for i, t in enumerate(texts))
    return ClusterSample(label, len(notes), (), notes, notes[:2], notes[-1:], contrast)


def neighbour(sample: ClusterSample) -> ContrastCluster:
    return ContrastCluster(sample.label, sample.keywords, sample.representative)


def judge(*samples: ClusterSample) -> list[CategoryProposal]:
    return KeywordJudge().propose(samples, [])


def test_the_phrase_the_notes_share_names_the_cluster() -> None:
    dates, follow_ups, tone = judge(cluster(1, DATES), cluster(2, FOLLOW_UPS), cluster(3, TONE))

    assert dates.name == "Wrong anchor date"
    assert follow_ups.name.startswith("Missed follow-up")
    assert tone.name == "Lectured"  # "sarcastic" is only in non-central notes: not joined
    assert dates.member_note_ids == (100, 101, 102, 103, 104)


def test_names_are_sentence_case_and_at_most_six_words() -> None:
    proposals = judge(cluster(1, DATES), cluster(2, FOLLOW_UPS), cluster(3, TONE))

    for p in proposals:
        assert p.name[0].isupper() and len(p.name.split()) <= 6, p.name


def test_a_phrase_in_every_cluster_loses_to_a_rarer_distinctive_one() -> None:
    def everywhere(texts: list[str]) -> list[str]:
        return [f"{t} Bedtime routine notes attached." for t in texts]

    samples = [cluster(1, everywhere(DATES)), cluster(2, everywhere(FOLLOW_UPS))]
    dates, follow_ups = judge(*samples)

    assert "bedtime" not in (dates.name + follow_ups.name).casefold()
    assert dates.name == "Wrong anchor date"
    ranked = rank_phrases(samples[0], PhraseIndex(samples[0].members + samples[1].members))
    assert all("bedtime" not in p.key for p in ranked)  # no more frequent here than elsewhere


def test_a_phrase_in_many_notes_beats_one_in_a_single_note() -> None:
    texts = [
        "Gave a made-up hotline number.",
        "Cited a made-up study on night lights.",
        "Quoted a made-up book about naps and a fictional author, Dr. Zed.",
        "Linked a made-up NHS page.",
    ]
    [proposal] = judge(cluster(1, texts))

    assert proposal.name == "Made-up"
    assert all(p["notes"] >= 2 for p in proposal.audit["phrases"])  # "Dr. Zed" never a name


def test_overlapping_phrases_are_never_both_picked() -> None:
    texts = [
        "Wrong anchor date for the reminder.",
        "Wrong anchor date used again.",
        "Anchor date shifted by a week.",
        "Anchor date shifted after the clocks changed.",
        "Reminder set from the wrong anchor date.",
    ]
    proposal, _ = judge(cluster(1, texts), cluster(2, FOLLOW_UPS))

    picked = [p["phrase"] for p in proposal.audit["phrases"]]
    assert picked[0] == "anchor date"  # in all five notes
    assert [p for p in picked if "anchor" in p] == ["anchor date"]  # not "wrong anchor date" too
    for i, a in enumerate(picked):
        for b in picked[i + 1 :]:
            assert not content_words(a.casefold()) & content_words(b.casefold()), (a, b)


def test_no_candidate_phrase_starts_or_ends_with_a_stop_word_or_number() -> None:
    text = "Set the reminder for the 2nd of May, not the 3rd; it doesn't exist in the app."
    found = note_phrases(text)
    written = {" ".join(words) for words in found.values()}

    assert {"reminder", "Set the reminder", "doesn't exist", "app"} <= written
    assert found["not exist"] == ("doesn't", "exist")  # matched as "not exist"
    for words in found.values():
        first, last = words[0].casefold(), words[-1].casefold()
        assert last not in STOP_WORDS and not last[0].isdigit(), words
        assert not first[0].isdigit() and (first not in STOP_WORDS or first == "doesn't"), words
    assert not {"the reminder", "reminder for", "of May", "2nd", "not the 3rd"} & written


def test_phrases_match_across_inner_function_words_and_negations() -> None:
    texts = ["Timezone wasn't applied at all.", "The timezone not applied again.", "Tiny font."]
    [proposal] = judge(cluster(1, texts))

    assert proposal.audit["phrases"][0]["phrase"] in {
        "timezone wasn't applied",
        "timezone not applied",
    }
    assert proposal.audit["phrases"][0]["notes"] == 2


def test_stop_word_phrases_never_name_a_cluster() -> None:
    texts = ["It was in the app.", "It was in the app again.", "It was all of the above."]
    [proposal] = judge(
        ClusterSample(
            1, 3, ("app", "above"), tuple(SampleNote(i, t) for i, t in enumerate(texts)), ()
        )
    )

    assert proposal.name == "App"
    [only_stop_words] = judge(
        ClusterSample(2, 2, ("kw",), (SampleNote(1, "it was"), SampleNote(2, "it was")), ())
    )
    assert only_stop_words.name == "kw"  # keyword-named: no phrase to use
    assert only_stop_words.confidence == 0.0


def test_judging_is_deterministic_across_runs_and_hash_seeds() -> None:
    samples = [cluster(1, DATES), cluster(2, FOLLOW_UPS), cluster(3, TONE)]
    assert judge(*samples) == judge(*samples)

    script = (
        "import json, sys; sys.path.insert(0, '.');"
        "from tests.judges.test_keyword_judge import cluster, judge, DATES, FOLLOW_UPS, TONE;"
        "ps = judge(cluster(1, DATES), cluster(2, FOLLOW_UPS), cluster(3, TONE));"
        "print(json.dumps([[p.name, p.definition, p.confidence, p.audit] for p in ps]))"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", script],
            cwd=REPO,
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in ("1", "2")
    }
    assert len(outputs) == 1
    assert json.loads(outputs.pop())[0][0] == "Wrong anchor date"


def test_the_definition_includes_by_phrases_and_excludes_the_nearest_cluster() -> None:
    follow_ups = cluster(2, FOLLOW_UPS)
    dates = cluster(1, DATES, contrast=(neighbour(follow_ups),))
    proposal, _ = judge(dates, follow_ups)

    assert proposal.definition.startswith(
        "Notes that mention “wrong anchor date”, “reminder” or “timezone not applied”: "
        "5 of these 5 notes mention at least one."
    )
    assert "Unlike the nearest cluster, whose most distinctive phrase is “missed follow-up”" in (
        proposal.definition
    )
    assert "0 of these 5 notes mention it" in proposal.definition
    assert "not an LLM" in proposal.definition


def test_a_neighbour_outside_the_run_is_described_from_its_shown_notes() -> None:
    shown = cluster(2, FOLLOW_UPS[:2])
    [proposal] = judge(cluster(1, DATES, contrast=(neighbour(shown),)))  # as the LLM fallback

    assert "whose most distinctive phrase is “missed follow-up”" in proposal.definition


def test_confidence_is_the_share_of_notes_containing_a_name_phrase() -> None:
    dates, follow_ups = judge(cluster(1, DATES), cluster(2, FOLLOW_UPS))

    assert dates.confidence == 0.6  # "wrong anchor date": 3 of 5 notes
    assert dates.audit["coverage"] == {"notes": 3, "of": 5}
    assert follow_ups.confidence == 0.75  # "missed follow-up": 3 of 4 notes


def test_a_grab_bag_cluster_gets_low_confidence_and_its_misfits_flagged() -> None:
    texts = [
        *DATES[:3],
        "Lectured the parent about screen time.",
        "Invented a sleep book.",
        "A table that did not render.",
    ]
    sample = ClusterSample(
        1, 6, ("anchor", "date", "wrong"), tuple(SampleNote(i, t) for i, t in enumerate(texts)), ()
    )
    [proposal] = judge(sample)

    assert proposal.name == "Wrong anchor date"
    assert proposal.confidence == 0.5
    assert proposal.misfit_note_ids == (3, 4, 5)
    assert proposal.confidence <= 1 - len(proposal.misfit_note_ids) / sample.size


ANCHORS = [*DATES[:3], "Tiny font.", "Odd emoji."]


def test_clusters_with_the_same_best_phrase_get_distinct_names() -> None:
    also_anchors = [
        "Wrong anchor date on the daycare reminder.",
        "Wrong anchor date for the potty plan.",
        "Wrong anchor date for the dentist.",
        "Alpha.",
        "Beta.",
        "Gamma.",
    ]
    unrelated = [f"Sarcastic reply number {i}." for i in range(20)]
    first, second, _ = judge(cluster(1, ANCHORS), cluster(2, also_anchors), cluster(3, unrelated))

    assert first.name == "Wrong anchor date"
    assert second.name == "Wrong anchor date (2)"  # as the LLM judge suffixes a clash
    assert second.audit["name_phrases"] == ["wrong anchor date"]


def test_a_name_close_to_an_earlier_one_gives_way_to_the_next_phrase() -> None:
    near = [
        "Anchor date wrong for the daycare reminder.",
        "Anchor date wrong again.",
        "Anchor date wrong, daycare reminder fired twice.",
    ]
    first, second = judge(cluster(1, ANCHORS), cluster(2, near))

    assert first.name == "Wrong anchor date"
    assert names_clash("Anchor date wrong", first.name)
    assert second.name == "Daycare reminder"
    assert second.confidence == round(2 / 3, 4)


def test_the_judge_says_it_is_not_an_llm_and_records_its_version() -> None:
    judge_ = KeywordJudge()

    assert judge_.judge_id == KEYWORD_JUDGE_ID == "keyword-not-an-llm"
    assert judge_.judge_version == "keyword-not-an-llm/2"


def test_tiny_and_empty_clusters_still_get_a_proposal() -> None:
    one = cluster(1, ["Wrong anchor date."])
    empty = ClusterSample(2, 0, ("date",), (), ())
    single, nothing = judge(one, empty)

    assert single.name == "Wrong anchor date" and single.confidence == 1.0
    assert nothing.name == "date" and nothing.confidence == 0.0
    assert nothing.member_note_ids == () and nothing.misfit_note_ids == ()


def test_code_identifiers_stay_whole_and_as_written() -> None:
    texts = [
        "Called make_find_path, which is not in the library.",
        "make_find_path is invented.",
        "Relies on make_find_path again.",
    ]
    [proposal] = judge(cluster(1, texts))

    assert proposal.name == "make_find_path"
