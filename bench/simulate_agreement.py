"""Coverage of the judge error rate and corrected counts, by simulation (METRICS.md §6).

Usage: ``.venv/bin/python bench/simulate_agreement.py --repeats 200 [--jobs 2]``. Prints one
row per cell of the grid batch N ∈ {50, 100, 500} × audit n ∈ {20, 50} × judge error rate
ε ∈ {5%, 20%, 40%} and per run kind (a project's **first** run, with an empty codebook, and a
**later** run of the same project), and exits 1 when a cell misses a target.

What is **real** (the product's own code, through its HTTP API, served in-process by the ASGI
app through ``httpx.ASGITransport``, on a SQLite file in /dev/shm): ingesting each batch (``POST /projects/{p}/batches``), storing the
judge's run through the run store (:func:`tests.replay.store_judge_output` →
``service.run_store.store_results``, which draws the stratified blind audit exactly as a live
run does), turning blind mode on, every blind label and every revision
(``POST /runs/{id}/audit/labels``), every read that reveals the judge's work (``GET
/runs/{id}/queue``), every workflow action (``confirm``, ``move``, ``unclustered/assign``) and
every figure (``GET /projects/{p}/agreement?run_id=``: log fold, links of blind names to the
codebook, mapping ``m(j)``, Hájek/Wilson headline, stratified posterior-predictive counts).

What is **simulated**:

- Ground truth: N notes drawn without replacement from ``llm_code_bug_notes`` (587 distinct
  coder notes on buggy LLM code, 10 categories with a skewed prevalence), plus 5% noise
  notes ("not a failure") drawn from ``banking77`` queries.
- The judge (no embedding, no clustering, no LLM): each note gets its true label with
  probability 1 − ε; otherwise a wrong one — a true-noise note goes to a category (false
  inclusion); a categorised note goes to the judge's noise with probability 0.2 (false noise)
  or to another category drawn by prevalence. Proposals are the notes grouped by judge label,
  named by that label; the judge's noise is left unclustered.
- The blind reviewer labels every audited note with its truth (human noise η = 0) **in their
  own words**, before the workflow starts (blind first): a category the codebook lacks gets a
  name that differs from the one confirmed later (a synonym or another word order, "edge case
  missed" for "Missing Corner Case"; one note in five gets a second wording of the same
  category); a category the codebook has (later runs) is picked from it; noise is noise.
- The same reviewer then reviews through the API: confirms every proposal (the category keeps
  the judge's name, the dataset's label), catches each misplaced note with probability v
  (vigilance, default 1: a careful reviewer, so the links of blind names are right; lower it
  to see what a sloppy review does to them) and moves it to its true category or to noise (the
  true category must exist); judge-noise notes are assigned to their true category when
  caught, else accepted as noise.
- After the reveal, labels change: the reviewer relabels a third of the audited notes to the
  judge's placement, and a second reviewer, who read the queue before ever labelling (a lead
  had blind mode off for a moment), labels every audited note as the judge placed it. All of
  these are revisions: the headline must not move (column ``moved``: repeats where it did;
  the target is 0). Column ``pending``: runs whose headline read "pending review" after the
  blind audit and before the review (every first run should: its blind names wait for links).

Estimands: the judge error rate's interval is checked against the **set rate ε** (the issue's
"true rate": the simulated judge errs on each note with probability ε) and, for information,
against the batch's realised rate ``E_N`` under the product's own mapping (METRICS.md §6.5;
an interval without finite-population correction over-covers ``E_N`` when n/N is large, and is
exact at a census). Corrected counts are checked against each category's true count in the
batch (finite population), for every row the service reports.

Targets: the error-rate interval covers ε in 93–97% of repeats; the count intervals cover the
true counts in ≥ 90% of (repeat, category) rows; no headline moved by a revision. A cell misses
a target when the 95% Monte Carlo interval of its coverage (Wilson) lies outside the target
band: with 200 repeats that interval is about ±3 pp, so the point estimate alone would fail
calibrated intervals by chance (``--strict`` judges the point estimate instead).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import httpx  # noqa: E402
from sqlalchemy import select  # noqa: E402

from judges.agreement import normalise_name, wilson  # noqa: E402
from service.app import create_app  # noqa: E402
from service.auth import Role, create_key  # noqa: E402
from service.notes.batches import get_or_create_project  # noqa: E402
from service.settings import Settings  # noqa: E402
from service.storage.models import Note  # noqa: E402
from tests.replay import RecordedProposal, store_judge_output  # noqa: E402

NOISE_SHARE = 0.05
FALSE_NOISE = 0.2
SECOND_WORDING = 0.2  # share of a category's blind notes written with its second wording
RELABEL = 1 / 3  # share of audited notes the reviewer relabels to the judge after the reveal
GRID = [(b, a, e) for b in (50, 100, 500) for a in (20, 50) for e in (0.05, 0.20, 0.40)]
KINDS = ("first", "later")
Truth = str | None

# How a reviewer writes each llm_code_bug_notes category blind, in their own words: never the
# dataset's label (the name the workflow confirms), two wordings each.
OWN_WORDS = {
    "Misinterpretation": ("misread the task", "task misunderstood"),
    "Missing Corner Case": ("edge case missed", "corner cases not handled"),
    "Wrong Attribute": ("attribute wrong", "bad attribute access"),
    "Non-Prompted Consideration": ("unrequested extra logic", "consideration nobody asked for"),
    "Wrong Input Type": ("input type wrong", "wrong type of input"),
    "Hallucinated Object": ("invented object", "object that does not exist"),
    "Silly Mistake": ("careless slip", "mistake, silly"),
    "Syntax Error": ("error in syntax", "broken syntax"),
    "Prompt-biased Code": ("code biased by the prompt", "prompt bias in code"),
    "Incomplete Generation": ("generation cut short", "incomplete output"),
}


def own_words(label: str, rng: random.Random) -> str:
    """A blind name for ``label`` in the reviewer's words (another word order if unknown)."""
    first, second = OWN_WORDS.get(label, (" ".join(reversed(label.split())) + " (blind)",) * 2)
    return second if rng.random() < SECOND_WORDING else first


