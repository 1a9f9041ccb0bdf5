"""Schemathesis: the API against its own OpenAPI schema, in process, on a private database.

Every operation gets schema-valid and schema-violating requests (both generation modes) in
every phase Schemathesis runs under pytest (examples, coverage, fuzzing), with an editor's
token, and every check Schemathesis has (all 14; no response-time limit, which a shared CI
machine cannot promise; declared response headers are checked too); a state machine then
chains the operations by the links the schema declares and those Schemathesis infers (ids
in responses feeding the next call's path, ETags its If-Match).

A schema-valid request can still be rightly refused: the id it names does not exist (404),
it duplicates a natural key or deletes a parent that has children (409), it breaks a rule a
JSON schema cannot state, such as one that depends on stored data (422)... Those statuses
are listed below per operation, each with its reason; anything else fails the test.
"""

import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import schemathesis
from schemathesis import Case
from schemathesis.core.failures import Failure
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation.meta import TestPhase
from schemathesis.generation.stateful.state_machine import StepInput, StepOutput
from schemathesis.openapi.checks import RejectedPositiveData, UnsupportedMethodResponse
from schemathesis.python.asgi import shutdown_lifespans
from sqlalchemy import Engine, make_url, text
from sqlmodel import Session

from app.auth.tokens import Role, digest
from app.config import Settings
from app.main import create_app
from app.models import ApiToken
from app.web.edge import WRITE_METHODS
from tests.conftest import TEST_DATABASE_URL, Api, _admin_engine, _pg_database

pytestmark = pytest.mark.slow

SECRET = "ppa_schemathesis-editor-token"
SEED = 20240401  # fixed, with derandomize: the same requests on every run
MAX_EXAMPLES = 25  # fuzzing phase, per operation; the coverage phase adds its own cases
STATEFUL_STEPS = 8
STATEFUL_SCENARIOS = 20

