"""A route's query parameters as one pydantic model: documented, and validated in one step.

Why: FastAPI validates declared query parameters one at a time, with work of its own around
each (measured in bench/README.md). The statistics routes take six
(plan, year, format and the three CSV options), and for the achievement of one plan that
bookkeeping cost more than the aggregate query behind the answer. A route that declares its
query as a model instead takes only `request`, calls `parse_query(request, Model)` (one
validation by pydantic-core), and passes `query_openapi(Model)` as its `openapi_extra`, so the
parameters are documented from the same model: one definition for the docs, the validation
and the errors.

It behaves as FastAPI's own parameters do: a repeated one gives its last value, and an
invalid one is a RequestValidationError located at `["query", name]` (a 422 problem,
app/errors.py).

A parameter the route does not take is refused the same way (422, `extra_forbidden`), here
for a query model and by `refuse_unknown` for FastAPI's declared parameters (app/web/jsonbody.py,
the routers' route class): a filter misspelt (`?plan_idd=2`) would otherwise answer every
plan's rows as if it were the answer asked for.
"""

import difflib
import functools
from collections.abc import Collection
from typing import Any, TypeVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

REF_TEMPLATE = "#/components/schemas/{model}"
Query = TypeVar("Query", bound=BaseModel)
DOCUMENTED: list[type[BaseModel]] = []  # every model query_openapi listed (see query_components)


def parse_query(request: Request, model: type[Query]) -> Query:
    """The request's query string validated as model (the last value of a repeated name)."""
    if request.scope.get("query_string"):
        refuse_unknown(request, _names(model))
    try:
        return model.model_validate(dict(request.query_params))
    except ValidationError as error:
        raise RequestValidationError(
            [{**detail, "loc": ("query", *detail["loc"])} for detail in error.errors()]
        ) from None


@functools.cache
def _names(model: type[BaseModel]) -> frozenset[str]:
    """The query parameters a model reads: its fields, by their alias where they have one."""
    return frozenset(field.alias or name for name, field in model.model_fields.items())


def refuse_unknown(request: Request, known: Collection[str]) -> None:
    """422 for each query parameter the route does not take, naming those it does."""
    unknown = [name for name in dict.fromkeys(request.query_params.keys()) if name not in known]
    if not unknown:
        return
    takes = ", ".join(sorted(known)) if known else "no query parameters"
    errors = []
    for name in unknown:
        close = difflib.get_close_matches(name, known, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        errors.append(
            {
                "type": "extra_forbidden",
                "loc": ("query", name),
                "msg": f"this path takes no query parameter {name!r}{hint}; it takes: {takes}",
                "input": request.query_params.get(name),
            }
        )
    raise RequestValidationError(errors)


def query_openapi(model: type[BaseModel]) -> dict[str, Any]:
    """The route's `openapi_extra`: model's fields as query parameters, listed as FastAPI
    lists declared ones. The schemas they refer to go into the components through
    `query_components`."""
    DOCUMENTED.append(model)
    schema = model.model_json_schema(ref_template=REF_TEMPLATE)
    required = set(schema.get("required", []))
    parameters = []
    for name, field in schema["properties"].items():
        parameter: dict[str, Any] = {
            "name": name,
            "in": "query",
            "required": name in required,
            "schema": field,
        }
        if "description" in field:
            parameter["description"] = field["description"]
        parameters.append(parameter)
    return {"parameters": parameters}


def query_components() -> dict[str, Any]:
    """The schemas the documented query parameters refer to (their enums), for the OpenAPI
    components."""
    components: dict[str, Any] = {}
    for model in DOCUMENTED:
        components |= model.model_json_schema(ref_template=REF_TEMPLATE).get("$defs", {})
    return components