def datasets() -> Path:
    return Path(os.environ.get("AXIAL_DATASETS", REPO.parent / "shared" / "datasets"))


def _read(path: Path, limit: int | None = None) -> list[tuple[str, str]]:
    rows: dict[str, str] = {}
    with path.open() as fh:
        for line in fh:
            row = json.loads(line)
            rows.setdefault(row["text"].strip(), row["label"])
            if limit and len(rows) >= limit:
                break
    return sorted(rows.items())


@dataclass(frozen=True, slots=True)
class Pool:
    notes: list[tuple[str, str]]
    noise: list[str]
    prevalence: dict[str, float]

    @classmethod
    def load(cls) -> Pool:
        notes = _read(datasets() / "llm_code_bug_notes" / "notes_multilabel.jsonl")
        noise = [t for t, _ in _read(datasets() / "banking77" / "notes.jsonl", 2000)]
        counts = Counter(label for _, label in notes)
        total = sum(counts.values())
        return cls(notes, noise, {k: v / total for k, v in sorted(counts.items())})

    def batch(self, size: int, rng: random.Random) -> list[tuple[str, Truth]]:
        k = round(size * NOISE_SHARE)
        drawn: list[tuple[str, Truth]] = list(rng.sample(self.notes, size - k))
        drawn += [(t, None) for t in rng.sample(self.noise, k)]
        rng.shuffle(drawn)
        return drawn


def judge_label(truth: Truth, eps: float, pool: Pool, rng: random.Random) -> Truth:
    """The simulated judge: right with probability 1 − ε, else a wrong label."""
    if rng.random() >= eps:
        return truth
    if truth is not None and rng.random() < FALSE_NOISE:
        return None
    others = [c for c in pool.prevalence if c != truth]
    return rng.choices(others, weights=[pool.prevalence[c] for c in others])[0]


