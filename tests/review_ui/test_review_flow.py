"""A reviewer takes the demo run from proposals to a confirmed taxonomy with the keyboard alone."""

from __future__ import annotations

import json
import re
from html import escape
from typing import Any

import pytest
from sqlalchemy import select

from service.demo import DEMO_DIR, answer_key
from service.storage.models import Proposal
from tests.review_ui.conftest import LiveServer, screenshot, sign_in

pytestmark = pytest.mark.browser


def keys(page: Any, *pressed: str, navigates: bool = True) -> None:
    """Press keys; wait for the page the last one leads to."""
    if not navigates:
        for key in pressed:
            page.keyboard.press(key)
        return
    with page.expect_navigation():
        for key in pressed:
            page.keyboard.press(key)


def pick_option(page: Any, select_id: str, value: str) -> None:
    """Choose an option of the focused select with arrow keys only."""
    values = page.eval_on_selector_all(f"#{select_id} option", "os => os.map(o => o.value)")
    assert page.evaluate("document.activeElement.id") == select_id
    for _ in range(values.index(value)):
        page.keyboard.press("ArrowDown")
    assert page.input_value(f"#{select_id}") == value


def status(page: Any) -> str:
    return str(page.text_content("#proposal-status")).strip()


def note_count(page: Any) -> int:
    return int(page.locator("#notes li[data-note]").count())


def queue_rows(page: Any) -> list[tuple[int, str, int]]:
    rows = []
    for row in page.locator("#queue tbody tr").all():
        link = row.locator("a[data-open]")
        pid = int(str(link.get_attribute("href")).rsplit("/", 1)[1])
        rows.append(
            (pid, str(link.text_content()).strip(), int(str(row.locator("td.num").text_content())))
        )
    return rows


def blind_audit(page: Any, live: LiveServer) -> None:
    """Label the run's audit sample as the answer key says, without seeing any proposal."""
    run_id = live.demo.run_id
    with live.db().transaction() as s:
        names = set(s.scalars(select(Proposal.name).where(Proposal.run_id == run_id)))
    key = answer_key()["labels"]
    truth = {
        n["text"]: key[n["external_id"]]
        for n in map(json.loads, (DEMO_DIR / "notes.jsonl").read_text().splitlines())
    }
    assert page.url.endswith(f"/runs/{run_id}/audit")  # blind-first: the sample comes first
    assert "label the audit sample before seeing proposals" in str(page.text_content(".flash"))
    content = page.content()
    assert names and not any(f">{escape(name)}<" in content for name in names)
    total = page.locator("form.label-form").count()
    assert total == live.app.state.services.settings.audit_sample_size
    for i in range(total):  # the next unlabelled note's name field has the focus each time
        item = page.locator("li.note").nth(i)
        label = truth[str(item.locator(".text").text_content())]
        nid = item.get_attribute("data-note")
        assert page.evaluate("document.activeElement.closest('li').dataset.note") == nid
        page.keyboard.type(label)  # a name, or "noise"
        with page.expect_navigation():
            page.keyboard.press("Enter")
        if i < total - 1:
            assert page.url.endswith(f"/runs/{run_id}/audit?after={nid}")
    assert page.url.endswith(f"/runs/{run_id}")  # the last label opens the proposals
    assert "Blind audit done" in str(page.text_content(".flash"))


