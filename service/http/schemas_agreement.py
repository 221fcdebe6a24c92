"""Response shapes of :mod:`service.http.agreement`: the figures of METRICS.md, typed.

The models mirror, key for key, the JSON :mod:`service.agreement` builds (the dashboard and the
CSV table read the same dicts). Keys that only some answers carry (a headline without audit
has no ``disagreements``; corrected counts of an empty scope have no ``draws``) are optional
and left out when absent (``response_model_exclude_unset``). Undefined numbers are ``null``,
never NaN.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from judges.agreement import Outcome, Tier
from service.http.schemas import UtcTimestamp

Share = float | None  # a proportion or statistic, rounded; null when undefined


class Interval(BaseModel):
    """A proportion with its 95% interval."""

    value: Share = Field(description="Point estimate.")
    low: Share = Field(description="Lower 95% limit.")
    high: Share = Field(description="Upper 95% limit.")
    n: Share = Field(description="Sample size behind it (Kish's n_eff when weighted).")


class Difference(BaseModel):
    """A difference of two proportions (p₁ − p₀) with Newcombe's 95% interval."""

    value: Share = Field(description="p₁ − p₀.")
    low: Share = Field(description="Lower 95% limit.")
    high: Share = Field(description="Upper 95% limit.")
    n1: Share = Field(description="Sample size of p₁.")
    n0: Share = Field(description="Sample size of p₀.")


class ErrorRate(BaseModel):
    """The judge error rate on blind-audited notes (METRICS.md §2)."""

    value: Share = Field(description="Share of audited notes where judge and human disagree.")
    low: Share = Field(description="Lower 95% limit (Wilson on n_eff).")
    high: Share = Field(description="Upper 95% limit.")
    n: int = Field(description="Blind-audited notes counted.")
    n_eff: int | float | None = Field(
        description="Kish's effective sample size (= n when unweighted)."
    )
    disagreements: int | None = Field(None, description="Audited notes judged differently.")
    weighted: bool | None = Field(
        None, description="Hájek-weighted: inclusion probabilities differ."
    )
    indicative: bool | None = Field(None, description="Too few notes: read as indicative only.")
    awaiting_workflow: int = Field(
        description="Audited notes left out: no member of their proposal is decided yet."
    )
    awaiting_links: int = Field(
        description="Audited notes left out: their blind label is a name in the reviewer's own "
        "words that the final review has not linked to the codebook yet."
    )
    pending_review: int = Field(description="awaiting_workflow + awaiting_links.")
    status: Literal["no_audit", "pending_review", "estimated"] = Field(
        description="pending_review while audited notes wait for the run's review (the value, "
        "if any, covers only the notes already resolved); estimated once none waits."
    )
    drawn: int | None = Field(None, description="Notes drawn for the audit (scope headline).")
    labelled: int | None = Field(None, description="Drawn notes labelled blind (scope headline).")


class ScopeOut(BaseModel):
    run_id: int | None = Field(description="Only this run.")
    batch_id: int | None = Field(description="Only runs over this batch.")
    week: str | None = Field(description="Only runs of this ISO week.")
    judge_version: str | None = Field(description="Only this judge version.")


