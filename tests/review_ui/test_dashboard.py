"""The lead dashboard page: lead only, figures equal to the API's, specs safe in a data block."""

from __future__ import annotations

import html
import json
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from service.notes.batches import get_or_create_project
from service.storage.models import Note
from tests.conftest import auth
from tests.replay import RecordedProposal, store_judge_output

SPECS = re.compile(r'<script type="application/json" id="dashboard-specs">(.*?)</script>', re.S)
EVIL = "Beta </script><script>alert(1)</script>"


@pytest.fixture
def reviewed(app: Any, client: TestClient, keys: dict[str, str]) -> int:
    """A replayed run of 30 notes (proposals "Alpha", EVIL, 6 noise), confirmed by a lead, and
    10 blind labels by a reviewer who never saw the proposals."""
    lines = "\n".join(json.dumps({"external_id": f"d{i}", "text": f"dash {i}"}) for i in range(30))
    resp = client.post(
        "/api/v1/projects/demo/batches",
        content=lines,
        headers={**auth(keys["lead"]), "Content-Type": "application/x-ndjson"},
    )
    assert resp.status_code == 201, resp.text
    with app.state.services.db.transaction() as s:
        ids = list(s.scalars(select(Note.id).where(Note.batch_id == resp.json()["id"])))
        project_id = get_or_create_project(s, "demo").id
    app.state.services.settings.audit_sample_size = 10
    groups = [RecordedProposal("Alpha", tuple(ids[:12])), RecordedProposal(EVIL, tuple(ids[12:24]))]
    run = store_judge_output(
        app.state.services, project_id, int(resp.json()["id"]), groups,
        judge_id="replay", judge_version="replay/1", seed=2,
    )  # fmt: skip
    h, lead = auth(keys["reviewer"]), auth(keys["lead"])
    cats = {}
    for p in client.get(f"/api/v1/runs/{run}/queue", headers=lead).json()["proposals"]:
        confirm = f"/api/v1/proposals/{p['proposal_id']}/confirm"
        cats[p["name"]] = client.post(confirm, json={"version": p["version"]}, headers=lead).json()
    client.post(f"/api/v1/runs/{run}/blind", json={"enabled": True}, headers=auth(keys["lead"]))
    truth = {n: cats["Alpha"]["category_id"] for n in ids[:12] + ids[24:26]}  # 2 false noise
    truth |= {n: cats[EVIL]["category_id"] for n in ids[12:24]}
    for item in client.get(f"/api/v1/runs/{run}/audit", headers=h).json()["notes"]:
        label = truth.get(item["note_id"])
        choice = {"noise": True} if label is None else {"category_id": label}
        body = {"note_id": item["note_id"], **choice}
        resp = client.post(f"/api/v1/runs/{run}/audit/labels", json=body, headers=h)
        assert resp.status_code == 201, resp.text
    return run


def headline(api: dict[str, Any]) -> str:
    e = api["judge_error_rate"]
    low, high = 100 * e["low"], 100 * e["high"]
    return f"Judge error {100 * e['value']:.0f}% (95% CI {low:.0f}%–{high:.0f}%)"


def page_of(client: TestClient, key: str, **params: Any) -> Any:
    return client.get(
        "/projects/demo/dashboard", params=params, headers={**auth(key), "Accept": "text/html"}
    )


def test_the_dashboard_shows_the_apis_figures(
    client: TestClient, keys: dict[str, str], reviewed: int
) -> None:
    api = client.get("/api/v1/projects/demo/agreement", headers=auth(keys["lead"])).json()
    resp = page_of(client, keys["lead"])
    assert resp.status_code == 200, resp.text
    assert headline(api) in html.unescape(resp.text)
    assert f"blind audit n = {api['judge_error_rate']['n']}" in resp.text
    assert "1 run(s)" in resp.text
    assert "indicative only" in resp.text  # n = 10 < 20
    assert "Rolling: judge replay/1: last 1 audited run(s)" in resp.text
    specs = json.loads(SPECS.search(resp.text).group(1))  # type: ignore[union-attr]
    assert set(specs) == {"outcomes", "weeks", "pareto", "saturation", "runs"}
    assert all("vega-lite" in s["$schema"] for s in specs.values())
    bars = {v["outcome"]: v["proposals"] for v in specs["outcomes"]["data"]["values"]}
    assert bars["accepted"] == 2 and bars["pending"] == 0
    pareto = [v["category"] for v in specs["pareto"]["data"]["values"]]
    assert pareto == [r["name"][:40] for r in api["corrected_counts"]["categories"]]
    for chart in specs:
        assert f'data-chart="{chart}"' in resp.text


def test_user_text_cannot_break_out_of_the_data_block(
    client: TestClient, keys: dict[str, str], reviewed: int
) -> None:
    text = page_of(client, keys["lead"]).text
    assert "<script>alert(1)</script>" not in text
    assert "&lt;/script&gt;" in text  # the counts table escapes it
    values = json.loads(SPECS.search(text).group(1))["pareto"]["data"]["values"]  # type: ignore[union-attr]
    assert EVIL in [v["category"] for v in values]  # intact once parsed back


def test_only_leads_see_the_dashboard_and_filters_narrow_it(
    client: TestClient, keys: dict[str, str], reviewed: int
) -> None:
    assert page_of(client, keys["reviewer"]).status_code == 403
    assert page_of(client, keys["outsider"]).status_code == 404  # as an unknown project
    link = 'href="/projects/demo/dashboard"'
    assert link in page_of(client, keys["lead"]).text  # the header links it for leads only
    runs = client.get(
        "/projects/demo/runs", headers={**auth(keys["reviewer"]), "Accept": "text/html"}
    )
    assert runs.status_code == 200 and link not in runs.text
    assert page_of(client, keys["lead"], week="2026-W99").status_code == 422
    other = page_of(client, keys["lead"], judge_version="someone-else/2")
    assert other.status_code == 200 and "Judge error: no blind audit labels yet" in other.text
    params = {"judge_version": "replay/1", "run_id": str(reviewed)}
    api = client.get("/api/v1/projects/demo/agreement", params=params, headers=auth(keys["lead"]))
    assert headline(api.json()) in html.unescape(page_of(client, keys["lead"], **params).text)
