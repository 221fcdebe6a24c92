"""Many small tasks: random sub-problems of the large sets, as a week of a real project looks.

Each task draws 5–30 labels at random from a large set, then ``n`` notes among those labels
(``n`` in 100, 300, 1,000 in turn). Every method clusters the task's notes on the same
embeddings; scores are B-cubed F1 and AMI (unclustered notes as singletons) and whether the
task *lumped*: fewer clusters than a third of its labels. Tuning to the shared sets as wholes
can hide both a collapse on small batches and a rule that only fits one set's scale; many
random small tasks do not.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from judges.agreement import label_ari_ami, label_bcubed

SIZES = (100, 300, 1000)
LABELS = (5, 30)


@dataclass(frozen=True, slots=True)
class Task:
    set_name: str
    index: int
    rows: NDArray[np.int64]  # indices into the set
    n_labels: int


def draw_tasks(set_name: str, labels: NDArray[np.int64], n_tasks: int, seed: int) -> list[Task]:
    """``n_tasks`` tasks of a set, sizes in turn, labels and notes drawn at random."""
    rng = np.random.default_rng([seed, sum(map(ord, set_name))])
    names = np.unique(labels)
    tasks = []
    for i in range(n_tasks):
        size = SIZES[i % len(SIZES)]
        k = int(rng.integers(LABELS[0], min(LABELS[1], names.size) + 1))
        chosen = rng.choice(names, size=k, replace=False)
        pool = np.flatnonzero(np.isin(labels, chosen))
        rows = np.sort(rng.choice(pool, size=min(size, pool.size), replace=False))
        tasks.append(Task(set_name, i, rows, int(np.unique(labels[rows]).size)))
    return tasks


def score_task(
    task: Task, labels_true: NDArray[np.int64], pred: NDArray[np.int64]
) -> dict[str, float]:
    """One method's labels on one task: F1, AMI, clusters, unclustered share, lumped (0/1)."""
    truth = labels_true[task.rows]
    _, _, f1 = label_bcubed(truth, pred)
    _, ami = label_ari_ami(truth, pred)
    clusters = int(np.unique(pred[pred >= 0]).size)
    return {
        "n": float(task.rows.size),
        "labels": float(task.n_labels),
        "f1": f1,
        "ami": ami,
        "clusters": float(clusters),
        "unclustered": float((pred < 0).mean()),
        "lumped": float(clusters < task.n_labels / 3),
    }


def _p10(values: list[float]) -> float:
    return float(np.percentile(values, 10))


def summarise(scores: list[dict[str, float]]) -> dict[str, Any]:
    f1 = [s["f1"] for s in scores]
    ami = [s["ami"] for s in scores]
    return {
        "tasks": len(scores),
        "f1_median": statistics.median(f1),
        "f1_p10": _p10(f1),
        "ami_median": statistics.median(ami),
        "ami_p10": _p10(ami),
        "lumped": sum(s["lumped"] for s in scores) / len(scores),
        "clusters_per_label": statistics.median(s["clusters"] / s["labels"] for s in scores),
        "unclustered": statistics.median(s["unclustered"] for s in scores),
    }


def markdown(rows: list[dict[str, Any]]) -> str:
    head = (
        "| set | n | method | tasks | F1 median / p10 | AMI median / p10 | lumped tasks "
        "| clusters per label | unclustered |\n|---|---:|---|---:|---|---|---:|---:|---:|"
    )
    lines = [head]
    for r in rows:
        s = r["summary"]
        lines.append(
            f"| {r['set']} | {r['n']} | {r['method']} | {s['tasks']} "
            f"| {s['f1_median']:.3f} / {s['f1_p10']:.3f} | {s['ami_median']:.3f} / {s['ami_p10']:.3f} "
            f"| {s['lumped']:.0%} | {s['clusters_per_label']:.2f} | {s['unclustered']:.1%} |"
        )
    return "\n".join(lines)
