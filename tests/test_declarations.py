"""Fields declared once (app/declare.py): per resource, the fields of the create, update, bulk
row and public schemas and the export's columns, each checked against the one declaration."""

from dataclasses import dataclass, field
from typing import Annotated, Any, get_origin

import pytest
from pydantic import BaseModel, ConfigDict
from sqlalchemy import Table

from app import declare
from app.bulk import evaluations as bulk_evaluations
from app.bulk import initiatives as bulk_initiatives
from app.bulk.schemas import NOT_NULL, NOT_NULL_WHEN_SENT, EvaluationRow, InitiativeRow
from app.declare import Label
from app.evaluations.schemas import EvaluationFields, EvaluationPublic, EvaluationPut
from app.exports.tables import EXPORTS, declared_columns
from app.fields import Count
from app.initiatives.schemas import (
    InitiativeCreate,
    InitiativeFields,
    InitiativePublic,
    InitiativeUpdate,
)
from app.measures.schemas import MeasureCreate, MeasureFields, MeasurePublic, MeasureUpdate
from app.models import evaluations, initiatives, measures, plans, policies, reports
from app.plans.schemas import PlanCreate, PlanFields, PlanPublic, PlanUpdate
from app.policies.schemas import PolicyCreate, PolicyFields, PolicyPublic, PolicyUpdate
from app.reports.schemas import ReportCreate, ReportFields, ReportPublic, ReportUpdate


@dataclass(frozen=True)
class Resource:
    name: str
    declaration: type[BaseModel]
    table: Table
    create: type[BaseModel]
    update: type[BaseModel] | None
    public: type[BaseModel]
    fixed: tuple[str, ...] = ()  # set on create only: the parent the resource belongs to
    row: type[BaseModel] | None = None
    # How the export names a declared field, when not by its own name (None: not exported).
    exported_as: dict[str, str | None] = field(default_factory=dict)


RESOURCES = [
    Resource(
        "plans",
        PlanFields,
        plans,
        PlanCreate,
        PlanUpdate,
        PlanPublic,
        exported_as={"slug": "plan_slug"},
    ),
    Resource(
        "policies",
        PolicyFields,
        policies,
        PolicyCreate,
        PolicyUpdate,
        PolicyPublic,
        fixed=("plan_id",),
        exported_as={"plan_id": "plan_slug", "number": "policy_number"},
    ),
    Resource(
        "measures",
        MeasureFields,
        measures,
        MeasureCreate,
        MeasureUpdate,
        MeasurePublic,
        exported_as={"policy_id": "policy_number", "number": "measure_number"},
    ),
    Resource(
        "initiatives",
        InitiativeFields,
        initiatives,
        InitiativeCreate,
        InitiativeUpdate,
        InitiativePublic,
        row=InitiativeRow,
        # The export names the measure by its numbers; the bulk upload also takes its id.
        exported_as={"measure_id": "measure_number"},
    ),
    Resource(
        "evaluations",
        EvaluationFields,
        evaluations,
        EvaluationPut,  # PUT: the whole evaluation, no separate update
        None,
        EvaluationPublic,
        row=EvaluationRow,
    ),
    Resource(
        "reports",
        ReportFields,
        reports,
        ReportCreate,
        ReportUpdate,
        ReportPublic,
        fixed=("plan_id",),
        # One export row per line (policy); the highlights are not in the open data.
        exported_as={
            "plan_id": "plan_slug",
            "lines": "policy_number",
            "highlights": None,
            "provenance": "report_provenance",  # the line's own is `provenance`
        },
    ),
]
IDS = [resource.name for resource in RESOURCES]

# What each schema has, per resource: the listing the declarations make. A new writable field
# shows here (and in its own test), nowhere else.
DECLARED = {
    "plans": [
        "slug",
        "title",
        "municipality_code",
        "municipality_name",
        "philosophy",
        "start_fiscal_year",
        "end_fiscal_year",
        "source",
        "license",
        "license_url",
        "attribution",
        "provenance",
    ],
    "policies": ["plan_id", "number", "title", "focus"],
    "measures": ["policy_id", "number", "title"],
    "initiatives": [
        "measure_id",
        "code",
        "title",
        "description",
        "plan_page",
        "fiscal_year",
        "numeric_target",
        "target_value",
        "target_unit",
    ],
    "evaluations": ["status", "actual_value", "result", "source", "provenance"],
    "reports": [
        "plan_id",
        "fiscal_year",
        "title",
        "published_on",
        "source",
        "lines",
        "highlights",
        "provenance",
    ],
}


