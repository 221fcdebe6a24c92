"""Notes in and out: parse and validate submitted notes, store them as batches, export them.

:mod:`~service.notes.ingest` parses JSON, JSONL and CSV bodies and validates every note before
anything is stored; :mod:`~service.notes.batches` creates projects and stores batches once
(idempotency keys, duplicate external ids); :mod:`~service.notes.export` writes a confirmed
category's notes as golden eval cases.
"""