@dataclass
class Repeat:
    """One run's outcome (a repeat has a first and a later run)."""

    kind: str
    low: float | None
    high: float | None
    value: float | None
    e_batch: float
    workflow: float | None
    count_rows: int
    count_hits: int
    unlisted: int
    moved: bool  # a revision moved the headline (must never happen)
    pending: bool  # the headline read "pending review" between the blind audit and the review


class Sim:
    """The real app on a SQLite file, driven through its HTTP API."""

    def __init__(self, db: Path, audit: int) -> None:
        settings = Settings(  # the grid's audit size exactly (no share, no floor)
            database_url=f"sqlite:///{db}",
            audit_sample_size=audit,
            audit_max_share=1.0,
            audit_min_size=0,
        )
        self.app = create_app(settings, start_worker=False)
        self.svc = self.app.state.services
        transport = httpx.ASGITransport(app=self.app)
        self.client = httpx.AsyncClient(transport=transport, base_url="http://sim")
        self.headers: dict[str, dict[str, str]] = {}
        self.project_ids: dict[str, int] = {}

    def project(self, name: str) -> int:
        with self.svc.db.transaction() as s:
            project = get_or_create_project(s, name)
            for role in (Role.lead, Role.reviewer):
                key = create_key(s, project, role, f"sim-{role.value}")
                self.headers[role.value] = {"Authorization": f"Bearer {key}"}
            second = create_key(s, project, Role.reviewer, "sim-second")
            self.headers["second"] = {"Authorization": f"Bearer {second}"}
            return int(project.id)

    async def call(self, method: str, path: str, who: str = "reviewer", **kw: Any) -> Any:
        headers = {**self.headers[who], **kw.pop("headers", {})}
        resp = await self.client.request(method, f"/api/v1{path}", headers=headers, **kw)
        if resp.status_code >= 300:
            raise RuntimeError(f"{method} {path}: {resp.status_code} {resp.text[:300]}")
        return resp.json()

    async def ingest(
        self, name: str, notes: list[tuple[str, Truth]], tag: str = "s"
    ) -> tuple[int, list[int]]:
        lines = "\n".join(
            json.dumps({"external_id": f"{tag}{i}", "text": t}) for i, (t, _) in enumerate(notes)
        )
        kind = {"Content-Type": "application/x-ndjson"}
        body = await self.call(
            "POST", f"/projects/{name}/batches", "lead", content=lines.encode(), headers=kind
        )
        with self.svc.db.transaction() as s:
            rows = s.execute(
                select(Note.id, Note.external_id).where(Note.batch_id == body["id"])
            ).all()
        by_ext = {ext: int(i) for i, ext in rows}
        return int(body["id"]), [by_ext[f"{tag}{i}"] for i in range(len(notes))]


async def _blind(
    sim: Sim, run: int, truth: dict[int, Truth], cats: dict[str, int], rng: random.Random
) -> None:
    """Blind mode on; the reviewer labels every audited note with its truth, in own words (a
    category the codebook has is picked from it)."""
    await sim.call("POST", f"/runs/{run}/blind", "lead", json={"enabled": True})
    for item in (await sim.call("GET", f"/runs/{run}/audit"))["notes"]:
        label = truth[item["note_id"]]
        if label is None:
            choice: dict[str, Any] = {"noise": True}
        elif label in cats:
            choice = {"category_id": cats[label]}
        else:
            choice = {"new_category_name": own_words(label, rng)}
        body = {"note_id": item["note_id"], **choice}
        await sim.call("POST", f"/runs/{run}/audit/labels", json=body)


async def _relabel(
    sim: Sim, run: int, judged: dict[int, Truth], cats: dict[str, int], rng: random.Random
) -> None:
    """After the reveal: the reviewer moves a third of their audit labels to the judge's
    placement; a second reviewer reads the queue, then labels every audited note the judge's
    way. Every one of these is a revision."""
    # the second reviewer sees the judge's work while a lead has blind mode off for a moment
    await sim.call("POST", f"/runs/{run}/blind", "lead", json={"enabled": False})
    await sim.call("GET", f"/runs/{run}/queue", "second")
    await sim.call("POST", f"/runs/{run}/blind", "lead", json={"enabled": True})
    for item in (await sim.call("GET", f"/runs/{run}/audit"))["notes"]:
        said = judged[item["note_id"]]
        choice = {"noise": True} if said is None else {"category_id": cats[said]}
        body = {"note_id": item["note_id"], **choice}
        if rng.random() < RELABEL:
            done = await sim.call("POST", f"/runs/{run}/audit/labels", json=body)
            assert done["mode"] == "revised", done
        await sim.call("POST", f"/runs/{run}/audit/labels", "second", json=body)


