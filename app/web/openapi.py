"""What the OpenAPI schema says beyond the routes' own declarations: response headers (from
the kind of each operation) and links between operations (the CRUD resources'). Both are
added to the generated schema in one pass (app/main.py) rather than in every route's
`responses=`.

Who sends each header (keep this in step with the code it names):

    X-Request-ID          every answer (app/web/monitoring.py)
    ETag, Cache-Control   a GET of one resource (app/web/http.py resource_response);
                          every other read (app/web/caching.py read_cache_headers: with Vary too),
                          also on their 304s; a write's new version (app/web/http.py written)
    Vary                  every answer (Origin: CORSMiddleware, app/web/headers.py); the reads of
                          app/web/caching.py add Accept and Authorization, a large kept answer
                          Accept-Encoding (app/web/caching.py)
    Link                  lists: rel="next"/"prev" when there are more pages (app/web/http.py);
                          downloads: rel="license"/"describedby" (app/exports/router.py);
                          a plan's CSV statistics: rel="license" (app/stats/router.py)
    Location              a write that created a resource (201)
    Content-Disposition   downloads and CSV statistics (app/exports/csv.py)
    Cache-Control         also `no-store` on every write and every error (app/web/headers.py)
    WWW-Authenticate      401 (app/auth/tokens.py)
    Retry-After           429 (app/auth/tokens.py), every 503 (app/web/faults.py, /readyz), and
                          a bulk upload's 409 when its Idempotency-Key's upload is still
                          running (app/bulk/idempotency.py)
"""

from typing import Any

from app.web.edge import WRITE_METHODS

# Operations whose answer is one resource with its id and version as ETag (app/web/http.py).
RESOURCE_READS = frozenset(
    {
        "get_plan",
        "get_policy",
        "get_measure",
        "get_initiative",
        "get_report",
        "get_initiative_evaluation",
    }
)
DOWNLOADS = frozenset({"export_table", "export_bundle"})  # Link to licence, a file name
UNCACHED_READS = frozenset({"healthz", "readyz"})  # probes: never cached, no ETag

HEADERS: dict[str, dict[str, Any]] = {
    "ETag": {
        "description": "The version of this answer: send it back as If-None-Match (reads, 304"
        " when unchanged) or If-Match (writes, 412 when changed since).",
        "schema": {"type": "string"},
    },
    "Cache-Control": {
        "description": "Reads: `no-cache` (keep, but revalidate with the ETag each time), or"
        " `public, max-age=0, s-maxage=N` where the operator gives shared caches a lifetime;"
        " `no-store` for writes, errors and reads made with a token.",
        "schema": {"type": "string"},
    },
    "Vary": {
        "description": "The request headers this answer depends on: Origin (CORS) on every"
        " answer; reads also Accept, Authorization, and Accept-Encoding when a compressed"
        " copy may be served.",
        "schema": {"type": "string"},
    },
    "Link": {
        "description": 'Lists: the next and previous pages (rel="next", rel="prev"), where'
        ' they exist. Downloads: the licence (rel="license") and the data package that'
        ' describes the data (rel="describedby").',
        "schema": {"type": "string"},
    },
    "Location": {
        "description": "The URL of the resource created.",
        "schema": {"type": "string", "format": "uri"},
    },
    "Content-Disposition": {
        "description": "The file name of the download (`filename*` in UTF-8).",
        "schema": {"type": "string"},
    },
    "X-Request-ID": {
        "description": "The request's id in the service's log: the one sent (letters, digits,"
        " `-_.:`, at most 128), or one made for it.",
        "schema": {"type": "string"},
    },
    "WWW-Authenticate": {
        "description": "The scheme to use: `Bearer`.",
        "schema": {"type": "string"},
    },
    "Retry-After": {
        "description": "Seconds to wait before trying again.",
        "schema": {"type": "integer", "minimum": 0},
    },
}


def _header(name: str, *, required: bool = True, note: str = "") -> dict[str, Any]:
    declared = dict(HEADERS[name])
    if note:
        declared["description"] = f"{declared['description']} {note}"
    return {**declared, "required": required}


def sent_headers(operation_id: str, method: str, status: int) -> dict[str, dict[str, Any]]:
    """The headers an answer of this status to this operation carries (see the module)."""
    headers: dict[str, dict[str, Any]] = {
        "Vary": _header("Vary"),
        "X-Request-ID": _header("X-Request-ID"),
    }
    write = method.upper() in WRITE_METHODS
    if status >= 400:
        headers["Cache-Control"] = _header("Cache-Control")
        if status == 401:
            headers["WWW-Authenticate"] = _header("WWW-Authenticate")
        if status in (429, 503):
            headers["Retry-After"] = _header("Retry-After")
        if status == 409 and operation_id.startswith("bulk_"):
            headers["Retry-After"] = _header(
                "Retry-After",
                required=False,
                note="Sent when an upload with the same Idempotency-Key is still running.",
            )
        return headers
    if write:
        headers["Cache-Control"] = _header("Cache-Control")
        if status in (200, 201) and not operation_id.startswith("bulk_"):
            headers["ETag"] = _header("ETag")
        if status == 201:
            headers["Location"] = _header("Location")
        return headers
    if operation_id in UNCACHED_READS:
        return headers
    headers["ETag"] = _header("ETag")
    headers["Cache-Control"] = _header("Cache-Control")  # on the 304 too (RFC 9110 15.4.5)
    if operation_id in RESOURCE_READS:
        return headers
    if status != 200:
        return headers
    if operation_id.startswith("list_") and operation_id != "list_changes":
        headers["Link"] = _header("Link", required=False, note="Sent when other pages exist.")
    if operation_id in DOWNLOADS:
        headers["Link"] = _header("Link")
    elif operation_id.endswith("_csv") and operation_id != "stats_plans_csv":
        note = 'A plan\'s statistic: its licence (rel="license"), when the licence has a URL.'
        headers["Link"] = _header("Link", required=False, note=note)
    if operation_id in DOWNLOADS or operation_id.endswith("_csv"):
        headers["Content-Disposition"] = _header("Content-Disposition")
    return headers


