"""Judge–human agreement metrics, as pure functions over plain data (design: METRICS.md).

No database, web or settings: note ids are ``int``, labels are category ids (``int``) or
``None`` for noise (∅), judge proposals are :class:`JudgeProposal`. Every figure carries its
``n`` (``Interval(value, low, high, n)``).

Public functions and the METRICS.md section each implements:

- Intervals (§2, §4): :func:`wilson`, :func:`wilson_proportion` (Wilson score, ``z = 1.96``),
  :func:`newcombe_difference` (hybrid score, independent samples),
  :func:`newcombe_paired_difference` (Newcombe 1998b method 10, paired).
- Mapping (§0): :func:`map_proposals` (``m(j)`` with its tie rules), :func:`judge_labels`
  (``ĵ(i)``), :func:`judge_category_counts`, :func:`judge_partition`, :func:`normalise_name`
  (``norm`` of §1.4).
- Per proposal (§1.1): :func:`proposal_outcomes`, :func:`proposal_agreement` (outcome with
  precedence and flags, membership precision/recall, count error and mean absolute count
  error, as-is acceptance rate with Wilson CI, judge category recall, spurious proposals),
  :func:`category_recall`.
- Per note (§1.2): :func:`note_agreement`, :func:`confusion_matrix`, :func:`cohen_kappa`,
  :func:`category_scores`, :func:`error_decomposition`; :func:`noise_agreement` (§1.3
  binary noise table).
- Per partition (§1.3): :func:`partition_agreement` (ARI, AMI with **arithmetic-mean**
  normalisation, V-measure, B-cubed, pairwise F1; noise as singletons), and the primitives
  :func:`contingency`, :func:`adjusted_rand`, :func:`adjusted_mutual_info`,
  :func:`homogeneity_completeness`, :func:`bcubed`, :func:`pairwise`. The same indices for a
  clustering against gold labels, as label arrays with -1 for unclustered notes (each a
  singleton): :func:`label_bcubed`, :func:`label_ari_ami`, :func:`seed_stability` (mean
  pairwise ARI across seeds), built on :func:`label_contingency` and
  :func:`noise_as_singletons`.
- Headline (§2): :func:`error_rate` (``x/n``, Wilson, "indicative only" below n = 20),
  :func:`pooled_error_rate` (Hájek, Kish ``n_eff``), :func:`disagreement_rate` (workflow
  disagreement, human–human ``e_HH``), :func:`anchoring_gap`, :func:`headline`,
  :func:`krippendorff_alpha` (nominal), :func:`excess_error` (§2 point 5).
- Corrected counts (§3.3): :func:`build_strata`, :func:`stratified_counts`,
  :func:`stratified_variance`; transported (§3.4, §3.5): :func:`transported_counts`,
  :func:`simplex_least_squares`, :func:`youden`; display tiers A/B/C (§3.5):
  :func:`display_counts`.
- Drift (§4): :func:`rolling_error`, :func:`jump_test`, :func:`bernoulli_cusum`,
  :func:`cusum_threshold` (``h`` by seeded simulation so the false-alarm run length is ≥ 52
  batches), with :func:`cusum_paths` and :func:`run_lengths` for such simulations.
- Saturation (§5): :func:`saturation` (discovery = first confirmed note of a lineage; a
  lineage confirmed before the stream re-appears without discovering), :func:`rarefaction`,
  :func:`rarefaction_curve`.
- Blind names (§2.1): :func:`link_blind_name` (``c*(b) = argmax_c |B_b ∩ H_c|``, ties to the
  larger category then the lowest id, all noise → ∅, unknown until every note is decided);
  :func:`persuasion` (the judge persuasion rate of revisions given after the reveal).

Choices where METRICS.md is silent or differs:

- ``m(j)`` ties: after the lineage successor and the lowest category id, noise (which has no
  id) ranks after every category.
- Outcomes of a proposal mapped to noise: "merged", "renamed" and the moved-in half of
  "membership edited" need a category and do not apply; precision, recall and count error
  are ``None`` and such proposals are left out of the means (``n_mapped`` says how many
  were averaged). "Dissolved" means no *category* holds half of the members.
- Macro-F1 averages non-noise categories only; noise has its own row in ``per_label`` and
  its binary table. F1 is ``2TP/(2TP+FP+FN)``: 0 for a category the judge never predicts.
- κ is ``None`` (not NaN) when ``p_e = 1``; ARI and AMI are 1.0 for identical degenerate
  partitions (e.g. all notes noise on both sides), where their denominators vanish.
- Drift jump test: the issue asks for an alarm "when the interval excludes zero"; METRICS.md
  alarms on ``L > δ`` with ``δ = 0.05``. ``jump_test(margin=0.0)`` (the default) alarms when
  the interval excludes 0 on either side and says which (``worse``/``better``); pass
  ``margin=0.05`` and read ``worse`` for METRICS.md's rule.
- Judge precision/recall per category (§3.3) use the finite-population posterior-predictive
  counts ``T_cj`` (the same draws as ``T_c``) rather than the superpopulation ``q_{c|j}``;
  several strata mapped to one category are pooled by size.
- §3.3 requires every stratum (the judge-noise stratum included) to be audited
  (``1 <= n_j``): an unaudited stratum has no estimate, so ``stratified_counts`` raises and
  the label falls to tier B or C. ``Var(T̂_c)`` is ``None`` when a partly audited stratum
  has ``n_j = 1``.
- §3.4 constrained least squares is solved by NNLS with a heavily weighted ``Σπ = 1`` row,
  then renormalised. A calibration without any note of some label leaves ``M̂`` singular,
  so every label fails the conditioning check (tier C) — transport needs all classes.
  Bootstrap resamples where ``J_c`` is undefined count as failures (never silently dropped).
- Tier C's audit-only share is computed on the batch's simple random blind audit.
- Excess error ``E − e_HH`` uses the unpaired Newcombe interval as §2 point 5 says, although
  the double-coded notes are a subset of the audit (the samples overlap).
- The "split" outcome is ``Outcome.split_up`` (value ``"split"``): a ``StrEnum`` member named
  ``split`` would shadow ``str.split``.
- ``cusum_threshold`` picks the smallest ``h`` whose simulated false-alarm run length has a
  lower 95% Monte Carlo bound ≥ 52 batches (METRICS.md only says "set by simulation").
- Saturation counts ``t``, the K window, ``t >= 100`` and the Good–Turing ``N`` over non-noise
  notes. A catch-all note resets the K counter and adds 1 to ``f₁``; the first note of the
  catch-all lineage is an ordinary discovery.
"""

