"""Runs: create one, execute it in a worker, and store what it found.

:mod:`~service.runs.create` queues a run over a batch (or every undecided note) and reads its
status; :mod:`~service.runs.worker` claims queued runs and executes them, in a thread of the web
process or as ``axial worker`` processes; :mod:`~service.runs.pipeline` is one run: load notes →
embed (through :mod:`~service.runs.embedding_cache`) → cluster → sample → judge → store
(:mod:`~service.runs.store`, which also draws the blind audit); :mod:`~service.runs.judging` builds
the judge from settings; :mod:`~service.runs.heartbeat` keeps a long stage visibly alive.
"""
