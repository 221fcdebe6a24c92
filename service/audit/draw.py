"""The blind audit draw, stratified by judge proposal (METRICS.md §3.3).

When a run finishes, :func:`draw_stratified_audit` draws its blind audit sample **before**
anyone has seen the run's proposals. Strata are the run's judge proposals plus the judge-noise
stratum (the notes the judge put in no proposal).

**Size** (:class:`AuditSize`): ``n = min(N, most, max(least, ⌈share·N⌉))`` with the settings
``AXIAL_AUDIT_SAMPLE_SIZE`` (most, 30), ``AXIAL_AUDIT_MAX_SHARE`` (share, ¼) and
``AXIAL_AUDIT_MIN_SIZE`` (least, 10): 30 notes from 117 notes up, a quarter of a smaller run,
never fewer than 10 (a run of 10 notes or fewer is audited whole). A 46-note run audits 12
notes, not 30. What a size buys is the half-width of the judge error's 95% Wilson interval at a
15% error rate (:func:`expected_half_width`): ±13 pp at 30 notes, ±20 pp at 12, ±21 pp at 10.

Allocation of the ``n`` notes:

- **Every stratum gets one note; the rest is proportional to the remaining capacity.** With
  ``S`` strata and ``S <= n``: ``n_j = 1 + r·(N_j − 1)/(N − S)`` with ``r = n − S``, rounded
  by largest remainder (ties: larger stratum, then stratum order), so ``Σ n_j = n`` exactly,
  ``1 <= n_j <= N_j``, and the audit stays close to proportional (self-weighting) allocation.
  METRICS.md §3.3 audits proposals with ``N_j <= 8`` whole; with the default 30 notes that
  would spend the whole audit on a few small proposals, so we deviate: size stays the setting.
- **More strata than notes** (``S > n``): a simple random sample of ``n`` notes
  (``π = n/N`` for every note). The headline stays unbiased; strata without an audited note
  cannot be corrected (display tier B or C, never a guessed count).

Each drawn note is stored in ``audit_draw`` with its stratum (``proposal:<id>`` or ``noise``),
its inclusion probability ``π_i = n_j/N_j`` (or ``n/N``), the seed and a seeded random
presentation position. The draw is idempotent: a run keeps its first draw.

"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.domain import MACHINE_ORIGINS
from service.settings import Settings
from service.storage.models import AuditDraw, Proposal, ProposalMember, RunNote

NOISE_STRATUM = "noise"
REFERENCE_ERROR = 0.15
"""The error rate at which an audit size's interval width is quoted (METRICS.md §2)."""


def expected_half_width(n: int, p: float = REFERENCE_ERROR) -> float | None:
    """Half-width of the 95% Wilson interval of an error rate ``p`` observed on ``n`` notes."""
    if n <= 0:
        return None
    # imported here: the agreement library (and NumPy) is not needed by the CLI's reads
    from judges.agreement import wilson_proportion

    interval = wilson_proportion(p, n)
    return (interval.high - interval.low) / 2


@dataclass(frozen=True, slots=True)
class AuditSize:
    """How many notes a run's blind audit draws: ``min(N, most, max(least, ⌈share·N⌉))``.

    Attributes:
        most: At most this many (``AXIAL_AUDIT_SAMPLE_SIZE``).
        share: At most this share of the run's notes, rounded up (``AXIAL_AUDIT_MAX_SHARE``).
        least: At least this many, or the whole run if smaller (``AXIAL_AUDIT_MIN_SIZE``).
    """

    most: int = 30
    share: float = 0.25
    least: int = 10

    @classmethod
    def of(cls, settings: Settings) -> AuditSize:
        """The rule the settings configure."""
        return cls(settings.audit_sample_size, settings.audit_max_share, settings.audit_min_size)

    @classmethod
    def exactly(cls, size: int) -> AuditSize:
        """``min(N, size)``: no share, no floor (tools and tests that ask for a size)."""
        return cls(most=size, share=1.0, least=0)

    def for_run(self, n_notes: int) -> int:
        """The audit size of a run of ``n_notes`` notes."""
        by_share = max(self.least, math.ceil(self.share * n_notes - 1e-9))
        return max(0, min(n_notes, self.most, by_share))

    def describe(self) -> str:
        """The rule in words, e.g. "30 notes, at most 25% of the run, at least 10"."""
        return (
            f"{self.most} notes, at most {100 * self.share:g}% of the run, "
            f"at least {self.least} (or the whole run)"
        )

    def to_json(self, n_notes: int, drawn: int | None = None) -> dict[str, Any]:
        """The size a run of ``n_notes`` gets, the rule, and the interval width it buys."""
        size = self.for_run(n_notes) if drawn is None else drawn
        width = expected_half_width(size)
        return {
            "size": size,
            "run_notes": n_notes,
            "rule": self.describe(),
            "reference_error": REFERENCE_ERROR,
            "expected_half_width": None if width is None else round(width, 4),
        }