def _moves(
    proposal: str,
    members: list[int],
    truth: dict[int, Truth],
    cats: dict[str, int],
    v: float,
    rng: random.Random,
) -> dict[Truth, list[int]]:
    """The misplaced notes of a proposal the reviewer catches, by true destination."""
    caught = [n for n in members if truth[n] != proposal and rng.random() < v]
    caught = [n for n in caught if truth[n] is None or truth[n] in cats][: len(members) - 1]
    groups: dict[Truth, list[int]] = {}
    for n in caught:
        groups.setdefault(truth[n], []).append(n)
    return groups


def _where(dest: Truth, cats: dict[str, int]) -> dict[str, Any]:
    return {"to_noise": True} if dest is None else {"to_category_id": cats[dest]}


async def _workflow(
    sim: Sim,
    run: int,
    groups: dict[str, list[int]],
    truth: dict[int, Truth],
    v: float,
    rng: random.Random,
    cats: dict[str, int],
) -> None:
    """Confirm every proposal (into the category of its name if the codebook has one), then
    move the misplaced notes the reviewer catches; ``cats`` gains the new categories."""
    proposals = (await sim.call("GET", f"/runs/{run}/queue"))["proposals"]
    for p in proposals:
        path, body = f"/proposals/{p['proposal_id']}/confirm", {"version": p["version"]}
        cats[p["name"]] = (await sim.call("POST", path, json=body))["category_id"]
    for p in proposals:
        version = p["version"] + 1
        for dest, notes in _moves(p["name"], groups[p["name"]], truth, cats, v, rng).items():
            body = {"version": version, "note_ids": notes, **_where(dest, cats)}
            await sim.call("POST", f"/proposals/{p['proposal_id']}/move", json=body)
            version += 1
    claimed = {n for g in groups.values() for n in g}
    loose: dict[Truth, list[int]] = {}
    for n in (n for n in truth if n not in claimed):
        dest = truth[n] if truth[n] in cats and rng.random() < v else None
        loose.setdefault(dest, []).append(n)
    for dest, notes in loose.items():
        body = {"note_ids": notes, **_where(dest, cats)}
        await sim.call("POST", f"/runs/{run}/unclustered/assign", json=body)


def _batch_rate(body: dict[str, Any], judged: dict[int, Truth], truth: dict[int, Truth]) -> float:
    """``E_N``: the batch's share of notes whose mapped judge label differs from the truth."""
    run = body["proposal_outcomes"]["runs"][0]
    mapped = {
        o["name"]: (None if o["mapped_to"] is None else o["mapped_name"]) for o in run["outcomes"]
    }
    wrong = sum(
        1 for n, t in truth.items() if (None if judged[n] is None else mapped[judged[n]]) != t
    )
    return wrong / len(truth)


def _counts(body: dict[str, Any], truth: dict[int, Truth]) -> tuple[int, int, int]:
    true = Counter(truth.values())
    by_name = {("noise" if t is None else t): k for t, k in true.items()}
    by_name |= {f"new: {normalise_name(t)}": k for t, k in true.items() if t is not None}
    rows = [r for r in body["corrected_counts"]["categories"] if r["tier"] == "A"]
    hits = sum(1 for r in rows if r["low"] <= by_name.get(r["name"], 0) <= r["high"])
    listed = {r["name"] for r in rows}
    unlisted = sum(1 for t in true if ("noise" if t is None else t) not in listed
                   and f"new: {normalise_name(t or '')}" not in listed)  # fmt: skip
    return len(rows), hits, unlisted