# Why a schema-valid request may be refused, by operationId and status. Everything not
# listed must succeed (2xx); a 5xx is never expected.
FORM_FILE = (
    "a form's file whose name ends in none of .csv, .xlsx, .json and whose own type is none of"
    " the three the schema's encoding lists (OpenAPI cannot require a file name)"
)
NOT_FOUND = "the id in the path (or plan_id) names nothing: generated ids mostly do not exist"
STALE = "If-Match names another version than the stored one (412, nothing changes)"
NO_PLAN = "plan_id left out while more than one plan exists (an earlier request made one)"
NO_CP932 = (
    "encoding=cp932, and a stored text (written by an earlier request) has a character CP932"
    " cannot hold: 422 naming it, before the first byte"
)
REPORT_RULES = (
    "the fiscal year is outside the plan's period; a line's policy_id or a highlight's"
    " initiative_id names nothing, something of another plan, or the same twice; a line's"
    " achieved + unconfirmed exceed its items"
)
REFUSED: dict[str, dict[str, str]] = {
    "get_plan": {"404": NOT_FOUND},
    "get_policy": {"404": NOT_FOUND},
    "get_measure": {"404": NOT_FOUND},
    "get_initiative": {"404": NOT_FOUND},
    "get_report": {"404": NOT_FOUND},
    "list_initiative_evaluations": {"404": NOT_FOUND},
    "get_initiative_evaluation": {
        "404": NOT_FOUND + "; or the initiative has no evaluation for that year",
    },
    "create_plan": {
        "409": "the slug is taken (natural key)",
        "422": "start_fiscal_year after end_fiscal_year",
    },
    "update_plan": {
        "404": NOT_FOUND,
        "409": "the new slug is another plan's",
        "412": STALE,
        "422": "start_fiscal_year after end_fiscal_year, with the stored other one",
    },
    "delete_plan": {
        "403": "deleting a plan needs an admin token; the test's token is an editor's",
    },
    "create_policy": {
        "409": "the plan has a policy of that number already (natural key)",
        "422": "plan_id names no plan (a missing parent is 422 naming the field)",
    },
    "update_policy": {
        "404": NOT_FOUND,
        "409": "the plan has a policy of that number already",
        "412": STALE,
    },
    "delete_policy": {
        "404": NOT_FOUND,
        "409": "the policy has measures and cascade is not true",
        "412": STALE,
    },
    "create_measure": {
        "409": "the policy has a measure of that number already (natural key)",
        "422": "policy_id names no policy",
    },
    "update_measure": {
        "404": NOT_FOUND,
        "409": "the policy has a measure of that number already",
        "412": STALE,
        "422": "policy_id names no policy, or one of another plan (a measure stays in its plan)",
    },
    "delete_measure": {
        "404": NOT_FOUND,
        "409": "the measure has initiatives and cascade is not true",
        "412": STALE,
    },
    "create_initiative": {
        "409": "the plan has an initiative of that code already (natural key)",
        "422": "measure_id names no measure; or the code R<n>-… and fiscal_year disagree, or a"
        " code not of that form comes without fiscal_year",
    },
    "update_initiative": {
        "404": NOT_FOUND,
        "409": "the plan has an initiative of that code already",
        "412": STALE,
        "422": "measure_id names no measure, or one of another plan; or code and fiscal year"
        " disagree",
    },
    "delete_initiative": {
        "404": NOT_FOUND,
        "409": "the initiative has evaluations and cascade is not true",
        "412": STALE,
    },
    "put_initiative_evaluation": {
        "404": NOT_FOUND,
        "412": STALE,
        "422": "the fiscal year is outside the plan's period",
    },
    "delete_initiative_evaluation": {
        "404": NOT_FOUND + "; or there is no evaluation for that year",
        "412": STALE,
    },
    "create_report": {
        "409": "the plan has a report for that fiscal year already (natural key)",
        "422": f"plan_id names no plan; or {REPORT_RULES}",
    },
    "update_report": {
        "404": NOT_FOUND,
        "409": "the plan has a report for that fiscal year already",
        "412": STALE,
        "422": REPORT_RULES,
    },
    "delete_report": {"404": NOT_FOUND, "412": STALE},
    **{
        f"stats_{name}{suffix}": {
            "404": NOT_FOUND,
            "422": NO_PLAN
            + ("; or the fiscal year is outside the plan's period" if by_year else "")
            + f"; or {NO_CP932}",
        }
        for name, by_year in (
            ("achievement", True),
            ("trend", False),
            ("summary", False),
            ("targets", True),
        )
        for suffix in ("", "_csv")
    },
    "stats_plans": {"422": NO_CP932},
    "stats_plans_csv": {"422": NO_CP932},
    "export_table": {"404": NOT_FOUND, "422": NO_CP932},
    "export_bundle": {"404": NOT_FOUND},
    "get_datapackage": {"404": NOT_FOUND},
    "import_plan": {
        "403": "the token's role (editor): the import is an admin's",
        "409": "the bundle's plan slug is taken (generated bytes are never a bundle, though)",
        "422": "bytes that are no plan's bundle (a zip of its CSVs)",
    },
    "bulk_initiatives": {
        "404": NOT_FOUND,
        "415": FORM_FILE,
        "409": "rows changed while the request ran",
        "422": "rows that break rules of stored data: a new code without measure and title,"
        " a measure that is not the plan's, columns that disagree with the plan",
    },
    "bulk_evaluations": {
        "404": NOT_FOUND,
        "415": FORM_FILE,
        "409": "rows changed while the request ran",
        "422": "rows naming a code the plan does not have, a year outside its period",
    },
}
# Schema-violating requests are refused with 422 (validation). Checks that come before it
# answer first (API.md: size, then token and role, then validation): a write without its
# token is 401 whatever else is wrong with it.
NO_TOKEN = "the Authorization header is what is missing: 401 before validation"
REJECTED = {"422": "the request breaks the schema", "401": NO_TOKEN}
REJECTED_TOO: dict[str, dict[str, str]] = {
    "bulk_initiatives": {
        "413": "more than 10,000 rows (the schema's maxItems): 413, as API.md says",
        "415": "a Content-Type other than JSON, CSV, .xlsx or a form",
    },
    "bulk_evaluations": {
        "413": "more than 10,000 rows (the schema's maxItems): 413, as API.md says",
        "415": "a Content-Type other than JSON, CSV, .xlsx or a form",
    },
    "delete_plan": {"403": "the token's role (editor) is refused before validation"},
    "import_plan": {"403": "the token's role (editor) is refused before validation"},
}