from judges.agreement.counts import (
    CategoryEstimate,
    StratifiedCounts,
    Stratum,
    build_strata,
    stratified_counts,
    stratified_variance,
)
from judges.agreement.data import AuditLabel, JudgeProposal, Label, Partition
from judges.agreement.display import CountDisplay, Tier, display_counts
from judges.agreement.drift import (
    BatchAudit,
    Cusum,
    JumpTest,
    bernoulli_cusum,
    cusum_paths,
    cusum_threshold,
    jump_test,
    rolling_error,
    run_lengths,
)
from judges.agreement.headline import (
    ErrorRate,
    ExcessError,
    Headline,
    anchoring_gap,
    disagreement_rate,
    error_rate,
    excess_error,
    headline,
    krippendorff_alpha,
    pooled_error_rate,
)
from judges.agreement.intervals import (
    DifferenceInterval,
    Interval,
    newcombe_difference,
    newcombe_paired_difference,
    wilson,
    wilson_proportion,
)
from judges.agreement.links import NameLink, Persuasion, link_blind_name, persuasion
from judges.agreement.notes import (
    CategoryScores,
    Confusion,
    ErrorDecomposition,
    NoiseAgreement,
    NoteAgreement,
    category_scores,
    cohen_kappa,
    confusion_matrix,
    error_decomposition,
    judge_labels,
    noise_agreement,
    note_agreement,
)
from judges.agreement.partition import (
    PairScores,
    PartitionAgreement,
    adjusted_mutual_info,
    adjusted_rand,
    bcubed,
    contingency,
    homogeneity_completeness,
    judge_partition,
    label_ari_ami,
    label_bcubed,
    label_contingency,
    noise_as_singletons,
    pairwise,
    partition_agreement,
    seed_stability,
)
from judges.agreement.proposals import (
    Outcome,
    ProposalOutcome,
    ProposalSummary,
    category_recall,
    judge_category_counts,
    map_proposals,
    normalise_name,
    proposal_agreement,
    proposal_outcomes,
)
from judges.agreement.saturation import Saturation, rarefaction, rarefaction_curve, saturation
from judges.agreement.transport import (
    TransportChecks,
    TransportedCounts,
    TransportedEstimate,
    simplex_least_squares,
    transported_counts,
    youden,
)

__all__ = [
    "AuditLabel",
    "BatchAudit",
    "CategoryEstimate",
    "CategoryScores",
    "Confusion",
    "CountDisplay",
    "Cusum",
    "DifferenceInterval",
    "ErrorDecomposition",
    "ErrorRate",
    "ExcessError",
    "Headline",
    "Interval",
    "JudgeProposal",
    "JumpTest",
    "Label",
    "NameLink",
    "NoiseAgreement",
    "NoteAgreement",
    "Outcome",
    "PairScores",
    "Partition",
    "PartitionAgreement",
    "Persuasion",
    "ProposalOutcome",
    "ProposalSummary",
    "Saturation",
    "StratifiedCounts",
    "Stratum",
    "Tier",
    "TransportChecks",
    "TransportedCounts",
    "TransportedEstimate",
    "adjusted_mutual_info",
    "adjusted_rand",
    "anchoring_gap",
    "bcubed",
    "bernoulli_cusum",
    "build_strata",
    "category_recall",
    "category_scores",
    "cohen_kappa",
    "confusion_matrix",
    "contingency",
    "cusum_paths",
    "cusum_threshold",
    "disagreement_rate",
    "display_counts",
    "error_decomposition",
    "error_rate",
    "excess_error",
    "headline",
    "homogeneity_completeness",
    "judge_category_counts",
    "judge_labels",
    "judge_partition",
    "jump_test",
    "krippendorff_alpha",
    "label_ari_ami",
    "label_bcubed",
    "label_contingency",
    "link_blind_name",
    "map_proposals",
    "newcombe_difference",
    "newcombe_paired_difference",
    "noise_agreement",
    "noise_as_singletons",
    "normalise_name",
    "note_agreement",
    "pairwise",
    "partition_agreement",
    "persuasion",
    "pooled_error_rate",
    "proposal_agreement",
    "proposal_outcomes",
    "rarefaction",
    "rarefaction_curve",
    "rolling_error",
    "run_lengths",
    "saturation",
    "seed_stability",
    "simplex_least_squares",
    "stratified_counts",
    "stratified_variance",
    "transported_counts",
    "wilson",
    "wilson_proportion",
    "youden",
]
