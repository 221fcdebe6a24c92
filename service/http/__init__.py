"""The JSON API under ``/api/v1``: routers, request dependencies, request and response schemas.

:mod:`~service.http.api` serves projects, batches, runs, proposals (read) and categories;
:mod:`~service.http.review` every review action and the blind audit; :mod:`~service.http.agreement`
the leads' agreement figures. :mod:`~service.http.deps` defines the dependencies every route
shares (the services, the caller, the request's unit of work). Routes only translate HTTP to
calls of the concern packages (:mod:`service.notes`, :mod:`service.runs`, :mod:`service.review`,
:mod:`service.audit`, :mod:`service.agreement`); errors are rendered once, in :mod:`service.app`.
"""