def stratum_key(proposal_id: int | None) -> str:
    """The stored stratum name of a judge proposal, or of the judge-noise stratum."""
    return NOISE_STRATUM if proposal_id is None else f"proposal:{proposal_id}"


def allocate(sizes: Sequence[int], n: int) -> list[int] | None:
    """Audited notes per stratum: one each, the rest proportional to ``N_j − 1``.

    Args:
        sizes: ``N_j`` of each stratum (all positive).
        n: Total audit size, ``0 <= n <= Σ N_j``.

    Returns:
        ``n_j`` per stratum (summing to ``n``), or ``None`` when there are more strata than
        notes to draw (the caller then draws a simple random sample).

    Raises:
        ValueError: On a non-positive stratum size or ``n`` outside ``[0, Σ N_j]``.
    """
    total = sum(sizes)
    if any(s <= 0 for s in sizes) or not 0 <= n <= total:
        raise ValueError(f"need positive stratum sizes and 0 <= n <= {total}, got n={n}")
    if n == 0:
        return [0] * len(sizes)
    if len(sizes) > n:
        return None
    rest, capacity = n - len(sizes), total - len(sizes)
    quotas = [rest * (s - 1) / capacity if capacity else 0.0 for s in sizes]
    extra = [int(q) for q in quotas]
    order = sorted(range(len(sizes)), key=lambda j: (-(quotas[j] - extra[j]), -sizes[j], j))
    for j in order[: rest - sum(extra)]:
        extra[j] += 1
    return [1 + e for e in extra]


def _strata(session: Session, run_id: int) -> list[tuple[str, list[int]]]:
    """The run's strata: each proposal's notes (judge and carry-over), then the judge-noise
    stratum."""
    population = {
        int(n) for n in session.scalars(select(RunNote.note_id).where(RunNote.run_id == run_id))
    }
    rows = session.execute(
        select(ProposalMember.proposal_id, ProposalMember.note_id)
        .join(Proposal, Proposal.id == ProposalMember.proposal_id)
        .where(Proposal.run_id == run_id, Proposal.origin.in_(MACHINE_ORIGINS))
        .order_by(ProposalMember.proposal_id, ProposalMember.note_id)
    ).all()
    members: dict[int, list[int]] = {}
    for pid, nid in rows:
        if int(nid) in population:
            members.setdefault(int(pid), []).append(int(nid))
    claimed = {n for notes in members.values() for n in notes}
    strata = [(stratum_key(pid), notes) for pid, notes in sorted(members.items())]
    noise = sorted(population - claimed)
    if noise:
        strata.append((NOISE_STRATUM, noise))
    return strata


def drawn_notes(session: Session, run_id: int) -> list[int]:
    """The run's audit sample, in presentation order (empty before the draw)."""
    rows = session.scalars(
        select(AuditDraw.note_id).where(AuditDraw.run_id == run_id).order_by(AuditDraw.position)
    )
    return [int(n) for n in rows]


def draw_stratified_audit(
    session: Session, run_id: int, size: AuditSize | int, seed: int
) -> list[int]:
    """Draw (once) the run's blind audit sample, stratified by judge proposal.

    Args:
        session: The open transaction (the run's proposals are already stored).
        run_id: The finished run.
        size: The size rule (:class:`AuditSize`), or an exact size ``n = min(size, N)``.
        seed: The run's seed (stored with every drawn note).

    Returns:
        The drawn note ids in presentation order (the existing draw if the run has one).
    """
    existing = drawn_notes(session, run_id)
    if existing:
        return existing
    rule = size if isinstance(size, AuditSize) else AuditSize.exactly(size)
    strata = _strata(session, run_id)
    total = sum(len(notes) for _, notes in strata)
    n = rule.for_run(total)
    if n == 0:
        return []
    rng = random.Random(seed)
    counts = allocate([len(notes) for _, notes in strata], n)
    drawn: list[tuple[int, str, float]] = []
    if counts is None:
        of = {nid: key for key, notes in strata for nid in notes}
        drawn = [(nid, of[nid], n / total) for nid in rng.sample(sorted(of), n)]
    else:
        for (key, notes), k in zip(strata, counts, strict=True):
            drawn += [(nid, key, k / len(notes)) for nid in rng.sample(notes, k)]
    rng.shuffle(drawn)
    session.add_all(
        AuditDraw(
            run_id=run_id, note_id=nid, position=i, stratum=key, inclusion_prob=prob, seed=seed
        )
        for i, (nid, key, prob) in enumerate(drawn)
    )
    session.flush()
    return [nid for nid, _, _ in drawn]
