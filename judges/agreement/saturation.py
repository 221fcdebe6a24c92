"""Saturation: discovery events, ``D(t)``, the stopping signal and rarefaction (METRICS.md §5).

The input is a review stream: the category lineage id each note was assigned to, in the order of
its first human decision in a seeded randomised queue (bulk accepts excluded). Callers pass
lineage ids, so renames never count as discoveries and merges never un-discover. ``t`` counts
non-noise notes only; noise notes neither discover nor fill the K window.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from judges.agreement.data import Label


@dataclass(frozen=True, slots=True)
class Saturation:
    """Saturation of one review stream (METRICS.md §5).

    Attributes:
        curve: ``D(t)`` for ``t = 1..T`` non-noise notes.
        discoveries: The ``t`` (1-based, non-noise count) of each discovery event.
        reviewed: Notes in the stream, noise included.
        non_noise: ``T``, the non-noise notes (the ``N`` of Good–Turing).
        since_last: Non-noise notes since the last discovery (or catch-all note).
        singletons: ``f₁``: categories with exactly one note (lineages confirmed before the
            stream are no singletons), plus every catch-all note.
        good_turing: ``f₁/N``, the chance the next non-noise note needs a new category
            (``None`` before the first non-noise note).
        window_noise_share: Noise share of the stream since the K-th last non-noise note.
        noise_dominated: ``window_noise_share > 0.5``: warn "window dominated by noise".
        saturated: No discovery in the last K non-noise notes, ``T >= min_reviewed`` and
            ``f₁/N <= max_good_turing``.
        k: The window K.
        none_in_k_bound: What "none in K" alone bounds: ``1 − 0.05^(1/K)`` (13.9% at K=20).
    """

    curve: tuple[int, ...]
    discoveries: tuple[int, ...]
    reviewed: int
    non_noise: int
    since_last: int
    singletons: int
    good_turing: float | None
    window_noise_share: float | None
    noise_dominated: bool
    saturated: bool
    k: int
    none_in_k_bound: float


def _window_noise_share(stream: Sequence[Label], k: int) -> float | None:
    seen, start = 0, 0
    for pos in range(len(stream) - 1, -1, -1):
        if stream[pos] is not None:
            seen += 1
            if seen == k:
                start = pos
                break
    window = stream[start:]
    return sum(1 for lab in window if lab is None) / len(window) if window else None


def saturation(
    stream: Sequence[Label],
    catch_all: Collection[int] = (),
    k: int = 20,
    min_reviewed: int = 100,
    max_good_turing: float = 0.05,
    confirmed_before: Sequence[bool] | None = None,
) -> Saturation:
    """Discovery events, ``D(t)`` and the stopping signal over a review stream (§5).

    A discovery is the first confirmed note of a lineage: the first note of a lineage in the
    stream, unless ``confirmed_before`` says the lineage already had a confirmed note when that
    note was reviewed (a category confirmed in week 1 and first drawn into the audit in week 5
    is no discovery in week 5: a re-appearance). A note in a catch-all ("other") lineage also
    resets the K counter and counts as a singleton in ``f₁``.

    Args:
        stream: Lineage id per reviewed note in review order (``None`` = noise).
        catch_all: Lineage ids of catch-all buckets.
        k: Window of non-noise notes without discovery.
        min_reviewed: Minimum non-noise notes ``t`` before saturation can be declared.
        max_good_turing: Maximum ``f₁/N``.
        confirmed_before: Per stream element, whether its lineage already had a confirmed
            note outside (before) the stream when the element was reviewed; default none.

    Returns:
        The :class:`Saturation`.

    Raises:
        ValueError: If ``confirmed_before`` is not as long as ``stream``.
    """
    if confirmed_before is not None and len(confirmed_before) != len(stream):
        raise ValueError("confirmed_before needs one flag per stream element")
    known = confirmed_before or [False] * len(stream)
    seen: set[int] = set()
    curve: list[int] = []
    discoveries: list[int] = []
    since = 0
    for label, before in zip(stream, known, strict=True):
        if label is None:
            continue
        if before and label not in seen:
            seen.add(label)  # a re-appearance of a lineage confirmed earlier: no discovery
            since = 0 if label in catch_all else since + 1
        elif label not in seen:
            seen.add(label)
            discoveries.append(len(curve) + 1)
            since = 0
        elif label in catch_all:
            since = 0
        else:
            since += 1
        curve.append(len(discoveries))
    sizes = Counter(lab for lab in stream if lab is not None)
    earlier = {lab for lab, before in zip(stream, known, strict=True) if before}
    f1 = sum(1 for c, m in sizes.items() if m == 1 and c not in catch_all and c not in earlier)
    f1 += sum(m for c, m in sizes.items() if c in catch_all)
    total = len(curve)
    gt = f1 / total if total else None
    share = _window_noise_share(stream, k)
    return Saturation(
        curve=tuple(curve),
        discoveries=tuple(discoveries),
        reviewed=len(stream),
        non_noise=total,
        since_last=since,
        singletons=f1,
        good_turing=gt,
        window_noise_share=share,
        noise_dominated=share is not None and share > 0.5,
        saturated=since >= k and total >= min_reviewed and gt is not None and gt <= max_good_turing,
        k=k,
        none_in_k_bound=1.0 - 0.05 ** (1.0 / k),
    )


def _log_comb(n: int, r: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(r + 1) - math.lgamma(n - r + 1)


def rarefaction(sizes: Sequence[int], n: int) -> float:
    """Expected categories in a random subsample of ``n`` notes (METRICS.md §5).

    ``E[D(n)] = Σ_c [1 − C(N−N_c, n)/C(N, n)]`` with ``N = Σ N_c``.

    Args:
        sizes: Final note count ``N_c`` of each category (non-noise notes only).
        n: Subsample size, ``0 <= n <= N``.

    Returns:
        ``E[D(n)]``.

    Raises:
        ValueError: If ``n`` is outside ``[0, N]`` or a size is not positive.
    """
    total = sum(sizes)
    if not 0 <= n <= total or any(s <= 0 for s in sizes):
        raise ValueError(f"need 0 <= n <= N={total} and positive sizes")
    log_all = _log_comb(total, n)
    missing = 0.0
    for size in sizes:
        if total - size >= n:
            missing += math.exp(_log_comb(total - size, n) - log_all)
    return len(sizes) - missing


def rarefaction_curve(sizes: Sequence[int]) -> tuple[float, ...]:
    """``E[D(n)]`` for ``n = 0..N``; its last step equals ``f₁/N``."""
    return tuple(rarefaction(sizes, n) for n in range(sum(sizes) + 1))
