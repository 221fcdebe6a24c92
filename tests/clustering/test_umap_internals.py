"""The umap-learn internals clustering/ relies on still exist with the signatures it calls.

clustering.layout and clustering.reduce import functions from inside umap-learn (not its
public API) and transcribe its layout SGD and random generator. pyproject pins umap-learn
below 0.6; on an upgrade these tests say what moved (clustering/LAYOUT.md lists the rest).
"""

from __future__ import annotations

import ast
import importlib
import inspect
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

CLUSTERING = Path(__file__).resolve().parents[2] / "clustering"


@dataclass(frozen=True)
class Use:
    """How clustering/ calls one umap callable.

    Attributes:
        positional: The parameters passed by position, in order (the signature must start
            with them).
        keywords: The parameters passed by name (each must exist).
        defaults: Parameters whose default our code relies on, with that default.
    """

    positional: tuple[str, ...] = ()
    keywords: frozenset[str] = frozenset()
    defaults: dict[str, Any] = field(default_factory=dict)


# (module, name) -> how we call it. Every `from umap... import` and `umap.X` in clustering/
# must be listed here (test_every_umap_import_is_checked).
USES: dict[tuple[str, str], Use] = {
    # clustering.layout.averaged_layouts
    ("umap.umap_", "fuzzy_simplicial_set"): Use(
        positional=("X", "n_neighbors", "random_state", "metric"),
        keywords=frozenset({"knn_indices", "knn_dists"}),
    ),
    ("umap.umap_", "make_epochs_per_sample"): Use(positional=("weights", "n_epochs")),
    ("umap.umap_", "noisy_scale_coords"): Use(
        positional=("coords", "random_state"), keywords=frozenset({"max_coord", "noise"})
    ),
    # clustering.layout._spectral_start (graphs ARPACK cannot take)
    ("umap.spectral", "spectral_layout"): Use(
        positional=("data", "graph", "dim", "random_state"), keywords=frozenset({"metric"})
    ),
    # clustering.reduce.umap_reduce (a single layout); the defaults are the ones
    # clustering.layout._sgd_layout hard-codes as "UMAP's defaults"
    ("umap", "UMAP"): Use(
        keywords=frozenset(
            {
                "n_neighbors",
                "n_components",
                "min_dist",
                "metric",
                "init",
                "random_state",
                "n_jobs",
                "n_epochs",
                "precomputed_knn",
            }
        ),
        defaults={
            "spread": 1.0,
            "negative_sample_rate": 5,
            "learning_rate": 1.0,
            "repulsion_strength": 1.0,
        },
    ),
}


def _umap_attribute(module: str, name: str) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # umap warns on import without tensorflow
        return getattr(importlib.import_module(module), name)


def _imported_umap_names(source: str) -> set[tuple[str, str]]:
    """(module, name) of every `from umap... import name` in `source`, and of every
    `umap.x.name` reached through an `import umap...`."""
    tree = ast.parse(source)
    found: set[tuple[str, str]] = set()
    modules: dict[str, str] = {}  # bound name -> the module it stands for
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "umap":
            found.update((node.module or "", alias.name) for alias in node.names)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "umap":
                    bound = alias.asname or alias.name.split(".")[0]
                    modules[bound] = alias.name if alias.asname else bound
    inner = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute) or id(node) in inner:
            continue
        chain, value = [node.attr], node.value
        while isinstance(value, ast.Attribute):
            chain.insert(0, value.attr)
            value = value.value
        if isinstance(value, ast.Name) and value.id in modules:
            found.add((".".join([modules[value.id], *chain[:-1]]), chain[-1]))
    return found


def test_every_umap_import_is_checked() -> None:
    used: set[tuple[str, str]] = set()
    for path in CLUSTERING.glob("*.py"):
        used |= _imported_umap_names(path.read_text(encoding="utf-8"))
    assert used, "clustering/ no longer imports umap: update this test and LAYOUT.md"
    assert used <= set(USES), f"umap names without a signature check: {used - set(USES)}"


@pytest.mark.parametrize(("module", "name"), sorted(USES))
def test_umap_internal_keeps_the_signature_we_call(module: str, name: str) -> None:
    use = USES[(module, name)]
    target: Callable[..., Any] = _umap_attribute(module, name)
    params = inspect.signature(target).parameters
    names = [p for p in params if p != "self"]
    assert tuple(names[: len(use.positional)]) == use.positional
    assert use.keywords <= set(params), f"missing: {sorted(use.keywords - set(params))}"
    passed = set(use.positional) | use.keywords
    required = {
        p.name
        for p in params.values()
        if p.default is inspect.Parameter.empty
        and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        and p.name != "self"
    }
    assert required <= passed, f"new required parameters: {sorted(required - passed)}"
    for param, default in use.defaults.items():
        assert params[param].default == default, param


def test_umap_fit_transform_takes_the_data_first() -> None:
    umap_class = _umap_attribute("umap", "UMAP")
    params = list(inspect.signature(umap_class.fit_transform).parameters)
    assert params[:2] == ["self", "X"]


def test_fuzzy_simplicial_set_returns_graph_sigmas_rhos() -> None:
    """averaged_layouts unpacks three values and uses the first as a sparse matrix."""
    fuzzy_simplicial_set = _umap_attribute("umap.umap_", "fuzzy_simplicial_set")
    X = np.random.default_rng(0).normal(size=(12, 4)).astype(np.float32)
    sims = X @ X.T
    indices = np.argsort(-sims, axis=1)[:, :3].astype(np.int64)
    dists = np.take_along_axis(1 - sims, indices, axis=1).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = fuzzy_simplicial_set(
            X, 3, np.random.RandomState(0), "cosine", knn_indices=indices, knn_dists=dists
        )
    assert len(result) == 3
    assert result[0].shape == (12, 12) and hasattr(result[0], "tocoo")


def test_layout_seeds_use_umaps_int32_range() -> None:
    """clustering.layout._optimise_layout draws per-vertex seeds in umap's range."""
    assert _umap_attribute("umap.umap_", "INT32_MIN") == np.iinfo(np.int32).min + 1
    assert _umap_attribute("umap.umap_", "INT32_MAX") == np.iinfo(np.int32).max - 1


def _kernel_xorshift(state: list[int]) -> int:
    """The generator clustering.layout._sgd_layout inlines (umap's tau_rand_int), as int32."""
    mask = 0xFFFFFFFF
    state[0] = (((state[0] & 4294967294) << 12) & mask) ^ (
        (((state[0] << 13) & mask) ^ state[0]) >> 19
    )
    state[1] = (((state[1] & 4294967288) << 4) & mask) ^ (
        (((state[1] << 2) & mask) ^ state[1]) >> 25
    )
    state[2] = (((state[2] & 4294967280) << 17) & mask) ^ (
        (((state[2] << 3) & mask) ^ state[2]) >> 11
    )
    return int(np.array(state[0] ^ state[1] ^ state[2], dtype=np.int64).astype(np.int32))


def test_kernel_random_generator_is_umaps_tau_rand_int() -> None:
    tau_rand_int = _umap_attribute("umap.utils", "tau_rand_int")
    rng = np.random.default_rng(0)
    for _ in range(5):
        theirs = rng.integers(-(2**31) + 1, 2**31 - 1, size=3).astype(np.int64)
        ours = [int(v) for v in theirs]
        for _ in range(20):
            assert _kernel_xorshift(ours) == int(tau_rand_int(theirs))
