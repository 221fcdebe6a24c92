"""The judge protocol: what a judge sees of a cluster, and the proposal it returns.

A judge is given one :class:`ClusterSample` per cluster of a run (its representative and
boundary notes, its c-TF-IDF keywords, a few notes of the nearest other clusters as contrast)
plus the project's confirmed categories, and returns one :class:`CategoryProposal` per sample,
in the same order. Judges never raise for one bad cluster: a cluster whose judging failed comes
back with ``judge_failed=True`` and the reason, named from its keywords, so a run always
completes and says how many clusters failed.

Example::

    judge = KeywordJudge()
    proposals = judge.propose(samples, categories)
    assert len(proposals) == len(samples)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class SampleNote:
    """One note shown to a judge: its stable id and its text (untrusted data)."""

    note_id: int
    text: str


@dataclass(frozen=True, slots=True)
class ContrastCluster:
    """A nearby cluster of the same run, shown to the judge so names contrast."""

    label: int
    keywords: tuple[str, ...]
    notes: tuple[SampleNote, ...]


@dataclass(frozen=True, slots=True)
class ExistingCategory:
    """A confirmed category of the project, with its definition."""

    category_id: int
    name: str
    definition: str


@dataclass(frozen=True, slots=True)
class ClusterSample:
    """What a judge sees of one cluster.

    ``members`` holds every member note (id and text); ``representative`` are the notes
    closest to the cluster centre and ``boundary`` the least certain members. The judge
    claims member ids out of ``members`` only.
    """

    label: int
    size: int
    keywords: tuple[str, ...]
    members: tuple[SampleNote, ...]
    representative: tuple[SampleNote, ...]
    boundary: tuple[SampleNote, ...] = ()
    contrast: tuple[ContrastCluster, ...] = ()


@dataclass(frozen=True, slots=True)
class CategoryProposal:
    """A judge's proposal for one cluster.

    Attributes:
        name: short name of the failure (<= 6 words for LLM judges).
        definition: what belongs and what does not.
        member_note_ids: the notes the judge claims for the category.
        misfit_note_ids: member notes of the cluster the judge says do not belong.
        matched_category_id: an existing confirmed category this cluster is, if any.
        confidence: 0..1, the judge's own confidence (e.g. agreement between samples).
        judge_failed: True when the judge could not judge this cluster; the proposal is then
            named by the offline keyword judge (phrases from its notes) and
            ``failure_reason`` says why.
        audit: the exact request and raw reply, tokens and latency, for the audit trail.
    """

    name: str
    definition: str
    member_note_ids: tuple[int, ...]
    misfit_note_ids: tuple[int, ...] = ()
    matched_category_id: int | None = None
    confidence: float = 0.0
    judge_failed: bool = False
    failure_reason: str | None = None
    audit: dict[str, Any] = field(default_factory=dict)


ProgressCallback = Callable[[int], None]
"""Called with the number of clusters judged so far."""


@runtime_checkable
class Judge(Protocol):
    """Proposes a name, a definition and members for each cluster of a run.

    ``judge_id`` names the kind of judge (``keyword-not-an-llm``, ``openai:<model>``);
    ``judge_version`` changes whenever anything that could change its output changes
    (model, prompt template, parameters).
    """

    judge_id: str
    judge_version: str

    def propose(
        self,
        samples: Sequence[ClusterSample],
        categories: Sequence[ExistingCategory],
        on_progress: ProgressCallback | None = None,
    ) -> list[CategoryProposal]: ...