class Window(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    runs: list[int] = Field(description="Runs in the scope, oldest first.")
    weeks: list[str] = Field(description="Their ISO weeks.")
    judge_versions: list[str] = Field(description="Their judge versions.")
    from_: UtcTimestamp | None = Field(alias="from", description="Earliest run (ISO 8601).")
    to: UtcTimestamp | None = Field(description="Latest run (ISO 8601).")


class Excess(BaseModel):
    """The judge's error minus the human–human disagreement (§2.5)."""

    value: Share = Field(None, description="Judge error − e_HH.")
    low: Share = Field(None, description="Lower 95% limit.")
    high: Share = Field(None, description="Upper 95% limit.")
    n1: Share = Field(None, description="Audited notes.")
    n0: Share = Field(None, description="Double-coded notes.")
    at_parity: bool = Field(description="The judge errs no more than two humans disagree.")


class HumanNoise(BaseModel):
    double_coded: int = Field(description="Audited notes two reviewers labelled blind.")
    e_hh: Interval | None = Field(description="Human–human disagreement on them.")
    alpha: Share = Field(description="Krippendorff's α of the blind labels.")
    excess: Excess | None = Field(description="The judge's excess error over e_HH.")


class ErrorKinds(BaseModel):
    """Shares of notes by kind of error; they add up to 1 − accuracy."""

    wrong_category: Share = Field(description="Both a category, different ones.")
    false_noise: Share = Field(description="Judge noise, human a category.")
    false_inclusion: Share = Field(description="Judge a category, human noise.")
    n: int = Field(description="Notes.")


class NoteAgreement(BaseModel):
    """Per-note agreement on the blind audit sample, unweighted (§1.2)."""

    n: int = Field(description="Audited notes.")
    weighted: bool = Field(description="Always false: unweighted.")
    accuracy: Interval | None = Field(description="Raw agreement.")
    kappa: Share = Field(description="Cohen's κ.")
    macro_f1: Share = Field(description="Mean F1 over categories with enough support.")
    errors: ErrorKinds = Field(description="The error decomposition.")


class Partition(BaseModel):
    """The judge's partition against the workflow partition of decided notes (§1.3)."""

    n: int = Field(description="Decided notes.")
    source: Literal["workflow"] = Field(description="The human partition used.")
    bcubed_f1: Share = Field(description="B-cubed F1.")
    bcubed_precision: Share = Field(description="B-cubed precision.")
    bcubed_recall: Share = Field(description="B-cubed recall.")
    ari: Share = Field(description="Adjusted Rand index.")
    ami: Share = Field(description="Adjusted mutual information.")
    v_measure: Share = Field(description="V-measure.")


class ProposalOutcomeOut(BaseModel):
    proposal_id: int = Field(description="The judge proposal.")
    name: str = Field(description="Its judge name.")
    primary: Outcome = Field(description="The highest-precedence outcome that holds.")
    flags: list[Outcome] = Field(description="Every outcome that holds.")
    mapped_to: int | None = Field(description="The human category it maps to (null: noise).")
    mapped_name: str = Field(description="That category's name.")
    size: int = Field(description="The judge's count.")
    human_size: int | None = Field(description="The human category's count.")
    precision: Share = Field(description="Overlap / judge count.")
    recall: Share = Field(description="Overlap / human count.")
    count_error: int | None = Field(description="Judge count − human count.")
    spurious: bool = Field(description="Rejected as noise or dissolved.")


class RunOutcomes(BaseModel):
    """Outcomes of one run's decided proposals (§1.1); the detail only once some are decided."""

    run_id: int = Field(description="The run.")
    judge_version: str = Field(description="Its judge version.")
    week: str = Field(description="Its ISO week.")
    proposals: int = Field(description="Judge proposals.")
    decided: int = Field(description="Proposals all of whose notes are decided.")
    pending: int = Field(description="The others.")
    actions: dict[str, int] = Field(description="Workflow actions by name (effort).")
    mix_by_proposal: dict[str, int] = Field(description="Primary outcome → proposals.")
    mix_by_note: dict[str, int] = Field(description="Primary outcome → member notes.")
    acceptance: Interval | None = Field(description="Share accepted as proposed.")
    outcomes: list[ProposalOutcomeOut] | None = Field(None, description="One per decided proposal.")
    mean_precision: Share = Field(None, description="Over proposals mapped to a category.")
    mean_recall: Share = Field(None, description="Over proposals mapped to a category.")
    mean_abs_count_error: Share = Field(None, description="Over proposals mapped to a category.")
    n_mapped: int | None = Field(None, description="Proposals mapped to a category.")
    spurious: list[int] | None = Field(None, description="Spurious proposals.")
    category_recall: Interval | None = Field(
        None, description="Share of final categories whose lineage starts at a judge proposal."
    )
    missed_categories: list[int] | None = Field(None, description="Categories the judge missed.")


class ProposalOutcomes(BaseModel):
    runs: list[RunOutcomes] = Field(description="Per run of the scope.")
    outcomes: list[Outcome] = Field(description="Every outcome, in precedence order.")
    mix_by_proposal: dict[str, int] = Field(description="Outcome → proposals, over the scope.")
    mix_by_note: dict[str, int] = Field(description="Outcome → member notes, over the scope.")
    decided: int = Field(description="Decided proposals.")
    pending: int = Field(description="Undecided proposals.")
    acceptance: Interval | None = Field(description="Share accepted as proposed.")


class CountRow(BaseModel):
    """One label's judge count and corrected count (§3.3–§3.5)."""

    label: int | None = Field(description="Category id; negative: blind 'new'; null: noise.")
    kind: Literal["category", "new", "noise", "unreviewed_proposal"] = Field(
        description="What the label is."
    )
    category_id: int | None = Field(None, description="For kind category.")
    proposal_id: int | None = Field(None, description="For kind unreviewed_proposal.")
    name: str = Field(description="How a lead reads the label.")
    raw: int = Field(description="The judge's count.")
    estimate: Share = Field(description="Corrected count (null in tier C).")
    low: Share = Field(description="Lower 95% limit.")
    high: Share = Field(description="Upper 95% limit.")
    tier: Tier = Field(description="A: audited; B: transported; C: not correctable.")
    precision: Interval | None = Field(description="Judge precision (tier A).")
    recall: Interval | None = Field(description="Judge recall (tier A).")
    audit_share: Interval | None = Field(description="Tier C: share of the blind audit.")
    reasons: list[str] = Field(description="Tier C: why not correctable.")


class CorrectedCounts(BaseModel):
    categories: list[CountRow] = Field(description="Per label, largest first.")
    runs: list[int] = Field(description="The runs counted: the latest per batch.")
    batch_size: int = Field(description="Notes in those runs.")
    audited: int = Field(description="Of them blind-audited.")
    unaudited_strata: list[str] | None = Field(None, description="Strata without audit.")
    draws: int | None = Field(None, description="Posterior draws (tier A).")
    seed: int | None = Field(None, description="Their seed.")
    prior: Share = Field(None, description="The prior used.")


class LiveSaturation(BaseModel):
    """Saturation of a review stream (§5): the blind audit's, or the reviewed record's."""

    reviewed: int = Field(description="Notes in the stream, noise included.")
    non_noise: int = Field(description="Non-noise notes.")
    discoveries: int = Field(description="New categories found.")
    since_last: int = Field(description="Non-noise notes since the last discovery.")
    singletons: int = Field(description="Categories with one note.")
    good_turing: Share = Field(description="Chance the next note needs a new category.")
    window_noise_share: Share = Field(description="Noise share of the last window.")
    noise_dominated: bool = Field(description="The window is mostly noise.")
    saturated: bool = Field(description="No discovery in the last k notes and enough reviewed.")
    k: int = Field(description="The window.")
    min_reviewed: int = Field(description="Non-noise notes needed first.")
    none_in_k_bound: Share = Field(description="What 'none in k' alone bounds.")
    curve: list[tuple[int, int]] = Field(description="(notes, categories found).")


class RunDiscoveries(BaseModel):
    """What one run's reviewed notes brought."""

    run_id: int = Field(description="The run.")
    week: str = Field(description="Its ISO week.")
    reviewed: int = Field(description="Its decided notes (first seen in this run).")
    non_noise: int = Field(description="Of them not noise.")
    new_categories: int = Field(description="Category lineages first confirmed in this run.")


class RetrospectiveSaturation(BaseModel):
    """The whole reviewed record (§5): final labels of every decided note."""

    n: int = Field(description="Decided non-noise notes.")
    categories: int = Field(description="Categories among them.")
    singletons: int = Field(description="Categories with one note.")
    good_turing: Share = Field(description="singletons / n.")
    curve: list[tuple[int, float | None]] = Field(description="(notes, expected categories).")
    stream: LiveSaturation = Field(
        description="The record as a stream (runs in order, a seeded random order within a "
        "run): discoveries and the stopping rule."
    )
    runs: list[RunDiscoveries] = Field(description="Per run of the scope, oldest first.")


class Saturation(BaseModel):
    saturated: bool = Field(description="Stop reviewing: no new categories lately.")
    signal: Literal["live", "retrospective"] | None = Field(
        description="Which stream says so (null: neither)."
    )
    message: str = Field(description="The stopping signal, for people.")
    live: LiveSaturation = Field(description="From the blind audit stream.")
    retrospective: RetrospectiveSaturation = Field(description="From the reviewed record.")


class Persuasion(BaseModel):
    """Labels given after the judge's work was shown, against the blind labels they replace."""

    revisions: int = Field(description="Revised notes their author had labelled blind.")
    changed: int = Field(description="Of them, changed.")
    toward_judge: int = Field(description="Changed to the judge's label.")
    away_from_judge: int = Field(description="Changed away from the judge's label.")
    rate: Interval | None = Field(
        description="Judge persuasion rate: toward_judge / revisions (never in the headline)."
    )
    unblinded: int = Field(description="Revisions of notes their author never labelled blind.")


class Stamp(BaseModel):
    project: str = Field(description="Project name.")
    watermark: int = Field(description="The highest review event id reflected.")
    computed_at: UtcTimestamp = Field(description="When the figures were computed (ISO 8601).")
    scope: ScopeOut = Field(description="The filters applied.")


class HeadlineError(ErrorRate):
    drawn: int = Field(description="Notes drawn for the audit.")
    labelled: int = Field(description="Drawn notes labelled blind.")
    expected_half_width: Share = Field(
        description="Half-width of the 95% interval the drawn audit buys at a 15% error rate."
    )
    runs_reviewed: int = Field(description="Runs of the scope whose review is final.")


class AgreementOut(Stamp):
    """Every agreement figure of the scope."""

    window: Window = Field(description="The runs the figures cover.")
    judge_error_rate: HeadlineError = Field(description="The headline (§2).")
    judge_persuasion: Persuasion = Field(description="Revisions after the reveal (§2).")
    workflow_disagreement: Interval | None = Field(description="Diagnostic only (§2.4).")
    anchoring_gap: Difference | None = Field(description="Workflow vs blind disagreement.")
    human_noise: HumanNoise = Field(description="Human–human disagreement (§2.5).")
    note_agreement: NoteAgreement | None = Field(description="Per-note agreement (§1.2).")
    partition: Partition | None = Field(description="Partition agreement (§1.3).")
    proposal_outcomes: ProposalOutcomes = Field(description="Proposal outcomes (§1.1).")
    corrected_counts: CorrectedCounts = Field(description="Corrected counts (§3).")
    saturation: Saturation = Field(description="Saturation (§5).")


_RUNS = "The runs pooled."
_ERROR = "Their pooled judge error rate."
_WORKFLOW = "Workflow disagreement (diagnostic only)."


class RunRow(BaseModel):
    run_id: int = Field(description="The run.")
    batch_id: int | None = Field(description="Its batch.")
    week: str = Field(description="Its ISO week.")
    judge_id: str = Field(description="Its judge.")
    judge_version: str = Field(description="Its judge version.")
    created_at: UtcTimestamp = Field(description="When it was queued (ISO 8601).")
    drawn: int = Field(description="Notes drawn for its audit.")
    reviewed: bool = Field(description="No proposal of the run is pending.")
    runs: list[int] = Field(description=_RUNS)
    judge_error_rate: ErrorRate = Field(description=_ERROR)
    workflow_disagreement: Interval | None = Field(description=_WORKFLOW)
    proposal_outcomes: RunOutcomes = Field(description="Its proposal outcomes.")


class BatchRow(BaseModel):
    batch_id: int | None = Field(description="The batch.")
    week: str = Field(description="ISO week of its latest run.")
    runs: list[int] = Field(description=_RUNS)
    judge_error_rate: ErrorRate = Field(description=_ERROR)
    workflow_disagreement: Interval | None = Field(description=_WORKFLOW)


class WeekRow(BaseModel):
    judge_version: str = Field(description="The judge version.")
    week: str = Field(description="The ISO week.")
    runs: list[int] = Field(description=_RUNS)
    judge_error_rate: ErrorRate = Field(description=_ERROR)
    workflow_disagreement: Interval | None = Field(description=_WORKFLOW)


class Jump(BaseModel):
    """The latest audited run against the pooled previous W runs (Newcombe)."""

    current: Interval | None = Field(description="Error of the latest audited run.")
    baseline: Interval | None = Field(description="Pooled error of the baseline runs.")
    baseline_runs: list[int] = Field(description="The baseline runs, oldest first.")
    difference: Difference | None = Field(description="current − baseline.")
    margin: float = Field(description="δ of the alarm rule L > δ.")
    worse: bool = Field(description="The error rose beyond δ.")
    better: bool = Field(description="The error fell beyond δ.")


class Cusum(BaseModel):
    """A Bernoulli CUSUM over audited notes in time order."""

    p0: float = Field(description="In-control error (first runs).")
    p1: Share = Field(description="Out-of-control error it watches for.")
    h: Share = Field(description="Alarm threshold.")
    last: Share = Field(description="Latest statistic.")
    alarms: int = Field(description="Alarms raised.")
    alarm: bool = Field(description="Any alarm.")
    notes: int = Field(description="Notes in the path.")


class Drift(BaseModel):
    audited_runs: int = Field(description="Runs with a blind audit.")
    rolling: Interval | None = Field(description="Pooled error of the last W audited runs.")
    jump: Jump | None = Field(description="The jump test.")
    cusum: Cusum | None = Field(description="The CUSUM.")
    alarm: bool = Field(description="Either test raised an alarm.")


class VersionRow(BaseModel):
    judge_version: str = Field(description="The judge version.")
    judge_id: str = Field(description="Its judge.")
    weeks: list[str] = Field(description="ISO weeks with its runs.")
    runs: list[int] = Field(description=_RUNS)
    judge_error_rate: ErrorRate = Field(description=_ERROR)
    workflow_disagreement: Interval | None = Field(description=_WORKFLOW)
    drift: Drift = Field(description="Drift alarms.")


class ReviewerRow(BaseModel):
    reviewer: str = Field(description="The reviewer's display name.")
    actor: str = Field(description="The reviewer's identity (key:<id>, user:<id>).")
    blind_labelled: int = Field(description="Audit notes they labelled blind.")
    judge_disagreement: Interval | None = Field(
        description="How often they disagree with the judge."
    )
    double_coded_notes: int = Field(description="Of them also labelled by another reviewer.")
    agreement_with_others: Interval | None = Field(description="Agreement with other reviewers.")
    revisions: int = Field(description="Notes they relabelled after the judge's work was shown.")
    toward_judge: int = Field(description="Of them, moved to the judge's label.")
    workflow_actions: int = Field(description="Their workflow actions.")


class RunsOut(Stamp):
    runs: list[RunRow] = Field(description="One row per run.")


class BatchesOut(Stamp):
    batches: list[BatchRow] = Field(description="One row per batch.")


class WeeksOut(Stamp):
    weeks: list[WeekRow] = Field(description="One point per judge version and ISO week.")


class VersionsOut(Stamp):
    judge_versions: list[VersionRow] = Field(description="One row per judge version.")


class ReviewersOut(Stamp):
    reviewers: list[ReviewerRow] = Field(description="One row per reviewer identity, by name.")


class GateOut(BaseModel):
    run_id: int = Field(description="The run.")
    reviewer: str = Field(description="Whose gate: the display name.")
    actor: str = Field(description="Whose gate: the identity (key:<id> or user:<id>).")
    blind_mode: bool = Field(description="The run is in blind mode.")
    sample_size: int = Field(description="Notes in the audit sample.")
    labelled: int = Field(description="Of them labelled blind by the reviewer.")
    pending_note_ids: list[int] = Field(description="Still to label, in order.")
    revealed: bool = Field(
        description="The judge's work for the run was shown to the reviewer: their audit "
        "labels are revisions from then on, and the gate no longer holds them."
    )
    revealed_at: UtcTimestamp | None = Field(description="When it was first shown (ISO 8601).")
    must_audit_first: bool = Field(description="Label them before seeing proposals.")