async def _run(
    sim: Sim,
    pool: Pool,
    cell: tuple[int, int, float],
    v: float,
    rng: random.Random,
    name: str,
    kind: str,
    cats: dict[str, int],
) -> Repeat:
    """One batch through the service: ingest, judge, blind audit, workflow, revisions, figures."""
    size, _, eps = cell
    project_id = sim.project(name) if kind == "first" else sim.project_ids[name]
    sim.project_ids[name] = project_id
    notes = pool.batch(size, rng)
    batch, ids = await sim.ingest(name, notes, tag=kind)
    truth = {nid: label for nid, (_, label) in zip(ids, notes, strict=True)}
    judged = {nid: judge_label(t, eps, pool, rng) for nid, t in truth.items()}
    groups: dict[str, list[int]] = {}
    for nid, label in judged.items():
        if label is not None:
            groups.setdefault(label, []).append(nid)
    proposals = [RecordedProposal(label, tuple(g)) for label, g in sorted(groups.items())]
    run = store_judge_output(sim.svc, project_id, batch, proposals, judge_id="simulated",
                             judge_version=f"simulated/eps={eps}", seed=rng.randrange(2**31))  # fmt: skip
    await _blind(sim, run, truth, cats, rng)
    before = await sim.call("GET", f"/projects/{name}/agreement", "lead", params={"run_id": run})
    await _workflow(sim, run, groups, truth, v, rng, cats)
    body = await sim.call("GET", f"/projects/{name}/agreement", "lead", params={"run_id": run})
    await _relabel(sim, run, judged, cats, rng)
    after = await sim.call("GET", f"/projects/{name}/agreement", "lead", params={"run_id": run})
    error = body["judge_error_rate"]
    rows, hits, unlisted = _counts(body, truth)
    wf = body["workflow_disagreement"]
    return Repeat(kind, error["low"], error["high"], error["value"],
                  _batch_rate(body, judged, truth), wf["value"] if wf else None, rows, hits,
                  unlisted, after["judge_error_rate"] != error,
                  before["judge_error_rate"]["status"] == "pending_review")  # fmt: skip


async def repeat(
    sim: Sim, pool: Pool, cell: tuple[int, int, float], v: float, seed: int
) -> list[Repeat]:
    """A project's first run (empty codebook) and a later run (the codebook it left)."""
    rng = random.Random(seed)
    cats: dict[str, int] = {}
    return [await _run(sim, pool, cell, v, rng, f"p{seed}", kind, cats) for kind in KINDS]


@dataclass
class CellResult:
    cell: tuple[int, int, float]
    repeats: list[Repeat]
    seconds: float

    def coverage(self, target: str) -> tuple[int, int]:
        """(hits, n) of the error interval against ε ("set") or E_N ("batch")."""
        eps = self.cell[2]
        hits = 0
        for r in self.repeats:
            truth = eps if target == "set" else r.e_batch
            if r.low is not None and r.high is not None and r.low <= truth <= r.high:
                hits += 1
        return hits, len(self.repeats)


def run_cell(args: tuple[tuple[int, int, float], int, float, int]) -> CellResult:
    cell, repeats, v, base_seed = args
    started = time.perf_counter()
    pool = Pool.load()
    with tempfile.TemporaryDirectory(dir="/dev/shm" if Path("/dev/shm").is_dir() else None) as tmp:
        sim = Sim(Path(tmp) / "sim.db", cell[1])

        async def all_repeats() -> list[Repeat]:
            async with sim.client:
                runs = [await repeat(sim, pool, cell, v, base_seed + i) for i in range(repeats)]
                return [r for pair in runs for r in pair]

        out = asyncio.run(all_repeats())
        sim.svc.db.dispose()
    return CellResult(cell, out, time.perf_counter() - started)


def _pct(x: float | None) -> str:
    return "   -  " if x is None else f"{100 * x:5.1f}%"


