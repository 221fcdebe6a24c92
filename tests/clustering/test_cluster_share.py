"""No proposal holds most of a batch while HDBSCAN's tree has finer clusters below it."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from clustering import NoteClusterer, SentenceTransformerEmbedder
from judges.agreement import label_bcubed


def _two_close_groups_and_a_far_one() -> tuple[np.ndarray, np.ndarray]:
    # Two tight groups of 40 close to each other and one of 20 far away: "eom" prefers the
    # parent of the two close groups, a cluster of 80 of the 100 notes.
    rng = np.random.default_rng(0)
    a = rng.standard_normal(32)
    a /= np.linalg.norm(a)
    b = a + 0.05 * rng.standard_normal(32)
    centres, sizes = [a, b, -a], [40, 40, 20]
    X = np.vstack(
        [c + 0.03 * rng.standard_normal((n, 32)) for c, n in zip(centres, sizes, strict=True)]
    )
    return X.astype(np.float32), np.repeat([0, 1, 2], sizes)


def test_the_share_limit_splits_a_parent_holding_most_of_the_batch() -> None:
    X, truth = _two_close_groups_and_a_far_one()
    unlimited = NoteClusterer(max_cluster_share=None, random_state=0).fit(X)
    assert sorted(np.bincount(unlimited.raw_labels_[unlimited.raw_labels_ >= 0])) == [20, 80]
    model = NoteClusterer(random_state=0).fit(X)  # the default: half of the batch
    assert model.max_cluster_share == 0.5
    assert np.bincount(model.raw_labels_[model.raw_labels_ >= 0]).max() <= 50
    _, _, f1 = label_bcubed(truth, model.labels_)
    assert f1 == pytest.approx(1.0)


@pytest.mark.parametrize("share", [0.0, -0.1, 1.5])
def test_a_share_outside_0_1_is_refused(share: float) -> None:
    X, _ = _two_close_groups_and_a_far_one()
    with pytest.raises(ValueError, match="max_cluster_share"):
        NoteClusterer(max_cluster_share=share).fit(X)


@pytest.mark.datasets
def test_a_weakly_structured_week_is_not_one_lump(
    datasets: Path, embedder: SentenceTransformerEmbedder
) -> None:
    # bench/effort.py's third llm_code_bug_notes week (67 notes, 9 labels): "eom" alone
    # put 63 of them into one proposal.
    path = datasets / "llm_code_bug_notes" / "notes.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    random.Random(0).shuffle(rows)
    week = rows[200:]
    X = embedder.embed_batch([r["text"] for r in week])
    lump = NoteClusterer(max_cluster_share=None, random_state=0).fit(X)
    assert np.bincount(lump.labels_[lump.labels_ >= 0]).max() > 0.9 * len(week)
    model = NoteClusterer(random_state=0).fit(X)
    assert np.bincount(model.raw_labels_[model.raw_labels_ >= 0]).max() <= len(week) / 2
    assert model.n_clusters_ >= len({r["label"] for r in week}) / 3
