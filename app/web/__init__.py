"""HTTP plumbing shared by every route: the middleware stack (app/web/stack.py), ETags and
caching, kept answers, problem-free limits, logs and metrics, OpenAPI touches.

Nothing here knows a plan from a policy: the domain packages (app/plans, app/initiatives, ...)
use these modules, never the other way round.
"""
