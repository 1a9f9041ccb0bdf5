"""Fields declared once.

What a client writes of a resource is one pydantic class (InitiativeFields, EvaluationFields...):
each field's type with its limits, its default on create, and, for the exported resources, its
export column's Label. The create schema is that class; the update and bulk-row schemas are
made from it here, and the exports list its labelled fields (app/exports/tables.py). A new
writable field is then the model, a migration, one line in the declaration, and its test (and
the line that answers it in the public schema, whose order mixes in read-only fields).

mypy reads a made class as it is written (the declaration's fields, with their declared
types); pydantic gets the class made here, with the same name, docstring and configuration.
"""

import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from enum import Enum
from typing import Annotated, Any, TypeVar, Union, cast, get_args, get_origin, get_type_hints

from pydantic import BaseModel, Field, create_model
from sqlalchemy import Table

from app.fields import omitted

Model = TypeVar("Model", bound=BaseModel)


@dataclass(frozen=True)
class Label:
    """A field's column in the exports (and so in the bulk uploads): its Japanese header and
    what it holds, in Japanese and in English. The English header is the field's name."""

    ja: str
    description: str
    description_en: str


# The exports' fiscal year; its era label (年度（和暦）) comes beside it wherever it goes.
FISCAL_YEAR = Label(
    "年度",
    "年度（西暦、その年の4月に始まる年度）",
    "Fiscal year (Western year in which it starts in April)",
)
ERA_LABEL = "fiscal_year_label"


def declared(model: type[BaseModel]) -> dict[str, Any]:
    """The declaration's fields and their annotations as written (Annotated limits and Label
    included), in declared order."""
    hints = get_type_hints(model, include_extras=True)
    return {name: hints[name] for name in model.model_fields}


def _split(annotation: Any) -> tuple[Any, list[Any]]:
    """An annotation without its outermost Annotated metadata, and that metadata."""
    if get_origin(annotation) is Annotated:
        inner, *metadata = get_args(annotation)
        return inner, metadata
    return annotation, []


def _with(annotation: Any, metadata: list[Any]) -> Any:
    return Annotated[annotation, *metadata] if metadata else annotation


def not_null(annotation: Any) -> Any:
    """The annotation without None: `Narrative | None` is Narrative (metadata kept)."""
    inner, metadata = _split(annotation)
    if get_origin(inner) in (Union, types.UnionType):
        kept = [arg for arg in get_args(inner) if arg is not type(None)]
        inner = Union[tuple(kept)] if len(kept) > 1 else kept[0]  # noqa: UP007
    return _with(inner, metadata)


def nullable(annotation: Any) -> Any:
    """The annotation with None: Narrative is `Narrative | None`."""
    return not_null(annotation) | None


def label(annotation: Any) -> Label | None:
    return next((item for item in _split(annotation)[1] if isinstance(item, Label)), None)


def plain_type(annotation: Any) -> Any:
    """The Python type under the limits: LongTitle is str, `Amount | None` is float."""
    inner, _ = _split(not_null(annotation))
    while get_origin(inner) is Annotated:
        inner = get_args(inner)[0]
    return inner


def column_type(annotation: Any) -> str:
    """The Frictionless type of a field's export column."""
    kind = plain_type(annotation)
    if isinstance(kind, type) and issubclass(kind, Enum):
        return "string"
    return {bool: "boolean", int: "integer", float: "number", date: "date"}.get(kind, "string")


def labelled(model: type[BaseModel]) -> Iterator[tuple[str, Any, Label]]:
    """The declared fields that are export columns, in declared order."""
    for name, annotation in declared(model).items():
        found = label(annotation)
        if found is not None:
            yield name, annotation, found


def clearable(table: Table, name: str) -> bool:
    """Whether a write may set the field to null: exactly when its column may be NULL (a
    field that is not a column, such as a report's lines, cannot be)."""
    return name in table.c and bool(table.c[name].nullable)


def _made(cls: type[Model], fields: dict[str, Any]) -> type[Model]:
    # Made anew rather than subclassed: a subclass keeps its base's fields, first and all,
    # while a row follows the export's column order and an update leaves fixed fields out.
    made = create_model(
        cls.__name__,
        __config__=cls.model_config,
        __doc__=cls.__doc__,
        __module__=cls.__module__,
        __qualname__=cls.__qualname__,
        **fields,
    )
    return cast(type[Model], made)


def update(table: Table, *, exclude: tuple[str, ...] = ()) -> Callable[[type[Model]], type[Model]]:
    """Make a PATCH schema from the declaration the class is based on: every field may be left
    out; null clears it where the column may be NULL, and is refused (422) elsewhere. The
    fields in `exclude` cannot change (the plan a policy or a report belongs to)."""

    def make(cls: type[Model]) -> type[Model]:
        (declaration,) = cls.__bases__
        fields = {
            name: (nullable(annotation), None)
            if clearable(table, name)
            else (not_null(annotation), omitted())
            for name, annotation in declared(declaration).items()
            if name not in exclude
        }
        return _made(cls, fields)

    return make


def row(cls: type[Model]) -> type[Model]:
    """Make a bulk row schema from the declaration the class is based on and the columns the
    class adds (written in its body, in export order): those come first, but the era label,
    which follows its fiscal year; then each declared field, optional (left out, it stays as it
    is), unless the class writes it again (a key, or a field a CSV spells its own way)."""
    (declaration,) = cls.__bases__
    names = declared(declaration)
    own = dict(cls.__dict__.get("__annotations__", {}))

    def field(name: str, annotation: Any) -> tuple[Any, Any]:
        info = cls.model_fields[name]
        return annotation, ... if info.is_required() else info.default

    fields = {name: field(name, own[name]) for name in own if name not in names}
    era = fields.pop(ERA_LABEL, None) if "fiscal_year" in names else None
    for name, annotation in names.items():
        fields[name] = field(name, own[name]) if name in own else (nullable(annotation), None)
        if name == "fiscal_year" and era is not None:
            fields[ERA_LABEL] = era
    return _made(cls, fields)


def part(parent: str | None = None) -> Callable[[type[Model]], type[Model]]:
    """Make a plan file's schema (app/seed.py) from the declaration the class is based on: its
    fields as on create, less the parent's id (a file names a parent by number or code), then
    the fields the class body adds, which replace the declaration's of the same name."""

    def make(cls: type[Model]) -> type[Model]:
        (declaration,) = cls.__bases__
        own = dict(cls.__dict__.get("__annotations__", {}))

        def field(name: str, annotation: Any) -> tuple[Any, Any]:
            info = cls.model_fields[name]
            if info.default_factory is not None:  # a map or a list: a new one each time
                return annotation, Field(default_factory=info.default_factory)
            return annotation, ... if info.is_required() else info.default

        names = declared(declaration)
        fields = {
            name: field(name, annotation)
            for name, annotation in names.items()
            if name != parent and name not in own
        }
        return _made(cls, fields | {name: field(name, own[name]) for name in own})

    return make
