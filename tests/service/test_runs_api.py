"""Runs through the API: the whole loop on the demo notes, reproducibility, failures."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from service.storage.models import Embedding, Note, Run
from tests.conftest import auth, wait_for_run


def start_run(client: TestClient, key: str, **body: Any) -> Any:
    return client.post("/api/v1/projects/demo/runs", json=body, headers=auth(key))


def partition(proposals: list[dict[str, Any]]) -> set[frozenset[str]]:
    return {frozenset(m["external_id"] for m in p["members"]) for p in proposals}


def test_demo_run_proposes_counted_clusters(
    client: TestClient, keys: dict[str, str], demo_run: int
) -> None:
    run = client.get(f"/api/v1/runs/{demo_run}", headers=auth(keys["lead"])).json()
    assert run["status"] == "succeeded" and run["stage"] == "done" and run["error"] is None
    assert run["n_notes"] == 203
    assert set(run["timings"]) >= {"embed", "cluster", "judge", "store"}
    assert len(run["config_hash"]) == 64 and run["seed"] == 0
    assert run["judge_id"] == "keyword-not-an-llm"
    proposals = client.get(f"/api/v1/runs/{demo_run}/proposals", headers=auth(keys["lead"])).json()
    assert len(proposals) == run["n_clusters"] >= 3
    assert [p["count"] for p in proposals] == sorted((p["count"] for p in proposals), reverse=True)
    for p in proposals:
        assert p["status"] == "pending" and p["version"] == 1
        assert p["judge_id"] == "keyword-not-an-llm" and p["judge_version"]
        assert p["keywords"] and p["name"] and "not an LLM" in p["definition"]
        assert p["count"] == len(p["members"]) >= 2
        assert all(m["text"] and m["external_id"].startswith("nst-") for m in p["members"])
    unclustered = client.get(
        f"/api/v1/runs/{demo_run}/unclustered", headers=auth(keys["lead"])
    ).json()
    assert len(unclustered) == run["n_unclustered"]
    clustered = [m["note_id"] for p in proposals for m in p["members"]]
    # every note is either in exactly one proposal or listed as unclustered, never both
    assert len(clustered) == len(set(clustered))
    assert not set(clustered) & {n["note_id"] for n in unclustered}
    assert len(clustered) + len(unclustered) == 203


def test_same_notes_config_and_seed_give_the_same_clusters(
    client: TestClient, keys: dict[str, str], demo_run: int, app: Any
) -> None:
    db = app.state.services.db
    with db.transaction() as session:
        cached = session.scalar(select(func.count()).select_from(Embedding))
        batch_id = session.scalar(select(Run.batch_id).where(Run.id == demo_run))
    again = start_run(client, keys["lead"], batch_id=batch_id, seed=0).json()
    second = wait_for_run(client, again["id"], keys["lead"])
    assert second["status"] == "succeeded"
    assert (
        second["config_hash"]
        == client.get(f"/api/v1/runs/{demo_run}", headers=auth(keys["lead"])).json()["config_hash"]
    )
    first_p = client.get(f"/api/v1/runs/{demo_run}/proposals", headers=auth(keys["lead"])).json()
    second_p = client.get(
        f"/api/v1/runs/{again['id']}/proposals", headers=auth(keys["lead"])
    ).json()
    assert partition(first_p) == partition(second_p)
    with db.transaction() as session:  # every text was embedded once, by the first run
        assert session.scalar(select(func.count()).select_from(Embedding)) == cached


def test_run_over_undecided_notes(client: TestClient, keys: dict[str, str], demo_run: int) -> None:
    run = start_run(client, keys["client"]).json()
    assert run["scope"] == "unconfirmed" and run["status"] in ("queued", "running", "succeeded")
    done = wait_for_run(client, run["id"], keys["client"])
    assert done["status"] == "succeeded" and done["n_notes"] == 203


def test_bad_run_requests(client: TestClient, keys: dict[str, str], app: Any) -> None:
    def runs() -> int:
        with app.state.services.db.transaction() as session:
            return session.scalar(select(func.count()).select_from(Run)) or 0

    empty = start_run(client, keys["lead"])
    assert empty.status_code == 422 and "at least 2 notes" in empty.json()["message"]
    unknown = start_run(client, keys["lead"], batch_id=424242)
    assert unknown.status_code == 404 and unknown.json()["field"] == "batch_id"
    other = client.post(
        "/api/v1/projects/elsewhere/batches",
        json={"notes": [{"text": "a"}, {"text": "b"}]},
        headers=auth(keys["outsider"]),
    ).json()["id"]
    foreign = start_run(client, keys["lead"], batch_id=other)
    assert foreign.status_code == 404
    assert start_run(client, keys["lead"], seed="x").json()["field"] == "seed"
    assert start_run(client, keys["reviewer"]).status_code == 403
    assert runs() == 0
    assert client.get("/api/v1/runs/999", headers=auth(keys["lead"])).status_code == 404
    assert client.get("/api/v1/runs/999/proposals", headers=auth(keys["lead"])).status_code == 404


def test_clients_read_only_their_own_runs(
    client: TestClient, keys: dict[str, str], demo_run: int
) -> None:
    assert client.get(f"/api/v1/runs/{demo_run}", headers=auth(keys["client"])).status_code == 403
    assert client.get(f"/api/v1/runs/{demo_run}", headers=auth(keys["reviewer"])).status_code == 200
    assert client.get(f"/api/v1/runs/{demo_run}", headers=auth(keys["outsider"])).status_code == 404


def test_a_failing_run_records_its_stage_and_keeps_everything_else(
    settings: Any, embedder: Any
) -> None:
    from service.app import create_app

    # the worker's warm-up (model, judge, UMAP and HDBSCAN fits) runs before its first claim;
    # it reads no database, so once (on SQLite) covers it
    good = create_app(
        settings, embedder=embedder, warm_up=settings.database_url.startswith("sqlite")
    )
    with TestClient(good) as client:
        from tests.conftest import make_keys

        lead = make_keys(good)["lead"]
        batch = client.post(
            "/api/v1/projects/demo/batches",
            json={"notes": [{"text": f"note number {i} about dates"} for i in range(6)]},
            headers=auth(lead),
        ).json()["id"]
        ok = client.post(
            "/api/v1/projects/demo/runs", json={"batch_id": batch}, headers=auth(lead)
        ).json()["id"]
        assert wait_for_run(client, ok, lead)["status"] == "succeeded"
        before = client.get(f"/api/v1/runs/{ok}/proposals", headers=auth(lead)).json()
    broken = create_app(
        settings.model_copy(update={"embedding_model": "/nonexistent/model", "seed": 7})
    )
    with TestClient(broken) as client:
        resp = client.post(
            "/api/v1/projects/demo/runs", json={"batch_id": batch}, headers=auth(lead)
        )
        failed = wait_for_run(client, resp.json()["id"], lead)
        assert failed["status"] == "failed" and failed["stage"] == "embed"
        assert failed["error"].startswith("embed: ") and "nonexistent" in failed["error"]
        assert client.get(f"/api/v1/runs/{ok}", headers=auth(lead)).json()["status"] == "succeeded"
        after = client.get(f"/api/v1/runs/{ok}/proposals", headers=auth(lead)).json()
        assert after == before  # the failed run left the earlier run's proposals untouched
    with broken.state.services.db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Note)) == 6