def verdict(hits: int, n: int, low: float, high: float, strict: bool) -> bool:
    """Whether a coverage ``hits/n`` is consistent with the target band [low, high]."""
    if n == 0:
        return False
    if strict:
        return low <= hits / n <= high
    mc = wilson(hits, n)
    return mc.high >= low and mc.low <= high


HEAD = (
    "    N   n    ε  run    reps  cover(ε) [MC 95%]      ok  cover(E_N)  width  bias(ê−ε)"
    "  wf bias  counts cover   ok  unlisted  pending  moved     s"
)


def _mean(xs: list[float]) -> float | None:
    return sum(xs) / len(xs) if xs else None


def row(r: CellResult, strict: bool) -> tuple[str, bool]:
    """The table lines of a cell (one per run kind), and whether all its targets are met."""
    lines, all_ok = [], True
    for kind in KINDS:
        part = CellResult(r.cell, [x for x in r.repeats if x.kind == kind], r.seconds)
        if part.repeats:
            line, ok = _row(part, kind, strict)
            lines.append(line)
            all_ok &= ok
    return "\n".join(lines), all_ok


def _row(r: CellResult, kind: str, strict: bool) -> tuple[str, bool]:
    size, audit, eps = r.cell
    hits, n = r.coverage("set")
    mc = wilson(hits, n)
    ok = verdict(hits, n, 0.93, 0.97, strict)
    bh, bn = r.coverage("batch")
    width = _mean([x.high - x.low for x in r.repeats if x.low is not None and x.high is not None])
    value = _mean([x.value for x in r.repeats if x.value is not None])
    wf = _mean([x.workflow for x in r.repeats if x.workflow is not None])
    rows, chits = sum(x.count_rows for x in r.repeats), sum(x.count_hits for x in r.repeats)
    cok = verdict(chits, rows, 0.90, 1.0, strict)
    moved = sum(x.moved for x in r.repeats)
    pending = sum(x.pending for x in r.repeats) / n
    cells = [
        f"{size:5d} {audit:3d} {eps:4.2f} {kind:6s} {n:4d}",
        f" {_pct(hits / n)} [{_pct(mc.low)},{_pct(mc.high)}]",
        f"{'yes' if ok else 'NO':>4}  {_pct(bh / bn)}  {_pct(width)}",
        f"{_pct(None if value is None else value - eps):>9}",
        f"{_pct(None if wf is None else wf - eps):>7}",
        f"{_pct(chits / rows if rows else None):>12} {'yes' if cok else 'NO':>4}",
        f"{sum(x.unlisted for x in r.repeats) / n:8.2f}  {_pct(pending)} {moved:6d}",
        f"{r.seconds:5.0f}",
    ]
    return " ".join(cells), ok and cok and moved == 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=200, help="repeats per cell (>= 200)")
    parser.add_argument("--jobs", type=int, default=1, help="cells simulated in parallel")
    parser.add_argument("--vigilance", type=float, default=1.0, help="workflow catch rate v")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cells", default="", help="only these cells, e.g. 50:20:0.05,100:50:0.2")
    parser.add_argument("--strict", action="store_true", help="judge the point estimate only")
    args = parser.parse_args(argv)
    grid = GRID
    if args.cells:
        grid = [
            (int(b), int(a), float(e)) for b, a, e in (c.split(":") for c in args.cells.split(","))
        ]
    jobs = [(c, args.repeats, args.vigilance, args.seed + 100_000 * i) for i, c in enumerate(grid)]
    print(
        f"judge–human agreement simulation: {args.repeats} repeats per cell, vigilance "
        f"{args.vigilance}, seed {args.seed}, {args.jobs} job(s)\n{HEAD}",
        flush=True,
    )
    started, all_ok = time.perf_counter(), True
    with multiprocessing.get_context("spawn").Pool(max(1, args.jobs)) as workers:
        for result in workers.imap(run_cell, jobs):  # in grid order, as soon as each is done
            line, ok = row(result, args.strict)
            all_ok &= ok
            print(line, flush=True)
    print(
        f"{time.perf_counter() - started:.0f} s; "
        + ("all targets met" if all_ok else "a target was missed")
    )
    return 0 if all_ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
