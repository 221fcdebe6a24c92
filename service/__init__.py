"""The axial service: composes the clustering and judging libraries into an API, workers and UI.

One package per concern; :mod:`service.app` (``create_app``) is the composition root.

- :mod:`service.http`: the JSON API (routers, dependencies, request and response schemas).
- :mod:`service.notes`: ingest and validate notes, store batches, export golden eval cases.
- :mod:`service.runs`: create runs, execute them in workers (embed → cluster → judge → store).
- :mod:`service.review`: review actions, the projection of the event log, read models.
- :mod:`service.audit`: the blind audit sample, the blind-first gate, blind labels.
- :mod:`service.agreement`: judge–human agreement figures from the review log.
- :mod:`service.auth`: API keys, users, roles. :mod:`service.storage`: tables, migrations.
- :mod:`service.cli`: the ``axial`` command. :mod:`service.demo`: the demo project.
- :mod:`service.settings`, :mod:`service.errors`, :mod:`service.domain`, :mod:`service.context`:
  configuration, errors with their HTTP status, the shared vocabulary (states and actions), and
  what routes and workers share.
"""