def _operation_config(operation_id: str, refused: dict[str, str]) -> dict[str, Any]:
    negative = [*REJECTED, *REJECTED_TOO.get(operation_id, {})]
    return {
        "include-operation-id": operation_id,
        "checks": {
            "positive_data_acceptance": {"expected-statuses": ["2xx", *refused]},
            "negative_data_rejection": {"expected-statuses": negative},
        },
    }


# A workbook is bytes on the wire, as any file: sent as generated (the route answers 422 for
# bytes that are no workbook, which REFUSED lists).
for binary in (
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/zip",
):
    schemathesis.serializer.alias(binary, "application/octet-stream")

CONFIG = schemathesis.Config.from_dict(
    {
        "seed": SEED,
        # An editor's token (bearerAuth is the schema's security scheme for writes);
        # Schemathesis leaves it out where a case is about its absence, and checks that a
        # write without it, or with another, is refused (ignored_auth).
        "auth": {"openapi": {"bearerAuth": {"bearer": SECRET}}},
        "generation": {
            "mode": "all",  # positive and negative
            "max-examples": MAX_EXAMPLES,
            "deterministic": True,  # Hypothesis' derandomize
            "database": "none",  # nothing to replay: the same examples every run
        },
        "checks": {
            "positive_data_acceptance": {"expected-statuses": ["2xx"]},
            "negative_data_rejection": {"expected-statuses": list(REJECTED)},
        },
        "operations": [_operation_config(name, refused) for name, refused in REFUSED.items()],
    }
)
# The schema as the app serves it (this app never opens its database); requests go to each
# test's own app, on its own database.
SCHEMA_ONLY = Settings(database_url=f"sqlite:///{tempfile.gettempdir()}/never-opened.db")
schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(SCHEMA_ONLY), config=CONFIG)


@schema.hook
def filter_failure(
    _context: schemathesis.HookContext, failure: Failure, case: Case[Any], response: Any
) -> bool:
    """Drop two kinds of failure, each for its reason; keep everything else.

    - "Valid data rejected" for a request that is not valid. The coverage phase of
      Schemathesis 4.32 finds no value for an optional header whose pattern has a quote or
      `*` in it (If-Match: `"3"`, `*`), seeds its template with an invalid one ("0"), and
      sends that in cases it labels positive while it labels the header negative.
    - "Undeclared method not 405" when it is 401: a write method (PUT on /plans, say) sent
      without a token to a path whose reads are public. API.md has authentication checked
      before anything else a write can fail on, so it is 401 whatever the route; with the
      token it is 405 with `Allow`, which the cases of the paths' writes check.
    """
    meta = case.meta
    if isinstance(failure, RejectedPositiveData):
        return not (
            meta is not None
            and meta.phase.name == TestPhase.COVERAGE
            and any(
                info.mode.is_negative
                for location, info in meta.components.items()
                if location == ParameterLocation.HEADER
            )
        )
    if isinstance(failure, UnsupportedMethodResponse):
        return not (
            failure.status_code == 401
            and failure.method.upper() in WRITE_METHODS
            and "authorization" not in {name.lower() for name in response.request.headers}
        )
    return True