def test_review_the_demo_run_end_to_end_with_the_keyboard(page: Any, live: LiveServer) -> None:
    run_id = live.demo.run_id
    sign_in(page, "reviewer", "axial-reviewer")
    assert "/login" not in page.url
    page.goto("/projects/demo/runs")
    keys(page, "j", "Enter")
    blind_audit(page, live)
    page.goto("/projects/demo/runs")
    keys(page, "j", "Enter")
    assert page.url.endswith(f"/runs/{run_id}")
    rows = queue_rows(page)
    assert len(rows) >= 5 and page.text_content("#pending-count") == str(len(rows))
    assert [r[2] for r in rows] == sorted((r[2] for r in rows), reverse=True)  # largest first
    screenshot(page, "queue")
    (big, _, big_size), (ren, _, ren_size), (conf, _, conf_size), (rej, _, rej_size) = rows[:4]
    rest = rows[4:]

    keys(page, "j", "Enter")  # open the largest proposal
    assert page.url.endswith(f"/proposals/{big}")
    assert note_count(page) == big_size
    assert "keyword-not-an-llm" in str(page.text_content(".meta"))
    screenshot(page, "proposal")
    keys(page, "n")
    assert page.url.endswith(f"/proposals/{ren}")
    keys(page, "p")
    assert page.url.endswith(f"/proposals/{big}")
    keys(page, "?", navigates=False)
    assert page.is_visible("#help")
    keys(page, "Escape", navigates=False)
    assert not page.is_visible("#help")

    # split: s opens the split panel, g asks for the suggested split, Enter splits
    keys(page, "s", navigates=False)
    assert "splitting" in str(page.get_attribute("body", "class"))
    keys(page, "g")
    page.wait_for_selector("body.splitting")
    groups = page.eval_on_selector_all("select.group", "ss => ss.map(s => s.value)")
    assert sorted(set(groups)) == ["1", "2"]
    keys(page, "Enter")
    first_child = int(page.url.rsplit("/", 1)[1])
    with live.db().transaction() as s:
        children = sorted(s.scalars(select(Proposal.id).where(Proposal.parent_proposal_id == big)))
    assert first_child == children[0] and len(children) == 2
    assert note_count(page) == groups.count("1")

    # merge the first part into the second: m, arrows to choose, Enter
    keys(page, "m", navigates=False)
    pick_option(page, "merge-into", f"p:{children[1]}")
    keys(page, "Enter")
    page.goto(f"/proposals/{children[1]}")
    assert note_count(page) == big_size

    # move the current note to noise: j focuses it, v selects it and opens the move panel
    keys(page, "j", "v", navigates=False)
    assert page.evaluate("document.activeElement.id") == "move-to"
    keys(page, "Enter")
    assert note_count(page) == big_size - 1
    assert page.text_content("#proposal-version") == "3"

    # rename then confirm
    page.goto(f"/proposals/{ren}")
    keys(page, "r", navigates=False)
    page.keyboard.type("Reminders at the wrong time <b>!</b>")
    keys(page, "Enter")
    assert page.text_content("#proposal-name") == "Reminders at the wrong time <b>!</b>"
    keys(page, "c")
    assert status_of(live, ren) == "confirmed"

    page.goto(f"/proposals/{conf}")
    keys(page, "c")

    # reject, then undo it from the page the reject led to
    page.goto(f"/proposals/{rej}")
    keys(page, "x")
    assert status_of(live, rej) == "rejected"
    assert not page.url.endswith(f"/proposals/{rej}")  # moved on (3 vs 30: not a substring test)
    keys(page, "u")
    assert page.url.endswith(f"/proposals/{rej}")
    assert status(page) == "pending"
    assert "Undid reject" in str(page.text_content(".flash"))

    for pid in [rej, *(r[0] for r in rest), children[1]]:
        page.goto(f"/proposals/{pid}")
        keys(page, "c")

    page.goto(f"/runs/{run_id}")
    page.reload()
    assert page.text_content("#pending-count") == "0"
    final = statuses_on_queue(page)
    assert final[big] == "split" and final[children[0]] == "merged"
    assert final[children[1]] == final[ren] == final[conf] == final[rej] == "confirmed"

    page.goto("/projects/demo/categories")
    counts = {
        str(r.locator(".cat-name").text_content()): int(str(r.locator(".cat-count").text_content()))
        for r in page.locator("#categories tbody tr").all()
    }
    assert counts["Reminders at the wrong time <b>!</b>"] == ren_size
    assert sorted(counts.values()) == sorted(
        [big_size - 1, ren_size, conf_size, rej_size, *(r[2] for r in rest)]
    )
    assert page.console_errors == []


def status_of(live: LiveServer, proposal_id: int) -> str:
    from service.storage.models import ProposalState

    with live.db().transaction() as s:
        state = s.get(ProposalState, proposal_id)
        assert state is not None
        return state.status


def statuses_on_queue(page: Any) -> dict[int, str]:
    out = {}
    for row in page.locator("#queue tbody tr").all():
        href = str(row.locator("a[data-open]").get_attribute("href"))
        cls = str(row.get_attribute("class"))
        out[int(href.rsplit("/", 1)[1])] = re.sub(r"^status-", "", cls)
    return out
