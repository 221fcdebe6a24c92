"""Saturation from the whole reviewed record (METRICS.md §5, issue #18), through the API.

- code_bug-like: ten categories all confirmed in week 1, four more weeks of notes from the same
  ten: the audits alone are too few (10 blind notes a week), the reviewed record reads saturated.
- a category confirmed in a run without an audit, first drawn into a later run's audit: no
  discovery there.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from service.notes.batches import get_or_create_project
from service.storage.models import Note
from tests.conftest import auth
from tests.replay import RecordedProposal, store_judge_output

CATEGORIES = [f"Failure kind {c}" for c in "ABCDEFGHIJ"]


def _week(
    app: Any, client: TestClient, keys: dict[str, str], tag: str, per_category: int
) -> tuple[int, dict[str, list[int]]]:
    """A batch with ``per_category`` notes of each category, judged perfectly; returns the run."""
    names = [c for c in CATEGORIES for _ in range(per_category)]
    lines = "\n".join(
        json.dumps({"external_id": f"{tag}{i}", "text": f"{tag} note {i} about {name}"})
        for i, name in enumerate(names)
    )
    resp = client.post(
        "/api/v1/projects/demo/batches",
        content=lines,
        headers={**auth(keys["lead"]), "Content-Type": "application/x-ndjson"},
    )
    assert resp.status_code == 201, resp.text
    batch = int(resp.json()["id"])
    with app.state.services.db.transaction() as s:
        ids = list(s.scalars(select(Note.id).where(Note.batch_id == batch).order_by(Note.id)))
        project_id = get_or_create_project(s, "demo").id
    groups: dict[str, list[int]] = {}
    for nid, name in zip(ids, names, strict=True):
        groups.setdefault(name, []).append(nid)
    run = store_judge_output(
        app.state.services, project_id, batch,
        [RecordedProposal(name, tuple(g)) for name, g in groups.items()],
        judge_id="replay", judge_version="replay/1", seed=len(tag),
    )  # fmt: skip
    return run, groups


def _label_audit(client: TestClient, keys: dict[str, str], run: int, truth: dict[int, Any]) -> None:
    """The reviewer labels the run's audit blind, before anything of the judge's is shown."""
    for item in client.get(f"/api/v1/runs/{run}/audit", headers=auth(keys["reviewer"])).json()[
        "notes"
    ]:
        body = {"note_id": item["note_id"], **truth[item["note_id"]]}
        resp = client.post(
            f"/api/v1/runs/{run}/audit/labels", json=body, headers=auth(keys["reviewer"])
        )
        assert resp.status_code == 201, resp.text


def _confirm_all(client: TestClient, keys: dict[str, str], run: int) -> dict[str, int]:
    """The reviewer confirms every proposal (into the category of the same name, if any)."""
    h = auth(keys["reviewer"])
    cats = {}
    for p in client.get(f"/api/v1/runs/{run}/queue", headers=h).json()["proposals"]:
        confirm = client.post(
            f"/api/v1/proposals/{p['proposal_id']}/confirm",
            json={"version": p["version"]},
            headers=h,
        )
        assert confirm.status_code == 200, confirm.text
        cats[p["name"]] = confirm.json()["category_id"]
    return cats


def _saturation(client: TestClient, keys: dict[str, str], **params: Any) -> dict[str, Any]:
    resp = client.get("/api/v1/projects/demo/agreement", params=params, headers=auth(keys["lead"]))
    assert resp.status_code == 200, resp.text
    return resp.json()["saturation"]  # type: ignore[no-any-return]


def test_a_codebook_that_stopped_growing_reads_saturated(
    app: Any, client: TestClient, keys: dict[str, str]
) -> None:
    app.state.services.settings.blind_first = True
    runs = []
    cats: dict[str, int] = {}
    for week in range(5):  # 40 notes a week: audits of 10 (a quarter)
        run, groups = _week(app, client, keys, f"w{week}", 4)
        truth = {
            n: (
                {"category_id": cats[name]} if name in cats else {"new_category_name": name.lower()}
            )
            for name, g in groups.items()
            for n in g
        }
        _label_audit(client, keys, run, truth)
        cats |= _confirm_all(client, keys, run)
        runs.append(run)
    assert len(set(cats.values())) == 10  # later weeks landed in week 1's categories
    sat = _saturation(client, keys)
    live, record = sat["live"], sat["retrospective"]["stream"]
    assert live["non_noise"] == 50 and live["saturated"] is False  # 5 audits of 10: too few
    assert live["discoveries"] == 10  # week 1's names, linked by its review; never again
    assert record["non_noise"] == 200 and record["discoveries"] == 10
    assert record["since_last"] >= 160 and record["singletons"] == 0 and record["saturated"]
    assert sat["saturated"] is True and sat["signal"] == "retrospective"
    assert [r["new_categories"] for r in sat["retrospective"]["runs"]] == [10, 0, 0, 0, 0]
    assert sat["message"].startswith("saturated: the reviewed record's last")
    week5 = _saturation(client, keys, run_id=runs[4])  # one later week: nothing new in it
    assert (
        week5["live"]["discoveries"] == 0 and week5["retrospective"]["stream"]["discoveries"] == 0
    )


def test_a_category_first_drawn_into_a_later_audit_is_no_discovery(
    app: Any, client: TestClient, keys: dict[str, str]
) -> None:
    settings = app.state.services.settings
    settings.audit_sample_size = 0  # week 1: no audit at all
    first, _ = _week(app, client, keys, "a", 3)
    cats = _confirm_all(client, keys, first)
    settings.audit_sample_size, settings.audit_max_share = 30, 1.0  # week 2: a census audit
    second, groups = _week(app, client, keys, "bb", 2)
    client.post(f"/api/v1/runs/{second}/blind", json={"enabled": True}, headers=auth(keys["lead"]))
    truth = {n: {"category_id": cats[name]} for name, g in groups.items() for n in g}
    _label_audit(client, keys, second, truth)
    sat = _saturation(client, keys)
    assert sat["live"]["non_noise"] == 20 and sat["live"]["discoveries"] == 0
    assert sat["live"]["singletons"] == 0
    assert sat["retrospective"]["stream"]["discoveries"] == 10  # week 1's confirmations
