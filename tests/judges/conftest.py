"""Fixtures for the judge tests: a local OpenAI-compatible server and small clusters."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import openai
import pytest

from judges.judge import ClusterSample, ContrastCluster, ExistingCategory, SampleNote
from judges.openai_judge import OpenAIJudge
from tests.fakes.openai_stub import OpenAIStub


@pytest.fixture
def waits() -> list[float]:
    """Backoff waits the judge asked for (recorded instead of slept)."""
    return []


@pytest.fixture
def make_judge(openai_stub: OpenAIStub, waits: list[float]) -> Iterator[Callable[..., OpenAIJudge]]:
    """An OpenAIJudge on the stub, with fast retries; keyword arguments override."""
    clients: list[openai.OpenAI] = []

    def make(**overrides: Any) -> OpenAIJudge:
        client = openai.OpenAI(base_url=openai_stub.url, api_key="test-key", max_retries=0)
        clients.append(client)
        params: dict[str, Any] = {
            "model": "stub-model",
            "timeout_s": 5.0,
            "max_retries": 2,
            "backoff_base_s": 0.01,
            "concurrency": 1,
            "sleep": waits.append,
            "seed": 0,
        }
        params.update(overrides)
        return OpenAIJudge(client, **params)

    yield make
    for client in clients:
        client.close()


def make_sample(label: int, keywords: tuple[str, ...], texts: list[str]) -> ClusterSample:
    """A cluster of notes ``label*100 + i``; the first three are representative."""
    notes = tuple(SampleNote(label * 100 + i, t) for i, t in enumerate(texts))
    return ClusterSample(
        label=label,
        size=len(notes),
        keywords=keywords,
        members=notes,
        representative=notes[:3],
        boundary=notes[3:],
    )


@pytest.fixture
def dates() -> ClusterSample:
    sample = make_sample(
        1,
        ("date", "week", "timezone", "calendar"),
        [
            "Booked the meeting for next week instead of this week",
            "Confirmation shows the wrong timezone for the call",
            "Said Tuesday is the 5th but it's the 4th",
            "Calendar invite used UTC instead of the customer's local time",
        ],
    )
    contrast = ContrastCluster(
        label=2,
        keywords=("refund", "policy"),
        notes=(SampleNote(201, "Promised a refund the policy does not allow"),),
    )
    return ClusterSample(
        sample.label,
        sample.size,
        sample.keywords,
        sample.members,
        sample.representative,
        sample.boundary,
        (contrast,),
    )


@pytest.fixture
def refunds() -> ClusterSample:
    return make_sample(
        2,
        ("refund", "policy", "amount"),
        [
            "Promised a refund the policy does not allow",
            "Quoted a refund amount that was never in the order",
            "Told the user refunds take 2 days, policy says 10",
        ],
    )


@pytest.fixture
def categories() -> list[ExistingCategory]:
    return [
        ExistingCategory(7, "Hallucinated policy", "States a policy the company does not have."),
        ExistingCategory(9, "Tone too casual", "Replies in slang to a formal complaint."),
    ]
