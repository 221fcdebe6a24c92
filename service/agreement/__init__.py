"""Judge–human agreement of a project, recomputed from the review log and the stored runs.

:mod:`~service.agreement.log` folds the insert-only review log into human labels;
:mod:`~service.agreement.data` gathers stored runs and audit draws into the inputs of the pure
agreement library (:mod:`judges.agreement`); :mod:`~service.agreement.figures` computes the
headline judge error, proposal outcomes and workflow agreement; :mod:`~service.agreement.counts`
corrected category counts and saturation; :mod:`~service.agreement.reviewers` per-reviewer
figures; :mod:`~service.agreement.timeline` figures per run, batch, week and judge version and
drift; :mod:`~service.agreement.shapes` and :mod:`~service.agreement.table` render them as JSON
and CSV. METRICS.md specifies every formula.
"""