def add_editor_token(engine: Engine) -> None:
    """Give the database the editor token Schemathesis sends (only its digest is stored).

    The secret is fixed because Schemathesis builds some requests (examples, coverage)
    when the tests are collected, before any database exists."""
    with Session(engine) as session:
        session.add(ApiToken(name="schemathesis", role=Role.editor.value, digest=digest(SECRET)))
        session.commit()


@pytest.fixture
def served(api: Api) -> Iterator[Api]:
    """The test's api, with the token; afterwards, the apps Schemathesis started are shut
    down, so that they close their connections (on Schemathesis's event loop) before the
    database is dropped."""
    add_editor_token(api.engine)
    yield api
    shutdown_lifespans()


@schema.parametrize()
@hypothesis.settings(
    # The database is the test's own for all the examples of one operation: what one
    # example writes, the next sees, as any client would.
    suppress_health_check=[hypothesis.HealthCheck.function_scoped_fixture],
)
def test_api(case: Case[Any], served: Api) -> None:
    case.call_and_validate(app=served.client.app)


@contextmanager
def private_database(template_url: str, directory: Path) -> Iterator[str]:
    """A copy of the migrated and seeded template (as conftest's fresh_url), dropped after."""
    name = f"scenario_{uuid.uuid4().hex[:12]}"
    if not TEST_DATABASE_URL:
        path = directory / f"{name}.db"
        shutil.copy(make_url(template_url).database or "", path)
        yield f"sqlite:///{path}"
        return
    admin = _admin_engine()
    try:
        with admin.connect() as connection:
            template = make_url(template_url).database
            connection.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
        yield _pg_database(name)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_stateful(template_url: str, tmp_path: Path) -> None:
    """Chains of calls along the links the schema declares (app/web/openapi.py: a created
    resource's id, its ETag as If-Match) and those Schemathesis infers: what one call
    creates, the next reads, changes or deletes (the same checks, the same expected
    statuses, and the stateful ones: a resource created can be read, one deleted cannot).

    Each scenario starts from the seeded database, a copy of its own: what a scenario does
    then depends only on its calls, so the same seed runs the same scenarios (Hypothesis
    refuses scenarios whose rules depend on what earlier ones left behind).
    """

    followed: list[tuple[str, str, int]] = []  # (link, operation, status) of declared links

    class Workflow(schema.as_state_machine()):  # type: ignore[misc]
        def step(self, input: StepInput) -> StepOutput:
            output: StepOutput = super().step(input)
            transition = input.transition
            if transition is not None and not transition.is_inferred and input.is_applied:
                operation = output.case.operation.definition.raw["operationId"]
                followed.append((transition.id, operation, output.response.status_code))
            return output

        def setup(self) -> None:
            self.database = ExitStack()
            url = self.database.enter_context(private_database(template_url, tmp_path))
            app = create_app(Settings(database_url=url))
            self.database.callback(app.state.engine.dispose)
            add_editor_token(app.state.engine)
            self.call_kwargs = {"app": app}

        def get_call_kwargs(self, case: Case[Any]) -> dict[str, Any]:
            return self.call_kwargs

        def teardown(self) -> None:
            shutdown_lifespans()
            self.database.close()
            super().teardown()

    Workflow.run(
        settings=hypothesis.settings(
            max_examples=STATEFUL_SCENARIOS,
            stateful_step_count=STATEFUL_STEPS,
            derandomize=True,
            deadline=None,
            database=None,
            suppress_health_check=list(hypothesis.HealthCheck),
        )
    )
    # The phase walked along the links the schema declares (app/web/openapi.py). Which ones,
    # and with what answers, depends on what it generates: in one process a scenario's POST
    # succeeds and its link is followed to a 200, in another (the whole suite on PostgreSQL,
    # once) the only links followed were negative cases sent without a token (401). That
    # every declared link leads to a successful answer is checked deterministically, link by
    # link, in tests/test_openapi_truth.py.
    assert followed, "the stateful phase followed none of the links the schema declares"
