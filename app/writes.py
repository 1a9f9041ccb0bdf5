"""What every write shares: If-Match, the write lock, the one commit per use case, and
deleting with children."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError
from sqlmodel import Session, SQLModel

from app.caching import Versioned, resource_etag
from app.changes.recorder import NOT_LOGGED, append
from app.errors import Conflict, NotFound, PreconditionFailed
from app.fields import jsonable
from app.models import (
    data_version,
    evaluations,
    initiatives,
    measures,
    policies,
    report_highlights,
    report_lines,
    reports,
    utcnow,
)


def check_if_match(if_match: str | None, row: Versioned) -> None:
    """Raise 412 unless If-Match is absent, `*`, or names the row's current ETag (RFC 9110)."""
    if if_match is None:
        return
    tags = [tag.strip() for tag in if_match.split(",")]
    # Strong comparison: a weak tag (W/"3") never matches for a write.
    current = resource_etag(row)
    if "*" not in tags and current not in tags:
        raise PreconditionFailed(
            f"the resource is now {current}, not {if_match}: fetch it again and retry"
        )


def load(session: Session, model: type[SQLModel], entity: str, row_id: int) -> Any:
    row = session.get(model, row_id)
    if row is None:
        raise NotFound(f"{entity} {row_id} does not exist")
    return row


def hold_write_lock(session: Session) -> None:
    """Take the write lock before reading what a rule across rows checks.

    A rule such as "no evaluation before its initiative's fiscal year" reads other rows and
    then writes: a concurrent write between the two could make both pass and the data break
    the rule. On SQLite the writer holds the lock already (BEGIN IMMEDIATE, app/db.py); on
    PostgreSQL this takes the data_version row's lock, which every writer takes before any
    content row's (app/changes/recorder.py), so the order stays the same and cannot deadlock.
    Call it before loading the rows the rule reads, so they are read after the lock.
    """
    session.execute(select(data_version.c.version).with_for_update())


@contextmanager
def committing(session: Session) -> Iterator[None]:
    """Commit the use case's changes once; turn database refusals into 409 and 412."""
    try:
        yield
        session.commit()
    except StaleDataError:
        session.rollback()
        raise PreconditionFailed(
            "someone else changed the resource meanwhile: fetch it again and retry"
        ) from None
    except IntegrityError as error:
        session.rollback()
        raise Conflict(
            "the change conflicts with data written meanwhile (a duplicate key or a"
            " missing parent); fetch again and retry"
        ) from error


# What each kind of row takes with it when it is deleted (ON DELETE CASCADE), as queries of ids.
def _descendants(entity: str, row_id: int) -> dict[str, Select[Any]]:
    def initiatives_where(*criteria: Any) -> Select[Any]:
        return select(initiatives.c.id).where(*criteria)

    if entity == "plan":
        in_plan = initiatives_where(initiatives.c.plan_id == row_id)
        in_reports = select(reports.c.id).where(reports.c.plan_id == row_id)
        return {
            "policy": select(policies.c.id).where(policies.c.plan_id == row_id),
            "measure": select(measures.c.id).where(measures.c.plan_id == row_id),
            "initiative": in_plan,
            "evaluation": select(evaluations.c.id).where(evaluations.c.initiative_id.in_(in_plan)),
            "report": in_reports,
            "report_line": select(report_lines.c.id).where(
                report_lines.c.report_id.in_(in_reports)
            ),
            "report_highlight": select(report_highlights.c.id).where(
                report_highlights.c.report_id.in_(in_reports)
            ),
        }
    if entity == "policy":
        in_policy = initiatives_where(
            initiatives.c.measure_id.in_(
                select(measures.c.id).where(measures.c.policy_id == row_id)
            )
        )
        return {
            "measure": select(measures.c.id).where(measures.c.policy_id == row_id),
            "initiative": in_policy,
            "evaluation": select(evaluations.c.id).where(
                evaluations.c.initiative_id.in_(in_policy)
            ),
            "report_line": select(report_lines.c.id).where(report_lines.c.policy_id == row_id),
            "report_highlight": select(report_highlights.c.id).where(
                report_highlights.c.initiative_id.in_(in_policy)
            ),
        }
    if entity == "measure":
        in_measure = initiatives_where(initiatives.c.measure_id == row_id)
        return {
            "initiative": in_measure,
            "evaluation": select(evaluations.c.id).where(
                evaluations.c.initiative_id.in_(in_measure)
            ),
            "report_highlight": select(report_highlights.c.id).where(
                report_highlights.c.initiative_id.in_(in_measure)
            ),
        }
    if entity == "initiative":
        return {
            "evaluation": select(evaluations.c.id).where(evaluations.c.initiative_id == row_id),
            "report_highlight": select(report_highlights.c.id).where(
                report_highlights.c.initiative_id == row_id
            ),
        }
    if entity == "report":
        return {
            "report_line": select(report_lines.c.id).where(report_lines.c.report_id == row_id),
            "report_highlight": select(report_highlights.c.id).where(
                report_highlights.c.report_id == row_id
            ),
        }
    return {}


TABLES = {
    "policy": policies,
    "measure": measures,
    "initiative": initiatives,
    "evaluation": evaluations,
    "report": reports,
    "report_line": report_lines,
    "report_highlight": report_highlights,
}
PLURALS = {
    "policy": "policies",
    "measure": "measures",
    "initiative": "initiatives",
    "evaluation": "evaluations",
    "report": "reports",
    "report_line": "report lines",
    "report_highlight": "report highlights",
}
# A report's lines and highlights are parts of it, not children that block its deletion.
PARTS = {"report": {"report_line", "report_highlight"}}


def delete(session: Session, row: Any, entity: str, *, cascade: bool) -> None:
    """Delete row; refuse (409) while it has children, unless cascade, which logs each one."""
    found = {
        name: list(session.scalars(query)) for name, query in _descendants(entity, row.id).items()
    }
    blocking = {
        name: len(ids) for name, ids in found.items() if ids and name not in PARTS.get(entity, ())
    }
    if blocking and not cascade:
        counts = ", ".join(f"{count} {PLURALS[name]}" for name, count in blocking.items())
        raise Conflict(
            f"{entity} {row.id} still has {counts}: delete them first or pass ?cascade=true"
        )
    actor = str(session.info.get("actor", "system"))
    now = utcnow()
    entries = []
    for name, ids in found.items():
        if not ids:
            continue
        table = TABLES[name]
        for child in session.execute(select(table).where(table.c.id.in_(ids))).mappings():
            old = {
                key: [jsonable(value), None]
                for key, value in child.items()
                if key not in NOT_LOGGED
            }
            entries.append(
                {
                    "at": now,
                    "actor": actor,
                    "action": "delete",
                    "entity": name,
                    "entity_id": child["id"],
                    "changes": old,
                }
            )
    with committing(session):
        if entries:
            append(session.connection(), entries)
        session.delete(row)
