"""The blind audit: the sample drawn when a run finishes, the gate, and the blind labels.

:mod:`~service.audit.draw` draws a run's audit sample stratified by judge proposal before
anyone has seen the proposals; :mod:`~service.audit.gate` decides whether a reviewer must label
that sample before seeing the judge's work (blind-first); :mod:`~service.audit.labels` records
the reviewers' blind labels and switches blind mode. The agreement figures read these labels
(:mod:`service.agreement`).
"""
