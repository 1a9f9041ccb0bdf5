"""HTTP plumbing shared by every route: the middlewares (their order is in app/main.py), ETags
and kept answers, the edge's checks, database faults, logs and metrics, OpenAPI touches.

Nothing here knows a plan from a policy: the domain packages (app/plans, app/initiatives, ...)
use these modules, never the other way round.
"""
