"""The blind audit: the sample drawn when a run finishes, the gate, the reveal, the labels, links.

:mod:`~service.audit.draw` draws a run's audit sample stratified by judge proposal before
anyone has seen the proposals, sized by :class:`~service.audit.draw.AuditSize`;
:mod:`~service.audit.gate` decides whether a reviewer must label that sample before seeing the
judge's work (blind-first) and is the one door to that work, which records the reveal
(:mod:`~service.audit.reveal`: when the judge's work for a run was first shown to each person);
:mod:`~service.audit.labels` records the reviewers' labels (blind before the reveal, revisions
after) and switches blind mode; :mod:`~service.audit.links` lists the blind "new category"
names of a run with the category each links to, and lets a lead link one by hand. The
agreement figures read these labels (:mod:`service.agreement`).
"""
