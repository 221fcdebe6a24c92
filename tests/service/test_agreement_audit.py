"""The blind audit draw: allocation by hand, stratified draws stored with π and seed, the gate."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from judges.agreement import wilson_proportion
from service.audit.draw import allocate, draw_stratified_audit
from service.auth import Role, create_key
from service.notes.batches import get_or_create_project
from service.storage.models import AuditDraw, Note, Proposal, ReviewEvent
from tests.conftest import auth
from tests.replay import RecordedProposal, store_judge_output


def test_allocation_gives_one_per_stratum_and_the_rest_by_capacity() -> None:
    # N = 40, S = 3, n = 10: r = 7 over capacities 19, 9, 9 (sum 37):
    # quotas 3.595, 1.703, 1.703 -> floors 3, 1, 1 (5) -> 2 more by remainder: 2nd, 3rd.
    assert allocate([20, 10, 10], 10) == [4, 3, 3]
    assert sum(allocate([20, 10, 10], 10) or []) == 10


def test_allocation_is_exact_at_the_edges() -> None:
    assert allocate([1, 1, 5], 3) == [1, 1, 1]  # n = S: one each
    assert allocate([1, 1, 5], 7) == [1, 1, 5]  # census
    assert allocate([3, 4], 0) == [0, 0]
    assert allocate([5, 5, 5], 2) is None  # more strata than notes: simple random sample
    with pytest.raises(ValueError, match="0 <= n"):
        allocate([2, 2], 5)


def test_allocation_never_exceeds_a_stratum_and_stays_near_proportional() -> None:
    sizes = [120, 60, 30, 7, 2, 1, 80]
    counts = allocate(sizes, 30)
    assert counts is not None and sum(counts) == 30
    assert all(1 <= k <= s for k, s in zip(counts, sizes, strict=True))
    assert counts[0] > counts[1] > counts[2] >= counts[3]


def _batch(app: Any, client: TestClient, key: str, n: int) -> tuple[int, list[int]]:
    """Submit ``n`` notes as a batch; returns its id and its note ids."""
    lines = "\n".join(
        json.dumps({"external_id": f"a{i}", "text": f"audit test note {i}"}) for i in range(n)
    )
    resp = client.post(
        "/api/v1/projects/demo/batches",
        content=lines,
        headers={**auth(key), "Content-Type": "application/x-ndjson"},
    )
    assert resp.status_code == 201, resp.text
    batch_id = int(resp.json()["id"])
    with app.state.services.db.transaction() as s:
        ids = s.scalars(select(Note.id).where(Note.batch_id == batch_id).order_by(Note.id))
        return batch_id, list(ids)


def _replay(app: Any, batch_id: int, groups: list[list[int]], seed: int = 3) -> int:
    with app.state.services.db.transaction() as s:
        project_id = get_or_create_project(s, "demo").id
    proposals = [RecordedProposal(f"P{i}", tuple(g)) for i, g in enumerate(groups)]
    return store_judge_output(
        app.state.services, project_id, batch_id, proposals,
        judge_id="replay", judge_version="replay/1", seed=seed,
    )  # fmt: skip


def _draws(app: Any, run_id: int) -> list[AuditDraw]:
    with app.state.services.db.transaction() as s:
        rows = s.scalars(select(AuditDraw).where(AuditDraw.run_id == run_id))
        return sorted(rows, key=lambda d: d.position)


def test_a_finished_run_draws_a_stratified_sample_with_pi_and_seed(
    app: Any, client: TestClient, keys: dict[str, str]
) -> None:
    app.state.services.settings.audit_sample_size = 10
    batch, ids = _batch(app, client, keys["lead"], 40)
    run = _replay(app, batch, [ids[:20], ids[20:30]])
    draws = _draws(app, run)
    assert len(draws) == 10
    by_stratum: dict[str, list[AuditDraw]] = {}
    for d in draws:
        by_stratum.setdefault(d.stratum, []).append(d)
    p0, p1 = (f"proposal:{pid}" for pid in _proposal_ids(app, run))
    # strata sizes 20, 10 and the judge's noise 10 -> allocation [4, 3, 3] (see above)
    assert {k: len(v) for k, v in by_stratum.items()} == {p0: 4, p1: 3, "noise": 3}
    assert {d.inclusion_prob for d in by_stratum[p0]} == {4 / 20}
    assert {d.inclusion_prob for d in by_stratum["noise"]} == {3 / 10}
    assert all(d.note_id in ids[30:] for d in by_stratum["noise"])
    assert {d.seed for d in draws} == {3}
    assert [d.position for d in draws] == list(range(10))


def _proposal_ids(app: Any, run_id: int) -> list[int]:
    with app.state.services.db.transaction() as s:
        query = select(Proposal.id).where(Proposal.run_id == run_id).order_by(Proposal.id)
        return list(s.scalars(query))


def test_the_draw_is_seeded_and_drawn_once(
    app: Any, client: TestClient, keys: dict[str, str]
) -> None:
    app.state.services.settings.audit_sample_size = 6
    batch, ids = _batch(app, client, keys["lead"], 30)
    first = [d.note_id for d in _draws(app, _replay(app, batch, [ids[:15]], seed=7))]
    second = [d.note_id for d in _draws(app, _replay(app, batch, [ids[:15]], seed=7))]
    third = [d.note_id for d in _draws(app, _replay(app, batch, [ids[:15]], seed=8))]
    assert first == second and first != third
    with app.state.services.db.transaction() as s:
        again = draw_stratified_audit(s, 1, 20, 99)  # the run keeps its first draw
    assert again == first


def test_more_strata_than_notes_falls_back_to_a_simple_random_sample(
    app: Any, client: TestClient, keys: dict[str, str]
) -> None:
    app.state.services.settings.audit_sample_size = 3
    batch, ids = _batch(app, client, keys["lead"], 12)
    run = _replay(app, batch, [ids[0:2], ids[2:4], ids[4:6], ids[6:8]])
    draws = _draws(app, run)
    assert len(draws) == 3
    assert {d.inclusion_prob for d in draws} == {3 / 12}


def test_the_gate_lists_what_a_reviewer_still_has_to_label_blind(
    app: Any, client: TestClient, keys: dict[str, str]
) -> None:
    app.state.services.settings.audit_sample_size = 4
    batch, ids = _batch(app, client, keys["lead"], 10)
    run = _replay(app, batch, [ids[:5]])
    gate = client.get(f"/api/v1/runs/{run}/audit/gate", headers=auth(keys["reviewer"])).json()
    assert gate["sample_size"] == 4 and gate["must_audit_first"] is False  # blind mode is off
    order = gate["pending_note_ids"]
    on = client.post(
        f"/api/v1/runs/{run}/blind", json={"enabled": True}, headers=auth(keys["lead"])
    )
    assert on.status_code == 200, on.text
    label = client.post(
        f"/api/v1/runs/{run}/audit/labels",
        json={"note_id": order[0], "noise": True},
        headers=auth(keys["reviewer"]),
    )
    assert label.status_code == 201, label.text
    gate = client.get(f"/api/v1/runs/{run}/audit/gate", headers=auth(keys["reviewer"])).json()
    assert gate["must_audit_first"] is True
    assert gate["pending_note_ids"] == order[1:] and gate["labelled"] == 1
    lead_view = client.get(
        f"/api/v1/runs/{run}/audit/gate",
        params={"reviewer": gate["reviewer"]},
        headers=auth(keys["lead"]),
    ).json()
    assert lead_view["pending_note_ids"] == order[1:]
    other = client.get(
        f"/api/v1/runs/{run}/audit/gate",
        params={"reviewer": "key:test-lead"},
        headers=auth(keys["reviewer"]),
    )
    assert other.status_code == 403
    assert (
        client.get(f"/api/v1/runs/{run}/audit/gate", headers=auth(keys["client"])).status_code
        == 403
    )


def test_unequal_inclusion_probabilities_weight_the_headline(
    app: Any, client: TestClient, keys: dict[str, str]
) -> None:
    # Proposal A: 20 notes, the judge's noise: 4; audit of 6 -> allocation [4, 2] (quotas
    # 4·19/22 = 3.45 and 4·3/22 = 0.55 -> floors 3, 0 -> the last note to the larger remainder).
    app.state.services.settings.audit_sample_size = 6
    batch, ids = _batch(app, client, keys["lead"], 24)
    run = _replay(app, batch, [ids[:20]])
    draws = _draws(app, run)
    assert sorted(d.inclusion_prob for d in draws) == [0.2] * 4 + [0.5] * 2
    lead, rev = auth(keys["lead"]), auth(keys["reviewer"])
    pid = _proposal_ids(app, run)[0]
    # a lead confirms: the reviewer labels blind, never having seen the proposal
    confirm = client.post(f"/api/v1/proposals/{pid}/confirm", json={"version": 1}, headers=lead)
    category = confirm.json()["category_id"]
    client.post(f"/api/v1/runs/{run}/blind", json={"enabled": True}, headers=lead)
    in_a = [d.note_id for d in draws if d.inclusion_prob == 0.2]
    in_noise = [d.note_id for d in draws if d.inclusion_prob == 0.5]
    wrong = {in_a[0], in_noise[0]}  # one disagreement in each stratum
    for d in draws:
        judge_says = "category" if d.note_id in in_a else "noise"
        flip = d.note_id in wrong
        is_noise = (judge_says == "noise") != flip
        body = {
            "note_id": d.note_id,
            **({"noise": True} if is_noise else {"category_id": category}),
        }
        assert (
            client.post(f"/api/v1/runs/{run}/audit/labels", json=body, headers=rev).status_code
            == 201
        )
    error = client.get("/api/v1/projects/demo/agreement", headers=lead).json()["judge_error_rate"]
    # Hájek: weights 5 (A) and 2 (noise): p = (5 + 2)/(4·5 + 2·2) = 7/24;
    # Kish: n_eff = 24²/(4·25 + 2·4) = 576/108.
    expected = wilson_proportion(7 / 24, 576 / 108)
    assert error["weighted"] is True and (error["n"], error["disagreements"]) == (6, 2)
    assert error["value"] == round(7 / 24, 4) and error["n_eff"] == round(576 / 108, 2)
    assert (error["low"], error["high"]) == (round(expected.low, 4), round(expected.high, 4))


def _gate_error(resp: Any, pending: int) -> None:
    assert resp.status_code == 409, resp.text
    body = resp.json()
    assert body["error"] == "must_audit_first" and body["field"] == "run_id"
    assert body["pending"] == pending


def test_runs_start_blind_and_a_reviewer_labels_the_audit_before_seeing_proposals(
    app: Any, client: TestClient, keys: dict[str, str]
) -> None:
    settings = app.state.services.settings
    settings.blind_first, settings.audit_sample_size = True, 4  # the default, and a small sample
    batch, ids = _batch(app, client, keys["lead"], 10)
    run = _replay(app, batch, [ids[:5], ids[5:8]])
    pid = _proposal_ids(app, run)[0]
    reviewer, lead = auth(keys["reviewer"]), auth(keys["lead"])
    status = client.get(f"/api/v1/runs/{run}", headers=reviewer).json()
    assert status["blind_mode"] is True
    assert status["must_audit_first"] is True and status["audit_pending"] == 4
    hidden = [
        ("GET", f"/api/v1/runs/{run}/proposals", None),
        ("GET", f"/api/v1/runs/{run}/queue", None),
        ("GET", f"/api/v1/runs/{run}/unclustered", None),
        ("GET", f"/api/v1/proposals/{pid}", None),
        ("POST", f"/api/v1/proposals/{pid}/confirm", {"version": 1}),
        (
            "POST",
            f"/api/v1/runs/{run}/unclustered/assign",
            {"note_ids": [ids[9]], "to_noise": True},
        ),
    ]
    for method, url, body in hidden:
        _gate_error(client.request(method, url, json=body, headers=reviewer), 4)
    with app.state.services.db.transaction() as s:  # nothing was recorded by the refused calls
        assert s.scalar(select(func.count()).where(ReviewEvent.run_id == run)) == 0
    assert client.get(f"/api/v1/runs/{run}/proposals", headers=lead).status_code == 200
    assert client.get(f"/api/v1/runs/{run}", headers=lead).json()["must_audit_first"] is False

    audit = client.get(f"/api/v1/runs/{run}/audit", headers=reviewer).json()
    assert audit["must_audit_first"] is True and audit["pending"] == 4
    assert all("proposal" not in str(k) for n in audit["notes"] for k in n)  # nothing of the judge
    order = [n["note_id"] for n in audit["notes"]]
    for nid in order[:3]:
        label = {"note_id": nid, "new_category_name": "Wrong date"}
        resp = client.post(f"/api/v1/runs/{run}/audit/labels", json=label, headers=reviewer)
        assert resp.status_code == 201, resp.text
    _gate_error(client.get(f"/api/v1/runs/{run}/proposals", headers=reviewer), 1)
    last = {"note_id": order[3], "noise": True}
    assert client.post(f"/api/v1/runs/{run}/audit/labels", json=last, headers=reviewer).is_success
    assert client.get(f"/api/v1/runs/{run}/proposals", headers=reviewer).status_code == 200
    confirm = client.post(f"/api/v1/proposals/{pid}/confirm", json={"version": 1}, headers=reviewer)
    assert confirm.status_code == 200, confirm.text
    assert client.get(f"/api/v1/runs/{run}", headers=reviewer).json()["must_audit_first"] is False

    with app.state.services.db.transaction() as s:  # another reviewer has their own gate
        project = get_or_create_project(s, "demo")
        second = create_key(s, project, Role.reviewer, "second-reviewer")
    _gate_error(client.get(f"/api/v1/runs/{run}/queue", headers=auth(second)), 4)
    off = client.post(f"/api/v1/runs/{run}/blind", json={"enabled": False}, headers=lead)
    assert off.status_code == 200, off.text
    assert client.get(f"/api/v1/runs/{run}/queue", headers=auth(second)).status_code == 200


def test_with_blind_first_off_a_run_opens_straight_to_its_proposals(
    app: Any, client: TestClient, keys: dict[str, str]
) -> None:
    settings = app.state.services.settings
    settings.blind_first, settings.audit_sample_size = False, 4
    batch, ids = _batch(app, client, keys["lead"], 10)
    run = _replay(app, batch, [ids[:5]])
    status = client.get(f"/api/v1/runs/{run}", headers=auth(keys["reviewer"])).json()
    assert status["blind_mode"] is False and status["must_audit_first"] is False
    assert len(_draws(app, run)) == 4  # the sample is still drawn, for a lead to switch on
    resp = client.get(f"/api/v1/runs/{run}/proposals", headers=auth(keys["reviewer"]))
    assert resp.status_code == 200 and len(resp.json()) == 1
