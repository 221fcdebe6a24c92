"""Cluster descriptions: c-TF-IDF keywords, representatives, boundary notes, neighbours."""

from __future__ import annotations

import numpy as np

from clustering import (
    boundary_indices,
    ctfidf_keywords,
    nearest_clusters,
    representative_indices,
)

CORPUS = [
    "the model hallucinated a citation",
    "hallucinated citation to a paper that does not exist",
    "invented citation and hallucinated quote",
    "timeout calling the search tool",
    "tool call timeout after retries",
    "search tool timeout again",
    "random unrelated remark",
]
LABELS = np.array([0, 0, 0, 1, 1, 1, -1])


def test_ctfidf_keywords_pick_the_distinctive_words() -> None:
    kw = ctfidf_keywords(CORPUS, LABELS, top_n=3)
    assert set(kw) == {0, 1}  # no entry for unclustered
    assert kw[0][:2] == ["citation", "hallucinated"]
    assert kw[1][:2] == ["timeout", "tool"]
    assert all(len(words) <= 3 for words in kw.values())
    assert "the" not in kw[0]  # stop words dropped


def test_ctfidf_keywords_survive_stop_word_only_text() -> None:
    assert ctfidf_keywords(["the a", "of the"], np.array([0, 0])) == {0: []}


def _toy_vectors() -> tuple[np.ndarray, np.ndarray]:
    X = np.array(
        [
            [1.0, 0.0, 0.0],  # 0: the centre of cluster 0
            [0.9, 0.3, 0.0],  # 1
            [0.6, 0.8, 0.0],  # 2: far from cluster 0's centre
            [0.0, 0.0, 1.0],  # 3: cluster 1
            [0.0, 0.2, 1.0],  # 4
            [0.0, 1.0, 0.1],  # 5: cluster 2
            [0.1, 1.0, 0.0],  # 6
            [0.5, 0.5, 0.5],  # 7: noise
        ],
        dtype=np.float32,
    )
    return X, np.array([0, 0, 0, 1, 1, 2, 2, -1])


def test_representatives_are_closest_to_centre() -> None:
    X, labels = _toy_vectors()
    reps = representative_indices(X, labels, k=2)
    assert set(reps) == {0, 1, 2}
    assert reps[0] == [1, 0]  # 1 sits between 0 and 2, nearest the mean direction
    assert 2 not in reps[0]
    assert all(7 not in members for members in reps.values())


def test_boundary_prefers_low_probability_then_far_from_centre() -> None:
    X, labels = _toy_vectors()
    probs = np.array([1.0, 0.4, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0])
    bnd = boundary_indices(X, labels, probs, k=2)
    assert bnd[0] == [1, 2]  # lowest probability first, then the far member
    flat = boundary_indices(X, labels, np.ones(8), k=1)
    assert flat[0] == [2]


def test_nearest_clusters_by_centroid_cosine() -> None:
    X, labels = _toy_vectors()
    near = nearest_clusters(X, labels, k=3)
    assert near[0] == [2, 1]  # cluster 0 leans towards the y axis (cluster 2)
    assert 0 not in near[0]
    assert near[1][0] == 2
