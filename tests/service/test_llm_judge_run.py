"""The LLM judge in the service: build_judge from settings, and demo runs against the local stub.

The only fake is the OpenAI-compatible server at the network edge; the app, database,
embedder, clusterer and openai SDK are real.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from clustering import Embedder
from judges.judge import ClusterSample, SampleNote
from judges.keyword_judge import KeywordJudge
from judges.openai_judge import OpenAIJudge
from service.app import create_app
from service.runs.judging import build_judge
from service.settings import Settings
from tests.conftest import auth, demo_notes, make_keys, wait_for_run
from tests.fakes.openai_stub import (
    OpenAIStub,
    Scripted,
    StubRequest,
    judge_answer,
    reply,
    server_error,
)


@pytest.fixture
def no_openai_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "OPENAI_BASE_URL",
        "OPENAI_API_KEY",
        "AXIAL_OPENAI_BASE_URL",
        "AXIAL_OPENAI_API_KEY",
    ):
        monkeypatch.delenv(name, raising=False)


def test_keyword_judge_is_the_default_when_nothing_is_configured(no_openai_env: None) -> None:
    assert isinstance(build_judge(Settings()), KeywordJudge)


def test_standard_openai_env_configures_the_llm_judge(
    no_openai_env: None, monkeypatch: pytest.MonkeyPatch, openai_stub: OpenAIStub
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", openai_stub.url)
    monkeypatch.setenv("AXIAL_OPENAI_MODEL", "llama-3.1-8b-instruct")
    judge = build_judge(Settings(openai_temperature=0.2, openai_name_samples=3))

    assert isinstance(judge, OpenAIJudge)
    assert judge.judge_id == "openai:llama-3.1-8b-instruct"
    assert judge.judge_version.startswith("openai:llama-3.1-8b-instruct/prompt-")
    assert judge.judge_version.endswith("/t0.2/k3")


def test_the_built_client_sends_a_placeholder_key_and_does_not_retry_itself(
    no_openai_env: None, openai_stub: OpenAIStub
) -> None:
    settings = Settings(openai_base_url=openai_stub.url, openai_max_retries=1)
    openai_stub.responder = lambda r: server_error(500)
    judge = build_judge(settings)
    assert isinstance(judge, OpenAIJudge)
    judge.caller.sleep = lambda s: None  # the default backoff is 0.5 s: do not wait in tests
    notes = (SampleNote(1, "booked next week instead of this week"), SampleNote(2, "wrong date"))
    sample = ClusterSample(1, 2, ("date", "week", "late"), notes, notes)
    [proposal] = judge.propose([sample], [])

    assert proposal.judge_failed and proposal.audit["attempts"] == 2
    assert len(openai_stub.requests) == 2  # one per attempt of ours: the SDK's retries are off
    assert {r.headers["authorization"] for r in openai_stub.requests} == {"Bearer not-needed"}
    assert openai_stub.requests[0].body["model"] == settings.openai_model


@pytest.fixture
def llm_app(
    settings: Settings, embedder: Embedder, openai_stub: OpenAIStub, no_openai_env: None
) -> Iterator[Any]:
    llm_settings = settings.model_copy(
        update={
            "openai_base_url": openai_stub.url,
            "openai_api_key": SecretStr("stub-key"),
            "openai_model": "stub-model",
            "openai_max_retries": 0,
            "openai_timeout_s": 10.0,
            "openai_concurrency": 2,
        }
    )
    application = create_app(llm_settings, embedder=embedder, warm_up=False)
    yield application
    application.state.worker.stop()
    application.state.services.db.dispose()


def _start_run(client: TestClient, key: str, batch_id: int) -> dict[str, Any]:
    resp = client.post("/api/v1/projects/demo/runs", json={"batch_id": batch_id}, headers=auth(key))
    assert resp.status_code == 202, resp.text
    return wait_for_run(client, resp.json()["id"], key)


def test_demo_runs_with_the_stub_as_judge(llm_app: Any, openai_stub: OpenAIStub) -> None:
    replied: list[str] = []
    lock = threading.Lock()

    def respond(request: StubRequest) -> Scripted:
        keywords = json.loads(request.user.split("<keywords>")[1].split("</keywords>")[0])
        with lock:
            name = f"Scripted failure {len(replied) + 1} {keywords[0]}"
            replied.append(name)
        return reply(judge_answer(name), usage=(100, 20))

    openai_stub.responder = respond
    with TestClient(llm_app) as client:
        lead = make_keys(llm_app, "demo")["lead"]
        batch = client.post(
            "/api/v1/projects/demo/batches",
            content=demo_notes(),
            headers={**auth(lead), "Content-Type": "application/x-ndjson"},
        )
        assert batch.status_code == 201, batch.text

        run = _start_run(client, lead, batch.json()["id"])
        assert run["status"] == "succeeded", run
        assert run["judge_id"] == "openai:stub-model" and run["n_judge_failed"] == 0
        proposals = client.get(f"/api/v1/runs/{run['id']}/proposals", headers=auth(lead)).json()
        assert len(proposals) == run["n_clusters"] == len(replied) > 1
        assert sorted(p["name"] for p in proposals) == sorted(replied)
        for p in proposals:
            assert p["judge_id"] == "openai:stub-model"
            assert p["judge_version"] == run["judge_version"]
            assert p["judge_version"].startswith("openai:stub-model/prompt-")
            assert not p["judge_failed"] and p["failure_reason"] is None
            assert p["tokens"] == 120 and p["latency_ms"] is not None
        demo_texts = {json.loads(line)["text"] for line in demo_notes().splitlines()}
        for request in openai_stub.requests:  # demo notes went out as delimited JSON data
            block = request.user.split("<cluster_notes>")[1].split("</cluster_notes>")[0]
            shown = json.loads(block)
            assert shown and {n["text"] for n in shown} <= demo_texts
        assert all(r.headers["authorization"] == "Bearer stub-key" for r in openai_stub.requests)

        # every call fails: the run still completes, with keyword proposals marked failed
        openai_stub.responder = lambda r: server_error(500)
        failed = _start_run(client, lead, batch.json()["id"])
        assert failed["status"] == "succeeded", failed
        assert failed["n_judge_failed"] == failed["n_clusters"] > 1
        proposals = client.get(f"/api/v1/runs/{failed['id']}/proposals", headers=auth(lead)).json()
        for p in proposals:
            assert p["judge_failed"] and p["judge_id"] == "openai:stub-model"
            assert p["failure_reason"] == "HTTP 500: The server had an error (after 1 attempts)"
            assert not p["name"].startswith("Scripted") and p["name"]
