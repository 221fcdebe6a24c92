"""NoteClusterer on synthetic data: quality floor, determinism, edge cases, reassignment."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score

from clustering import NoteClusterer, min_cluster_size_for, warm_up
from clustering.clusterer import default_min_samples


def _blobs(n: int = 600, centers: int = 6, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    X, y = make_blobs(n, n_features=32, centers=centers, cluster_std=1.0, random_state=seed)
    return X.astype(np.float32), y


@pytest.mark.parametrize(("n", "reduction"), [(600, "pca"), (1500, "umap")])
def test_blobs_quality_floor(n: int, reduction: str) -> None:
    X, y = _blobs(n)
    model = NoteClusterer(random_state=0).fit(X)
    assert model.reduction_ == reduction  # "auto" picks PCA for small batches, UMAP above
    assert adjusted_rand_score(y, model.labels_) >= 0.9
    assert model.n_clusters_ == 6


def test_fit_sets_the_documented_attributes() -> None:
    X, _ = _blobs()
    model = NoteClusterer().fit(X)
    n = X.shape[0]
    assert model.labels_.dtype == np.int64 and model.labels_.shape == (n,)
    assert model.raw_labels_.dtype == np.int64
    assert model.reassigned_.dtype == np.bool_ and model.reassigned_.shape == (n,)
    assert model.probabilities_.shape == (n,)
    assert model.min_cluster_size_ == min_cluster_size_for(n)
    assert model.reduced_.shape[0] == n and model.reduced_.shape[1] < X.shape[1]
    found = sorted(set(model.labels_.tolist()) - {-1})
    assert found == list(range(model.n_clusters_))


def test_labels_ordered_by_size_then_first_member() -> None:
    rng = np.random.default_rng(1)
    centres = rng.normal(size=(3, 16)) * 10
    sizes = [20, 60, 40]
    X = np.vstack([c + rng.normal(size=(s, 16)) for c, s in zip(centres, sizes, strict=True)])
    model = NoteClusterer(min_cluster_size=10).fit(X)
    counts = [int((model.labels_ == c).sum()) for c in range(model.n_clusters_)]
    assert counts == sorted(counts, reverse=True)
    assert model.labels_[25] == 0  # the 60-note cluster is the largest


@pytest.mark.parametrize("reduction", ["umap", "pca"])
def test_same_seed_same_labels_across_fits(reduction: str) -> None:
    X, _ = _blobs(400, centers=5, seed=3)
    X += np.random.default_rng(0).normal(scale=3.0, size=X.shape).astype(np.float32)
    first = NoteClusterer(reduction=reduction, random_state=7).fit(X)
    second = NoteClusterer(reduction=reduction, random_state=7).fit(X.copy())
    np.testing.assert_array_equal(first.labels_, second.labels_)
    np.testing.assert_array_equal(first.reduced_, second.reduced_)
    assert first.n_clusters_ >= 2


@pytest.mark.parametrize("n", [2, 3, 5, 20])
def test_small_inputs_do_not_crash(n: int) -> None:
    X = np.random.default_rng(n).normal(size=(n, 384)).astype(np.float32)
    model = NoteClusterer().fit(X)
    assert model.labels_.shape == (n,)
    assert model.labels_.min() >= -1
    assert model.n_clusters_ <= 1 or n >= 6


def test_identical_vectors_form_one_group() -> None:
    X = np.ones((12, 384), dtype=np.float32)
    model = NoteClusterer().fit(X)
    assert model.n_clusters_ == 1
    assert (model.labels_ == 0).all()


@pytest.mark.parametrize(
    ("X", "match"),
    [
        (np.zeros((1, 8)), "n_notes >= 2"),
        (np.zeros((0, 8)), "n_notes >= 2"),
        (np.zeros(8), "n_notes >= 2"),
        (np.array([[0.0, 1.0], [np.nan, 1.0]]), "NaN"),
    ],
)
def test_bad_input_raises(X: np.ndarray, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        NoteClusterer().fit(X)


def test_too_small_min_cluster_size_raises() -> None:
    with pytest.raises(ValueError, match="min_cluster_size"):
        NoteClusterer(min_cluster_size=1).fit(np.eye(4))


def test_min_cluster_size_rule() -> None:
    # max(3, round(0.36 * sqrt(n))), 0.4 from 5,000 notes: the sizes the READMEs quote
    expected = {2: 3, 28: 3, 100: 4, 203: 5, 267: 6, 1_000: 11, 4_999: 25, 5_000: 28}
    expected |= {13_083: 46, 22_500: 60, 50_000: 89}
    assert {n: min_cluster_size_for(n) for n in expected} == expected
    sizes = [min_cluster_size_for(n) for n in (100, 1_000, 10_000, 50_000)]
    assert sizes == sorted(sizes) and sizes[-1] > sizes[0]
    with pytest.raises(ValueError):
        min_cluster_size_for(-1)


def test_default_min_samples_is_a_third() -> None:
    assert default_min_samples(41) == 14
    assert default_min_samples(6) == 2
    assert default_min_samples(3) == 1
    assert default_min_samples(2) == 1


def test_tiny_batch_leaves_few_notes_unclustered() -> None:
    # 28 notes in 4 loose groups (like mast_human_annotations): with min_samples equal to
    # min_cluster_size HDBSCAN called every note noise; a third of it finds the groups.
    rng = np.random.default_rng(4)
    centres = rng.normal(size=(4, 384))
    X = np.repeat(centres, 7, axis=0) + 1.5 * rng.normal(size=(28, 384))
    model = NoteClusterer().fit(X.astype(np.float32))
    assert model.reduction_ == "pca" and model.min_cluster_size_ == 3
    assert (model.labels_ == -1).mean() <= 0.15
    assert model.n_clusters_ >= 2
    smoothed = NoteClusterer(min_samples=3, reassign_threshold=None).fit(X.astype(np.float32))
    assert (smoothed.labels_ == -1).mean() > (model.raw_labels_ == -1).mean()


def test_min_cluster_size_override() -> None:
    X, _ = _blobs()
    assert NoteClusterer(min_cluster_size=30).fit(X).min_cluster_size_ == 30


def test_soft_reassignment_is_marked_and_undoable() -> None:
    X, _ = _blobs(300, centers=3, seed=5)
    rng = np.random.default_rng(0)
    stray = rng.uniform(-30, 30, size=(15, X.shape[1])).astype(np.float32)
    data = np.vstack([X, stray])
    plain = NoteClusterer(min_cluster_size=20, min_samples=20, reassign_threshold=None).fit(data)
    soft = NoteClusterer(min_cluster_size=20, min_samples=20, reassign_threshold=0.0).fit(data)
    np.testing.assert_array_equal(plain.labels_, soft.raw_labels_)
    assert (plain.labels_[300:] == -1).sum() >= 5  # strays are noise before reassignment
    assert soft.reassigned_.any()
    assert (soft.raw_labels_[soft.reassigned_] == -1).all()
    assert (soft.labels_[soft.reassigned_] >= 0).all()
    unchanged = ~soft.reassigned_
    np.testing.assert_array_equal(soft.labels_[unchanged], soft.raw_labels_[unchanged])
    strict = NoteClusterer(min_cluster_size=20, min_samples=20, reassign_threshold=1.01).fit(data)
    assert not strict.reassigned_.any()


def test_averaged_layouts_are_seeded_and_default_to_one() -> None:
    X, y = _blobs(1200, centers=4, seed=2)
    first = NoteClusterer(reduction="umap", n_layouts=2, n_epochs=30, random_state=1).fit(X)
    again = NoteClusterer(reduction="umap", n_layouts=2, n_epochs=30, random_state=1).fit(X)
    np.testing.assert_array_equal(first.reduced_, again.reduced_)
    single = NoteClusterer(reduction="umap", n_layouts=1, n_epochs=30, random_state=1).fit(X)
    assert not np.array_equal(first.reduced_, single.reduced_)
    assert adjusted_rand_score(y, first.labels_) >= 0.9


def test_thread_count_and_fp32_knn_give_the_same_clusters() -> None:
    X, _ = _blobs(1200, centers=4, seed=3)
    params = {"reduction": "umap", "n_layouts": 2, "n_epochs": 20, "random_state": 5}
    one = NoteClusterer(n_jobs=1, knn="fp32", **params).fit(X)
    two = NoteClusterer(n_jobs=2, knn="fp32", **params).fit(X)
    np.testing.assert_array_equal(one.reduced_, two.reduced_)
    np.testing.assert_array_equal(one.labels_, two.labels_)


@pytest.mark.parametrize(
    ("params", "match"), [({"knn": "int8"}, "knn must be one of"), ({"n_jobs": 0}, "n_jobs")]
)
def test_bad_engine_settings_raise(params: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        NoteClusterer(**params).fit(_blobs(50)[0])


def test_init_only_stores_parameters() -> None:
    model = NoteClusterer(min_cluster_size=7, random_state=3)
    assert model.min_cluster_size == 7 and model.random_state == 3
    assert not hasattr(model, "labels_")


def test_warm_up_returns_seconds() -> None:
    assert warm_up() >= 0.0