def _property(model: type[BaseModel], name: str) -> dict[str, Any]:
    """A field's JSON schema, without what differs by design between the schemas: null (set
    per schema), the default, the title and the field's own description."""
    schema = dict(model.model_json_schema(mode="validation")["properties"][name])
    options = schema.pop("anyOf", None)
    if options is not None:
        kept = [option for option in options if option != {"type": "null"}]
        schema |= kept[0] if len(kept) == 1 else {"anyOf": kept}
    for key in ("default", "title", "description"):
        schema.pop(key, None)
    return schema


def _accepts_null(model: type[BaseModel], name: str) -> bool:
    schema = model.model_json_schema(mode="validation")["properties"][name]
    return {"type": "null"} in schema.get("anyOf", [])


@pytest.mark.parametrize("resource", RESOURCES, ids=IDS)
def test_the_declaration_lists_the_writable_fields(resource: Resource) -> None:
    assert list(declare.declared(resource.declaration)) == DECLARED[resource.name]


@pytest.mark.parametrize("resource", RESOURCES, ids=IDS)
def test_the_create_schema_is_the_declaration(resource: Resource) -> None:
    assert issubclass(resource.create, resource.declaration)
    assert list(resource.create.model_fields) == DECLARED[resource.name]
    for name in DECLARED[resource.name]:
        assert _property(resource.create, name) == _property(resource.declaration, name)


@pytest.mark.parametrize("resource", [r for r in RESOURCES if r.update], ids=lambda r: r.name)
def test_the_update_schema_is_the_declared_fields_made_optional(resource: Resource) -> None:
    update = resource.update
    assert update is not None
    expected = [name for name in DECLARED[resource.name] if name not in resource.fixed]
    assert list(update.model_fields) == expected
    assert update.model_config.get("extra") == "forbid"
    assert update.model_validate({}).model_dump(exclude_unset=True) == {}
    for name in expected:
        assert not update.model_fields[name].is_required(), name
        # The same type and limits as on create...
        assert _property(update, name) == _property(resource.create, name), name
        # ...and null clears the field exactly where its column may be empty.
        assert _accepts_null(update, name) == declare.clearable(resource.table, name), name


@pytest.mark.parametrize("resource", [r for r in RESOURCES if r.row], ids=lambda r: r.name)
def test_the_bulk_row_has_every_declared_field(resource: Resource) -> None:
    row = resource.row
    assert row is not None
    export = EXPORTS[resource.name]
    # A row's fields are the export's columns (and, for initiatives, the measure's id).
    extra = ["measure_id"] if resource.name == "initiatives" else []
    assert sorted(row.model_fields) == sorted([column.en for column in export.columns] + extra)
    keys = {"code"} | ({"fiscal_year"} if resource.name == "evaluations" else set())
    for name in DECLARED[resource.name]:
        info = row.model_fields[name]
        assert info.is_required() == (name in keys), name
        if name != "status":  # a row's status may also be written in Japanese (達成...)
            assert _property(row, name) == _property(resource.create, name), name
    # Declared order, as the export has it (the order in which a row's errors are listed).
    assert [name for name in row.model_fields if name in DECLARED[resource.name]] == DECLARED[
        resource.name
    ]


def test_the_bulk_planners_write_the_declared_fields() -> None:
    assert bulk_initiatives.FIELDS == tuple(
        DECLARED["initiatives"][:1] + DECLARED["initiatives"][2:]
    )
    assert bulk_initiatives.DEFAULTS == {
        name: info.default
        for name, info in InitiativeCreate.model_fields.items()
        if not info.is_required()
    }
    assert bulk_evaluations.FIELDS == tuple(DECLARED["evaluations"])
    assert set(NOT_NULL) == {"title", "numeric_target"}
    assert NOT_NULL_WHEN_SENT == ("title", "numeric_target", "policy_number", "measure_number")