def declare_headers(schema: dict[str, Any], prefix: str) -> None:
    """Declare, on every response of every operation, the headers it is sent with."""
    for path, item in schema.get("paths", {}).items():
        for method, operation in item.items():
            if not path.startswith(prefix) and operation["operationId"] not in UNCACHED_READS:
                continue
            for status, response in operation.get("responses", {}).items():
                if not status.isdigit():
                    continue
                headers = sent_headers(operation["operationId"], method, int(status))
                if headers:
                    response["headers"] = {**headers, **response.get("headers", {})}


# --------------------------------------------------------------------------------------------
# Links: where an answer's values lead (the id of what was created, its ETag for If-Match).
# Clients and Schemathesis' stateful phase follow them (tests/test_schemathesis.py).
# --------------------------------------------------------------------------------------------

# resource: (operationId suffix, path parameter)
RESOURCES = {
    "Plan": ("plan", "plan_id"),
    "Policy": ("policy", "policy_id"),
    "Measure": ("measure", "measure_id"),
    "Initiative": ("initiative", "initiative_id"),
    "Report": ("report", "report_id"),
}
ETAG = "$response.header.ETag"
ID = "$response.body#/id"


def _link(operation_id: str, description: str, **parameters: str) -> dict[str, Any]:
    return {"operationId": operation_id, "description": description, "parameters": parameters}


def resource_links() -> dict[tuple[str, str], dict[str, dict[str, Any]]]:
    """The links of each (operationId, status), by link name."""
    links: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
    for title, (name, key) in RESOURCES.items():
        read = _link(f"get_{name}", f"Read the {name}.", **{f"path.{key}": ID})
        change = _link(
            f"update_{name}",
            f"Change the {name}, if it is still this version.",
            **{f"path.{key}": ID, "header.If-Match": ETAG},
        )
        delete = _link(
            f"delete_{name}",
            f"Delete the {name}, if it is still this version.",
            **{f"path.{key}": ID, "header.If-Match": ETAG},
        )
        links[(f"create_{name}", "201")] = {
            f"Get{title}": read,
            f"Update{title}": change,
            f"Delete{title}": delete,
        }
        links[(f"get_{name}", "200")] = {f"Update{title}": change, f"Delete{title}": delete}
        links[(f"update_{name}", "200")] = {f"Get{title}": read, f"Delete{title}": delete}
    children = {
        "create_plan": ("list_policies", "query.plan_id", "The plan's policies."),
        "create_policy": ("list_measures", "query.policy_id", "The policy's measures."),
        "create_measure": ("list_initiatives", "query.measure_id", "The measure's initiatives."),
        "create_initiative": (
            "list_initiative_evaluations",
            "path.initiative_id",
            "The initiative's evaluations.",
        ),
    }
    for source, (target, parameter, description) in children.items():
        links[(source, "201")][target.title().replace("_", "")] = _link(
            target, description, **{parameter: ID}
        )
    links[("create_initiative", "201")]["PutInitiativeEvaluation"] = _link(
        "put_initiative_evaluation",
        "Evaluate the initiative for its fiscal year.",
        **{"path.initiative_id": ID, "path.fiscal_year": "$response.body#/fiscal_year"},
    )
    evaluation = {
        "path.initiative_id": "$response.body#/initiative_id",
        "path.fiscal_year": "$response.body#/fiscal_year",
    }
    get_evaluation = _link("get_initiative_evaluation", "Read the evaluation.", **evaluation)
    put_evaluation = _link(
        "put_initiative_evaluation",
        "Replace the evaluation, if it is still this version.",
        **evaluation,
        **{"header.If-Match": ETAG},
    )
    delete_evaluation = _link(
        "delete_initiative_evaluation",
        "Delete the evaluation, if it is still this version.",
        **evaluation,
        **{"header.If-Match": ETAG},
    )
    for status in ("200", "201"):
        links[("put_initiative_evaluation", status)] = {
            "GetInitiativeEvaluation": get_evaluation,
            "DeleteInitiativeEvaluation": delete_evaluation,
        }
    links[("get_initiative_evaluation", "200")] = {
        "PutInitiativeEvaluation": put_evaluation,
        "DeleteInitiativeEvaluation": delete_evaluation,
    }
    return links


def declare_links(schema: dict[str, Any]) -> None:
    """Add the links of resource_links to the responses they start from."""
    wanted = resource_links()
    for item in schema.get("paths", {}).values():
        for operation in item.values():
            for status, response in operation.get("responses", {}).items():
                found = wanted.pop((operation["operationId"], status), None)
                if found:
                    response["links"] = found
    if wanted:  # a renamed operation would otherwise lose its links silently
        raise RuntimeError(f"links from operations that do not exist: {sorted(wanted)}")
