"""Names across a run: no two proposals keep the same or nearly the same name."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from judges.judge import ClusterSample
from judges.llm_reply import names_clash
from judges.openai_judge import OpenAIJudge
from tests.fakes.openai_stub import (
    OpenAIStub,
    Scripted,
    StubRequest,
    judge_answer,
    reply,
    server_error,
)
from tests.judges.conftest import make_sample

JudgeFactory = Callable[..., OpenAIJudge]


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Wrong date handling", "wrong date handling."),
        ("Date handling wrong", "Wrong date handling"),
        ("Time zone errors in invites", "Timezone error in invites"),
        ("Wrong timezone in invites", "Wrong timezone in calendar invites"),
        ("Refunds promised against policy", "Refund promised against the policy"),
    ],
)
def test_same_or_near_same_names_clash(a: str, b: str) -> None:
    assert names_clash(a, b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Wrong date", "Wrong data"),
        ("Refund amount hallucinated", "Refund policy hallucinated"),
        ("Failure 2", "Failure 3"),
        ("Replied in wrong language", "Ignored the user's language preference"),
    ],
)
def test_distinct_names_do_not_clash(a: str, b: str) -> None:
    assert not names_clash(a, b)


def _is_rename(request: StubRequest) -> bool:
    return "<taken_name>" in request.messages[-1]["content"]


def test_a_clashing_name_is_asked_again_with_the_clash_shown(
    openai_stub: OpenAIStub, make_judge: JudgeFactory, dates: ClusterSample, refunds: ClusterSample
) -> None:
    def respond(request: StubRequest) -> Scripted:
        if _is_rename(request):
            return reply(judge_answer("Refund promised against policy"), usage=(50, 10))
        return reply(judge_answer("Wrong policy handling"), usage=(100, 20))

    openai_stub.responder = respond
    first, second = make_judge(concurrency=2).propose([dates, refunds], [])

    assert first.name == "Wrong policy handling"  # the earlier proposal keeps its name
    assert second.name == "Refund promised against policy"
    ask = openai_stub.requests[-1]
    assert [m["role"] for m in ask.messages] == ["system", "user", "assistant", "user"]
    assert json.loads(ask.messages[2]["content"])["name"] == "Wrong policy handling"
    assert '"Wrong policy handling"' in ask.messages[3]["content"]
    assert ask.messages[:2] == second.audit["request"]["messages"][:2]
    rename = second.audit["rename"]
    assert rename["from"] == "Wrong policy handling"
    assert rename["clash_with"] == "Wrong policy handling"
    assert rename["request"]["messages"] == ask.messages
    assert second.audit["tokens"] == {"prompt": 150, "completion": 30, "total": 180}
    assert second.audit["attempts"] == 2 and len(openai_stub.requests) == 3


def test_a_name_that_still_clashes_gets_a_distinguishing_keyword(
    openai_stub: OpenAIStub, make_judge: JudgeFactory, dates: ClusterSample, refunds: ClusterSample
) -> None:
    openai_stub.responder = lambda r: reply(judge_answer("Wrong policy handling"))
    first, second = make_judge().propose([dates, refunds], [])

    assert first.name == "Wrong policy handling"
    assert second.name == "Wrong policy handling (refund)"
    assert second.audit["suffixed"]["to"] == second.name
    assert "error" not in second.audit["rename"]


def test_a_failed_rename_keeps_the_reply_and_suffixes(
    openai_stub: OpenAIStub, make_judge: JudgeFactory, dates: ClusterSample, refunds: ClusterSample
) -> None:
    def respond(request: StubRequest) -> Scripted:
        return server_error(500) if _is_rename(request) else reply(judge_answer("Policy misquoted"))

    openai_stub.responder = respond
    _first, second = make_judge(max_retries=0).propose([dates, refunds], [])

    assert not second.judge_failed
    assert second.name == "Policy misquoted (refund)"
    assert second.audit["rename"]["error"] == "HTTP 500: The server had an error (after 1 attempts)"


def test_failed_clusters_with_the_same_keywords_get_distinct_names(
    openai_stub: OpenAIStub, make_judge: JudgeFactory
) -> None:
    openai_stub.responder = lambda r: server_error(500)
    keywords = ("date", "week", "wrong", "off")
    a = make_sample(1, keywords, ["wrong date", "wrong week"])
    b = make_sample(2, keywords, ["wrong date", "wrong week"])
    first, second = make_judge(max_retries=0).propose([a, b], [])

    assert first.judge_failed and second.judge_failed
    assert (first.name, second.name) == ("Wrong", "Wrong (2)")