@pytest.mark.parametrize("resource", RESOURCES, ids=IDS)
def test_the_export_has_every_declared_field(resource: Resource) -> None:
    columns = {column.en: column for column in EXPORTS[resource.name].columns}
    for name in DECLARED[resource.name]:
        exported = resource.exported_as.get(name, name)
        if exported is not None:
            assert exported in columns, name
    for name, _, label in declare.labelled(resource.declaration):
        column = columns[name]
        assert (column.ja, column.description, column.description_en) == (
            label.ja,
            label.description,
            label.description_en,
        )


@pytest.mark.parametrize("resource", RESOURCES, ids=IDS)
def test_the_public_schema_answers_every_declared_field(resource: Resource) -> None:
    public = resource.public.model_fields
    for name in DECLARED[resource.name]:
        assert name in public, name
        if name in resource.table.c:
            kind = declare.plain_type(resource.declaration.model_fields[name].annotation)
            shown = declare.plain_type(public[name].annotation)
            if get_origin(kind) is dict:  # a provenance map: its values' limits are the writer's
                assert get_origin(shown) is dict, name
            else:
                assert shown is kind, name
            nullable = bool(resource.table.c[name].nullable)
            assert _accepts_null(resource.public, name) == nullable, name


def test_the_bulk_exports_columns_are_those_declared() -> None:
    """The columns of the two exports a bulk upload reads back, in order: the plan's, the
    parent's numbers or the key, then the declared fields (the fiscal year with its era label)."""
    assert [column.en for column in EXPORTS["initiatives"].columns] == [
        "municipality_code",
        "municipality_name",
        "plan_slug",
        "policy_number",
        "measure_number",
        *[column.en for column in declared_columns(InitiativeFields)],
    ]
    assert [column.en for column in declared_columns(InitiativeFields)] == [
        "code",
        "title",
        "description",
        "plan_page",
        "fiscal_year",
        "fiscal_year_label",
        "numeric_target",
        "target_value",
        "target_unit",
    ]
    assert [column.en for column in EXPORTS["evaluations"].columns] == [
        "municipality_code",
        "municipality_name",
        "plan_slug",
        "code",
        "fiscal_year",
        "fiscal_year_label",
        *DECLARED["evaluations"],
    ]
    types = {column.en: column.type for column in declared_columns(InitiativeFields)}
    assert types["plan_page"] == "integer"
    assert types["numeric_target"] == "boolean"
    assert types["target_value"] == "number"
    assert types["code"] == "string"


def test_a_new_declared_field_reaches_every_schema_and_the_export() -> None:
    """What adding a writable field is: one line in the declaration (here a subclass stands in
    for it). The update, the bulk row and the export's columns follow."""

    class Extended(InitiativeFields):
        budget: Annotated[
            Count | None, Label("予算", "予算額（千円）", "Budget (thousand yen)")
        ] = None

    @declare.update(initiatives)
    class ExtendedUpdate(Extended):
        model_config = ConfigDict(extra="forbid")

    @declare.row
    class ExtendedRow(Extended):
        municipality_code: str | None = None
        fiscal_year_label: str | None = None
        code: Annotated[str, Label("取組番号", "", "")]

    assert list(ExtendedUpdate.model_fields)[-1] == "budget"
    assert ExtendedUpdate.model_validate({"budget": 5}).model_dump(exclude_unset=True) == {
        "budget": 5
    }
    assert list(ExtendedRow.model_fields)[-1] == "budget"
    assert ExtendedRow.model_validate({"code": "R6-1", "budget": None}).budget is None
    assert list(ExtendedRow.model_fields).index("fiscal_year_label") == (
        list(ExtendedRow.model_fields).index("fiscal_year") + 1
    )
    budget = declared_columns(Extended)[-1]
    assert (budget.en, budget.ja, budget.type) == ("budget", "予算", "integer")
