"""What reviewing axial's proposals costs a perfect reviewer, week after week (issue #14).

An oracle reviewer who knows every note's gold label (``bench/_oracle.py``) reviews weekly
streams through the **real HTTP API of a real server** (``axial serve`` in a subprocess on a
fresh SQLite file): each week a batch of notes is submitted, a run clusters and names it, the
oracle labels the blind audit sample (not counted) and then reviews every proposal and
unclustered note before the next week is submitted. The same oracle reviews, offline, the
clusters of BERTopic's defaults fitted per week on the same MiniLM vectors, and "by hand" is
priced as one call per label plus every note placed by hand.

Effort = calls + 0.5 × notes placed one by one (renames reported apart).

Streams: llm_code_bug_notes (all 267 notes, weeks of 100), the demo (one batch of 203), and for
each of banking77, clinc150 and stackoverflow_titles ``--streams`` streams of ``--weeks`` weeks
of 100 notes drawn from a fixed random subset of 15–25 labels.

    python bench/effort.py                       # every stream, 2 streams per large set
    python bench/effort.py --sets demo llm_code_bug_notes --no-bertopic
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _api_board import Api, ApiBoard, Server, label_audit
from _data import REPO, datasets_dir, write_json
from _oracle import Cost, MemoryBoard, by_hand, review

LARGE = ("banking77", "clinc150", "stackoverflow_titles")
DROP = {"clinc150": {"oos"}}


@dataclass(frozen=True, slots=True)
class Stream:
    name: str
    weeks: list[list[tuple[str, str, str]]]  # per week: (external_id, text, gold label)


def _rows(name: str) -> list[tuple[str, str, str]]:
    if name == "demo":
        key = json.loads((REPO / "service" / "demo" / "answer_key.json").read_text())["labels"]
        lines = (REPO / "service" / "demo" / "notes.jsonl").read_text().splitlines()
        rows = [json.loads(line) for line in lines if line.strip()]
        return [(r["external_id"], r["text"], key[r["external_id"]]) for r in rows]
    path = datasets_dir() / name / "notes.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    drop = DROP.get(name, set())
    return [(str(r["id"]), r["text"], r["label"]) for r in rows if r["label"] not in drop]


def streams(sets: list[str], n_streams: int, n_weeks: int, batch: int, seed: int) -> list[Stream]:
    out = []
    for name in sets:
        rows = _rows(name)
        if name == "demo":
            out.append(Stream("demo", [rows]))
            continue
        if name not in LARGE:
            rng = random.Random(seed)
            rows = rows[:]
            rng.shuffle(rows)
            out.append(Stream(name, [rows[i : i + batch] for i in range(0, len(rows), batch)]))
            continue
        labels = sorted({r[2] for r in rows})
        for s in range(n_streams):
            rng = random.Random(f"{name}-{seed}-{s}")
            chosen = set(rng.sample(labels, min(len(labels), rng.randint(15, 25))))
            pool = [r for r in rows if r[2] in chosen]
            picked = rng.sample(pool, min(len(pool), n_weeks * batch))
            weeks = [picked[i : i + batch] for i in range(0, len(picked), batch)]
            out.append(Stream(f"{name}#{s} ({len(chosen)} labels)", weeks))
    return out


class DiskCachedEmbedder:
    """The offline methods' embedder, its vectors kept on disk between runs (the bench only).

    Keyed by backend and sha256 of the text under ``$AXIAL_BENCH_VECTORS`` (default
    ``/tmp/axial-effort-vectors``): one ``.npz`` of (digests, vectors) per call that embedded
    something new; the model is loaded only when a text is missing.
    """

    def __init__(self, backend: str, model: str = "all-MiniLM-L6-v2") -> None:
        import numpy as np

        root = Path(os.environ.get("AXIAL_BENCH_VECTORS", "/tmp/axial-effort-vectors"))
        self.backend, self.model = backend, model
        self.dir = root / f"{model}-{backend}"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.vectors: dict[str, Any] = {}
        for path in sorted(self.dir.glob("*.npz")):
            with np.load(path) as chunk:
                self.vectors.update(zip(chunk["digests"].tolist(), chunk["vectors"], strict=True))
        self._embedder: Any = None

    def __call__(self, texts: list[str]) -> Any:
        import hashlib

        import numpy as np

        digests = [hashlib.sha256(t.encode()).hexdigest() for t in texts]
        missing = sorted(
            {d: t for d, t in zip(digests, texts, strict=True) if d not in self.vectors}.items()
        )
        if missing:
            if self._embedder is None:
                from clustering import make_embedder

                self._embedder = make_embedder(
                    self.backend,
                    self.model,
                    64,
                    REPO / "bench" / "results" / "cache",  # type: ignore[arg-type]
                )
            fresh = self._embedder.embed_batch([t for _, t in missing])
            keys = [d for d, _ in missing]
            name = hashlib.sha256("".join(keys).encode()).hexdigest()[:16]
            np.savez(self.dir / f"{name}.npz", digests=np.array(keys), vectors=fresh)
            self.vectors.update(zip(keys, fresh, strict=True))
        return np.stack([self.vectors[d] for d in digests]).astype(np.float32)


# --- the real server (bench/_api_board.py) ----------------------------------------------


def run_axial(server: Server, stream: Stream, index: int, file: bool = True) -> list[Cost]:
    project = f"effort{index}"
    lead = Api(server.url, server.key(project, "lead"))
    reviewer = Api(server.url, server.key(project, "reviewer"))
    codebook: dict[str, int] = {}
    costs = []
    for week in stream.weeks:
        notes = [{"external_id": x, "text": t} for x, t, _ in week]
        batch = lead.call("POST", f"/projects/{project}/batches", json={"notes": notes})
        stored = lead.call("GET", f"/batches/{batch['id']}")["notes"]
        ids = {n["external_id"]: n["note_id"] for n in stored}
        gold = {ids[x]: label for x, _, label in week}
        run_id = lead.call("POST", f"/projects/{project}/runs", json={"batch_id": batch["id"]})[
            "id"
        ]
        while (run := lead.call("GET", f"/runs/{run_id}"))["status"] in ("queued", "running"):
            time.sleep(0.3)
        if run["status"] != "succeeded":
            raise RuntimeError(f"run {run_id} {run['status']}: {run.get('error')}")
        label_audit(reviewer, run_id, gold, codebook)
        cost = Cost()
        review(ApiBoard(reviewer, project, run_id, file), gold, codebook, cost)
        costs.append(cost)
    return costs


# --- offline methods -------------------------------------------------------------------------


def run_bertopic(stream: Stream, embed: Any, seed: int, file: bool = True) -> list[Cost]:
    from bertopic import BERTopic
    from umap import UMAP

    categories: dict[int, set[int]] = defaultdict(set)
    codebook: dict[str, int] = {}
    costs, offset = [], 0
    for week in stream.weeks:
        texts = [t for _, t, _ in week]
        gold = {offset + i: label for i, (_, _, label) in enumerate(week)}
        umap = UMAP(
            n_neighbors=15, n_components=5, min_dist=0.0, metric="cosine", random_state=seed
        )
        topics, _ = BERTopic(umap_model=umap).fit_transform(texts, embed(texts))
        clusters: dict[int, list[int]] = defaultdict(list)
        noise = []
        for i, t in enumerate(topics):
            (noise if t < 0 else clusters[t]).append(offset + i)
        cost = Cost()
        review(MemoryBoard(clusters, noise, categories, file=file), gold, codebook, cost)
        costs.append(cost)
        offset += len(week)
    return costs


def run_library(
    stream: Stream,
    embed: Any,
    seed: int,
    params: dict[str, Any],
    carry: dict[str, Any] | None,
    bulk: bool = True,
    fixed: frozenset[str] = frozenset(),
    file: bool = True,
) -> list[Cost]:
    """axial's clusterer alone, offline (no judge, no server), for tuning; with ``carry``, notes
    that clustering.carryover.CategoryMatcher(**carry) matches to a confirmed category first
    arrive as carry-over proposals of it and only the rest is clustered. As in the service, the
    matcher's novelty is the project's own (observed_novelty over the weeks) once it has one,
    unless ``fixed`` names it (``--carry-over novelty=X``)."""
    import numpy as np

    from clustering import NoteClusterer
    from clustering.carryover import CategoryMatcher, lexical_features, observed_novelty

    categories: dict[int, set[int]] = defaultdict(set)
    codebook: dict[str, int] = {}
    costs, offset, seen, texts, week_of = [], 0, [], [], []
    for w, week in enumerate(stream.weeks):
        gold = {offset + i: label for i, (_, _, label) in enumerate(week)}
        texts.extend(t for _, t, _ in week)
        week_of.extend([w] * len(week))
        X = embed([t for _, t, _ in week])
        seen.append(X)
        known = np.concatenate(seen)
        rest = np.arange(len(week))
        carried: dict[int, list[int]] = defaultdict(list)
        if carry is not None and categories:
            # as the service does (service/runs/carryover.py): the codebook's notes in note
            # order, their words and the week's in one vocabulary
            members = sorted((n, c) for c, notes in categories.items() for n in notes)
            ids = np.array([c for _, c in members])
            rows = [n for n, _ in members]
            lexical = lexical_features([texts[n] for n in rows], texts[offset:])
            known_rows, week_rows = (None, None) if lexical is None else lexical
            # the project's own novelty once it has one (service.runs.carryover.matcher_params)
            novelty = observed_novelty([week_of[n] for n in rows], ids)
            own = carry if novelty is None or "novelty" in fixed else {**carry, "novelty": novelty}
            matcher = CategoryMatcher(**own).fit(known[rows], ids, known_rows)
            matched, _ = matcher.predict(X, week_rows)
            for i in np.flatnonzero(matched >= 0):
                carried[int(matched[i])].append(offset + int(i))
            rest = np.flatnonzero(matched < 0)
        clusters: dict[int, list[int]] = defaultdict(list)
        noise = [offset + int(i) for i in rest]
        if rest.size >= 2:
            labels = NoteClusterer(random_state=seed, **params).fit(X[rest]).labels_
            noise = [offset + int(i) for i, lab in zip(rest, labels, strict=True) if lab < 0]
            for i, lab in zip(rest, labels, strict=True):
                if lab >= 0:
                    clusters[int(lab)].append(offset + int(i))
        cost = Cost()
        board = MemoryBoard(clusters, noise, categories, carried=carried, bulk=bulk, file=file)
        review(board, gold, codebook, cost)
        costs.append(cost)
        offset += len(week)
    return costs


def run_by_hand(stream: Stream) -> list[Cost]:
    return [
        by_hand(range(len(w)), {i: lab for i, (_, _, lab) in enumerate(w)}) for w in stream.weeks
    ]


# --- report ------------------------------------------------------------------------------------


def _per100(cost: Cost, n: int) -> float:
    return 100 * cost.effort / n


def table(results: list[dict[str, Any]]) -> str:
    methods = [m for m in ("axial", "library", "bertopic", "hand") if m in results[0]["weeks"][0]]
    head = (
        "| stream | week | notes | "
        + " | ".join(f"{m}: calls / placed / effort" for m in methods)
        + " |"
    )
    lines = [head, "|" + "---|" * (3 + len(methods))]
    for r in results:
        for i, w in enumerate(r["weeks"], 1):
            cells = [f"{w[m]['calls']} / {w[m]['placed']} / {w[m]['effort']:.1f}" for m in methods]
            lines.append(f"| {r['stream']} | {i} | {w['notes']} | " + " | ".join(cells) + " |")
        t = r["total"]
        cells = [f"**{t[m]['calls']} / {t[m]['placed']} / {t[m]['effort']:.1f}**" for m in methods]
        lines.append(f"| {r['stream']} | all | {t['notes']} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(
        "| stream | method | / by hand | / BERTopic | weeks 5–8 vs week 1 (per 100) | renames | no way |"
    )
    lines.append("|---|---|---:|---:|---:|---:|---:|")
    for r in results:
        t, w = r["total"], r["weeks"]
        for m in ("axial", "library"):
            if m not in t:
                continue
            vs_hand = t[m]["effort"] / t["hand"]["effort"]
            vs_bt = t[m]["effort"] / t["bertopic"]["effort"] if "bertopic" in t else float("nan")
            late = [x[m]["effort"] * 100 / x["notes"] for x in w[4:8]]
            first = w[0][m]["effort"] * 100 / w[0]["notes"]
            trend = f"{sum(late) / len(late) / first:.2f}" if late else "–"
            lines.append(
                f"| {r['stream']} | {m} | {vs_hand:.2f} | {vs_bt:.2f} | {trend} "
                f"| {t[m]['renames']} | {t[m]['no_way_notes']} |"
            )
    lines.extend(["", kinds_table(results)])
    return "\n".join(lines)


KINDS = (
    "carry_confirm",
    "carry_stray",
    "carry_wrong",
    "missed_assign",
    "missed_move",
    "missed_merge",
    "new_label",
    "split",
    "file",
)


def kinds_table(results: list[dict[str, Any]], first: int = 4, last: int = 8) -> str:
    """Effort of weeks ``first + 1``..``last`` by kind (bench/_oracle.py), per stream and method."""
    lines = [
        f"weeks {first + 1}–{last}, effort by kind (bench/_oracle.py):",
        "",
        "| stream | method | " + " | ".join(KINDS) + " | all |",
        "|---|---|" + "---:|" * (len(KINDS) + 1),
    ]
    for r in results:
        weeks = r["weeks"][first:last]
        if not weeks:
            continue
        for m in ("axial", "library", "bertopic"):
            if m not in weeks[0]:
                continue
            per: Counter[str] = Counter()
            for w in weeks:
                per.update(w[m]["kinds"])
            cells = [f"{per.get(k, 0):.1f}" for k in KINDS]
            lines.append(
                f"| {r['stream']} | {m} | " + " | ".join(cells) + f" | {sum(per.values()):.1f} |"
            )
    return "\n".join(lines)


def _param(kv: str) -> tuple[str, Any]:
    key, _, value = kv.partition("=")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def _total(costs: list[Cost]) -> dict[str, Any]:
    total = Cost()
    for c in costs:
        total.calls += c.calls
        total.placed += c.placed
        total.renames += c.renames
        total.no_way_notes += c.no_way_notes
        total.actions.update(c.actions)
        total.kinds.update(c.kinds)
    return total.to_json()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", nargs="+", default=["llm_code_bug_notes", "demo", *LARGE])
    parser.add_argument("--streams", type=int, default=2, help="streams per large set")
    parser.add_argument(
        "--only", type=int, nargs="+", metavar="I", help="of each large set, only streams #I"
    )
    parser.add_argument("--weeks", type=int, default=8)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-bertopic", action="store_true")
    parser.add_argument("--no-axial", action="store_true")
    parser.add_argument(
        "--backend",
        choices=["torch", "torch-bf16", "onnx"],
        default=None,
        help="embedding backend of the server and the offline methods (default: the server's "
        "setting, torch offline)",
    )
    parser.add_argument(
        "--library",
        nargs="*",
        metavar="KEY=VALUE",
        help="also price axial's clusterer offline (no server), with these NoteClusterer params",
    )
    parser.add_argument(
        "--carry-over",
        nargs="*",
        metavar="KEY=VALUE",
        help="with --library: match notes to confirmed categories first (CategoryMatcher "
        "params over the service's, service.runs.carryover.MATCHER_PARAMS; the novelty is the "
        "stream's own from its third week on, as in the service, unless given here)",
    )
    parser.add_argument(
        "--confirm-each",
        action="store_true",
        help="with --library: confirm carry-over proposals one by one (no bulk confirm)",
    )
    parser.add_argument(
        "--no-file-notes",
        action="store_true",
        help="price the review without filing notes from several places in one call (POST "
        "/runs/{id}/notes/file): strays moved out of each proposal on their own, as before",
    )
    args = parser.parse_args()
    library = None if args.library is None else dict(_param(kv) for kv in args.library)
    carry, fixed = None, frozenset[str]()
    if args.carry_over is not None:  # the service's matcher, these params over it
        from service.runs.carryover import MATCHER_PARAMS

        given = dict(_param(kv) for kv in args.carry_over)
        carry, fixed = {**MATCHER_PARAMS, **given}, frozenset(given)

    todo = streams(args.sets, args.streams, args.weeks, args.batch, args.seed)
    if args.only is not None:
        todo = [
            t
            for t in todo
            if "#" not in t.name or int(t.name.split("#")[1].split()[0]) in args.only
        ]
    if args.backend:  # the server reads it from its environment
        os.environ["AXIAL_EMBEDDING_BACKEND"] = args.backend
    embed = None
    if not args.no_bertopic or library is not None:
        embed = DiskCachedEmbedder(args.backend or "torch")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        server = None if args.no_axial else Server(Path(tmp))
        try:
            for i, stream in enumerate(todo):
                t0 = time.perf_counter()
                per = {"hand": run_by_hand(stream)}
                if server is not None:
                    per["axial"] = run_axial(server, stream, i, not args.no_file_notes)
                if library is not None:
                    per["library"] = run_library(
                        stream,
                        embed,
                        args.seed,
                        library,
                        carry,
                        not args.confirm_each,
                        fixed,
                        not args.no_file_notes,
                    )
                if not args.no_bertopic:
                    per["bertopic"] = run_bertopic(stream, embed, args.seed, not args.no_file_notes)
                weeks = [
                    {"notes": len(w), **{m: costs[k].to_json() for m, costs in per.items()}}
                    for k, w in enumerate(stream.weeks)
                ]
                total = {"notes": sum(len(w) for w in stream.weeks)}
                total.update({m: _total(costs) for m, costs in per.items()})
                results.append({"stream": stream.name, "weeks": weeks, "total": total})
                print(f"{stream.name}: {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        finally:
            if server is not None:
                server.stop()
    print(table(results))
    name = f"effort-{args.backend}" if args.backend else "effort"
    print(f"\nJSON: {write_json(name, {'args': vars(args), 'streams': results})}")


if __name__ == "__main__":
    main()
