"""Faults at the endpoint: retries with backoff, budget, format fallback, honest failures."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from judges.judge import ClusterSample
from judges.openai_judge import OpenAIJudge
from tests.fakes.openai_stub import (
    OpenAIStub,
    Scripted,
    empty,
    judge_answer,
    malformed,
    rate_limited,
    reply,
    server_error,
    slow,
    wrong_schema,
)

JudgeFactory = Callable[..., OpenAIJudge]
OK = reply(judge_answer("Wrong week booked"))


def test_429_honours_retry_after_then_succeeds(
    openai_stub: OpenAIStub, make_judge: JudgeFactory, waits: list[float], dates: ClusterSample
) -> None:
    openai_stub.queue(rate_limited(retry_after="7"), OK)
    [proposal] = make_judge().propose([dates], [])

    assert proposal.name == "Wrong week booked" and not proposal.judge_failed
    assert waits == [7.0]
    assert proposal.audit["attempts"] == 2 and len(openai_stub.requests) == 2
    assert proposal.audit["errors"] == ["HTTP 429: Rate limit reached"]
    assert proposal.audit["waits_s"] == [7.0]
    # the SDK's own retry loop is off: each attempt is one of ours
    assert [r.headers.get("x-stainless-retry-count") for r in openai_stub.requests] == ["0", "0"]


def test_retry_after_is_capped(
    openai_stub: OpenAIStub, make_judge: JudgeFactory, waits: list[float], dates: ClusterSample
) -> None:
    openai_stub.queue(rate_limited(retry_after="3600"), OK)
    make_judge(retry_after_max_s=0.5).propose([dates], [])
    assert waits == [0.5]


def test_5xx_backs_off_exponentially_with_jitter(
    openai_stub: OpenAIStub, make_judge: JudgeFactory, waits: list[float], dates: ClusterSample
) -> None:
    openai_stub.queue(server_error(500), server_error(503), OK)
    [proposal] = make_judge(backoff_base_s=1.0).propose([dates], [])

    assert proposal.name == "Wrong week booked" and proposal.audit["attempts"] == 3
    first, second = waits
    assert 0.5 <= first <= 1.0 and 1.0 <= second <= 2.0


def test_a_reply_past_the_timeout_is_retried(
    openai_stub: OpenAIStub, make_judge: JudgeFactory, dates: ClusterSample
) -> None:
    openai_stub.queue(slow(0.4), OK)
    [proposal] = make_judge(timeout_s=0.1).propose([dates], [])

    assert proposal.name == "Wrong week booked"
    assert proposal.audit["errors"] == ["timed out"]
    assert openai_stub.requests[0].body["messages"] == openai_stub.requests[1].body["messages"]


def test_persistent_5xx_fails_honestly_after_the_last_retry(
    openai_stub: OpenAIStub, make_judge: JudgeFactory, dates: ClusterSample
) -> None:
    openai_stub.responder = lambda r: server_error(502)
    [proposal] = make_judge(max_retries=2).propose([dates], [])

    assert proposal.judge_failed
    assert proposal.failure_reason == "HTTP 502: The server had an error (after 3 attempts)"
    assert proposal.name == "date / week / timezone"  # named by the keyword judge
    assert proposal.member_note_ids == (100, 101, 102, 103)
    assert len(openai_stub.requests) == 3 and proposal.audit["attempts"] == 3


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        (malformed(), "reply is not valid JSON"),
        (wrong_schema(), "reply does not match the schema: name: Field required"),
        (empty(), "empty reply"),
        (reply(judge_answer("One two three four five six seven")), "more than 6 words"),
    ],
    ids=["malformed", "wrong-schema", "empty", "long-name"],
)
def test_an_invalid_reply_is_a_failure_with_its_reason_and_raw_text(
    openai_stub: OpenAIStub,
    make_judge: JudgeFactory,
    dates: ClusterSample,
    fault: Scripted,
    reason: str,
) -> None:
    openai_stub.queue(fault)
    [proposal] = make_judge().propose([dates], [])

    assert proposal.judge_failed and reason in (proposal.failure_reason or "")
    assert proposal.audit["reply"] == fault.content
    assert proposal.audit["request"]["messages"] == openai_stub.requests[0].messages
    assert proposal.audit["tokens"]["total"] > 0 and len(openai_stub.requests) == 1


def test_json_schema_unsupported_falls_back_to_json_mode_for_the_run(
    openai_stub: OpenAIStub, make_judge: JudgeFactory, dates: ClusterSample, refunds: ClusterSample
) -> None:
    openai_stub.reject_json_schema = True
    openai_stub.responder = lambda r: reply(judge_answer(f"Failure {len(openai_stub.requests)}"))
    first, second = make_judge().propose([dates, refunds], [])

    assert [r.response_format for r in openai_stub.requests] == [
        "json_schema",
        "json_object",
        "json_object",
    ]
    assert not first.judge_failed and not second.judge_failed
    assert first.audit["response_format"] == "json_object"
    assert first.audit["request"]["response_format"] == {"type": "json_object"}


def test_call_budget_exhaustion_fails_the_remaining_clusters(
    openai_stub: OpenAIStub, make_judge: JudgeFactory, dates: ClusterSample, refunds: ClusterSample
) -> None:
    openai_stub.responder = lambda r: reply(judge_answer(f"Failure {len(openai_stub.requests)}"))
    proposals = make_judge(max_calls=2).propose([dates, refunds, dates, refunds], [])

    assert [p.judge_failed for p in proposals] == [False, False, True, True]
    assert proposals[2].failure_reason == "budget exhausted: 2 of 2 calls used"
    assert len(openai_stub.requests) == 2


def test_token_budget_exhaustion_fails_the_remaining_clusters(
    openai_stub: OpenAIStub, make_judge: JudgeFactory, dates: ClusterSample, refunds: ClusterSample
) -> None:
    openai_stub.queue(reply(judge_answer("Wrong week booked"), usage=(90, 20)))
    first, second = make_judge(max_tokens=100).propose([dates, refunds], [])

    assert not first.judge_failed and first.audit["tokens"]["total"] == 110
    assert second.judge_failed
    assert second.failure_reason == "budget exhausted: 110 of 100 tokens used"
    assert len(openai_stub.requests) == 1


def test_refused_credentials_stop_the_run_after_one_call(
    openai_stub: OpenAIStub, make_judge: JudgeFactory, dates: ClusterSample, refunds: ClusterSample
) -> None:
    openai_stub.queue(Scripted(status=401, error="Incorrect API key provided"))
    proposals = make_judge().propose([dates, refunds, dates], [])

    assert all(p.judge_failed for p in proposals) and len(openai_stub.requests) == 1
    assert proposals[0].failure_reason == "HTTP 401: Incorrect API key provided"
    assert proposals[2].failure_reason == (
        "judge endpoint refused (unauthorized): HTTP 401: Incorrect API key provided"
    )


def test_calls_run_concurrently_up_to_the_limit(
    openai_stub: OpenAIStub, make_judge: JudgeFactory, dates: ClusterSample
) -> None:
    names = iter(["Wrong week", "Lost timezone", "Bad refund", "Rude tone", "Fake policy", "Loop"])
    openai_stub.responder = lambda r: slow(0.2, reply(judge_answer(next(names))))
    progress: list[int] = []
    proposals = make_judge(concurrency=3).propose([dates] * 6, [], on_progress=progress.append)

    assert openai_stub.max_in_flight == 3
    assert progress == [1, 2, 3, 4, 5, 6]
    assert not any(p.judge_failed for p in proposals)
    assert len(openai_stub.requests) == 6  # distinct names: no re-asks


def test_connection_refused_fails_honestly(make_judge: JudgeFactory, dates: ClusterSample) -> None:
    judge = make_judge(max_retries=1)
    judge.caller.client = judge.caller.client.with_options(base_url="http://127.0.0.1:9/v1")
    [proposal] = judge.propose([dates], [])

    assert proposal.judge_failed
    assert (proposal.failure_reason or "").startswith("connection error")
    assert proposal.audit["attempts"] == 2
