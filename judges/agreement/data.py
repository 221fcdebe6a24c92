"""Plain data shapes shared by the agreement functions (METRICS.md §0).

Note ids are ``int``; a label is a human category id (``int``) or ``None`` for noise (∅).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

Label = int | None
"""A category id, or ``None`` for noise (∅)."""

Partition = Mapping[int, Label]
"""Note id → label; ``None`` marks a noise note (a singleton in partition metrics)."""


@dataclass(frozen=True, slots=True)
class JudgeProposal:
    """One judge proposal: a named member set (METRICS.md §0).

    Attributes:
        proposal_id: Stable id of the proposal.
        name: The name the judge proposed.
        members: Note ids the judge put in the proposal (the claimed count is its size).
        lineage_category_id: The category that accept/rename events created from this
            proposal, if any (the lineage successor used to break ties in ``m(j)``).
    """

    proposal_id: int
    name: str
    members: frozenset[int]
    lineage_category_id: int | None = None


@dataclass(frozen=True, slots=True)
class AuditLabel:
    """One blind-audited note: the judge's mapped label against the blind human label (§2).

    Attributes:
        note_id: The audited note.
        human: Blind human label ``h_bl(i)`` (``None`` = noise).
        judge: The judge's label mapped into the human codebook ``ĵ(i)`` (``None`` = noise).
        inclusion_prob: The note's inclusion probability ``π_i`` in the audit draw (0 < π ≤ 1).
    """

    note_id: int
    human: Label
    judge: Label
    inclusion_prob: float = 1.0

    @property
    def disagrees(self) -> bool:
        """Whether the judge placed the note differently from the blind human."""
        return self.human != self.judge
