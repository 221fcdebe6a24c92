"""Clustering real notes: a fixed, stratified 2,000-text sample of banking77."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.model_selection import train_test_split

from clustering import NoteClusterer, OnnxEmbedder
from judges.agreement import label_bcubed

pytestmark = pytest.mark.datasets


def _sample(datasets: Path, size: int = 2000) -> tuple[list[str], np.ndarray]:
    path = datasets / "banking77" / "notes.jsonl"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    texts = [r["text"] for r in rows]
    labels = np.array([r["label"] for r in rows])
    picked, _ = train_test_split(
        np.arange(len(rows)), train_size=size, stratify=labels, random_state=0
    )
    picked = np.sort(picked)
    return [texts[i] for i in picked], labels[picked]


def test_banking77_sample_quality_and_determinism(
    datasets: Path, onnx_embedder: OnnxEmbedder
) -> None:
    # The service's default backend (int8 ONNX): a quarter of torch's time for 2,000 texts;
    # torch's vectors gave F1 0.547 here, ONNX's 0.543.
    texts, labels = _sample(datasets)
    X = onnx_embedder.embed_batch(texts)
    first = NoteClusterer(random_state=0).fit(X)
    second = NoteClusterer(random_state=0).fit(X)
    np.testing.assert_array_equal(first.labels_, second.labels_)
    _, _, f1 = label_bcubed(labels, first.labels_)
    # 0.547 with the sqrt rule (min_cluster_size 16, min_samples 5); the earlier n^0.75 rule
    # (10, 10) gave ~0.56 here: 77 intents of ~26 notes each is a hard case for a larger size.
    assert f1 >= 0.53, f"B-cubed F1 {f1:.3f} (clusters {first.n_clusters_})"
