"""Every table, in one module (SQLModel's relationships trip over circular imports otherwise).

Request and response shapes live in each resource's schemas.py; these classes are the
database schema only, and Alembic migrations are checked against them by the tests.
"""

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    DateTime,
    Identity,
    Index,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import declared_attr
from sqlmodel import Field, SQLModel

from app.provenance import CHECK as PROVENANCE_KNOWN

SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata: MetaData = SQLModel.metadata


def utcnow() -> datetime:
    return datetime.now(UTC)


# Ids are never reused, so an id and a version name one content over the database's whole
# life: a resource deleted and made again gets a new id, and its ETag (app/web/http.py) never
# matches an old one. PostgreSQL: an identity column; SQLite: AUTOINCREMENT, set per table
# with NEVER_REUSE_IDS (without it SQLite gives a deleted row's id to the next row).
NEVER_REUSED_ID: dict[str, Any] = {"server_default": Identity()}
NEVER_REUSE_IDS = {"sqlite_autoincrement": True}


class Tracked(SQLModel):
    """Columns every row carries: a surrogate id, a version for If-Match, and timestamps.

    `version` is the ORM's version counter: every UPDATE through the ORM adds 1 and matches
    the version it read (`WHERE version = :read`), so a concurrent change makes the flush fail
    with StaleDataError instead of being overwritten. An UPDATE is only sent when a value
    really changed, so unchanged rows keep their version.
    """

    id: int | None = Field(default=None, primary_key=True, sa_column_kwargs=NEVER_REUSED_ID)
    version: int = Field(default=1)
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))
    updated_at: datetime = Field(
        default_factory=utcnow,
        sa_type=DateTime(timezone=True),
        sa_column_kwargs={"onupdate": utcnow},
    )

    @declared_attr.directive
    def __mapper_args__(cls) -> dict[str, Any]:
        return {"version_id_col": cls.__table__.c.version}  # type: ignore[attr-defined]


# Text columns are TEXT: the API limits their length (counted as a reader sees it, after
# NFC), and the database stores what was given, whatever its code points.
class Plan(Tracked, table=True):
    __tablename__ = "plans"

    slug: str = Field(max_length=64, unique=True)
    title: str = Field(sa_type=Text)
    municipality_code: str = Field(max_length=6, index=True)
    municipality_name: str = Field(sa_type=Text)
    philosophy: str | None = Field(default=None, sa_type=Text)
    start_fiscal_year: int
    end_fiscal_year: int
    source: str | None = Field(default=None, sa_type=Text)
    license: str | None = Field(default=None, sa_type=Text)
    license_url: str | None = Field(default=None, sa_type=Text)
    attribution: str | None = Field(default=None, sa_type=Text)
    # Per fact, where it comes from (app/provenance.py): {"title": "stated", ...}.
    provenance: dict[str, str] = Field(
        default_factory=dict, sa_type=JSON, sa_column_kwargs={"server_default": "{}"}
    )

    __table_args__ = (
        CheckConstraint("start_fiscal_year <= end_fiscal_year", name="period_order"),
        NEVER_REUSE_IDS,
    )


class Policy(Tracked, table=True):
    __tablename__ = "policies"

    plan_id: int = Field(foreign_key="plans.id", ondelete="CASCADE")
    number: int
    title: str = Field(sa_type=Text)
    focus: str | None = Field(default=None, sa_type=Text)
    # Derived by the code that writes: the folded search text (app/text.py).
    search_text: str = Field(default="", sa_type=Text, sa_column_kwargs={"server_default": ""})

    __table_args__ = (UniqueConstraint("plan_id", "number"), NEVER_REUSE_IDS)


class Measure(Tracked, table=True):
    __tablename__ = "measures"

    # plan_id repeats the policy's plan so that (plan_id, ...) filters need no join;
    # the code that writes keeps it equal to the policy's.
    plan_id: int = Field(foreign_key="plans.id", ondelete="CASCADE", index=True)
    policy_id: int = Field(foreign_key="policies.id", ondelete="CASCADE")
    number: int
    title: str = Field(sa_type=Text)
    # Derived by the code that writes: the folded search text (app/text.py).
    search_text: str = Field(default="", sa_type=Text, sa_column_kwargs={"server_default": ""})

    __table_args__ = (UniqueConstraint("policy_id", "number"), NEVER_REUSE_IDS)


class Initiative(Tracked, table=True):
    __tablename__ = "initiatives"

    plan_id: int = Field(foreign_key="plans.id", ondelete="CASCADE")
    measure_id: int = Field(foreign_key="measures.id", ondelete="CASCADE", index=True)
    code: str = Field(max_length=32)
    # Derived by the code that writes: natural order of codes, and the folded search text.
    code_sort: str = Field(max_length=200)
    title: str = Field(sa_type=Text)
    description: str | None = Field(default=None, sa_type=Text)
    plan_page: int | None = None
    fiscal_year: int
    numeric_target: bool = False
    target_value: float | None = None
    target_unit: str | None = Field(default=None, sa_type=Text)
    search_text: str = Field(default="", sa_type=Text)

    __table_args__ = (
        UniqueConstraint("plan_id", "code"),
        Index("ix_initiatives_plan_id_code_sort", "plan_id", "code_sort"),
        Index("ix_initiatives_plan_id_fiscal_year", "plan_id", "fiscal_year"),
        NEVER_REUSE_IDS,
    )


class Evaluation(Tracked, table=True):
    __tablename__ = "evaluations"

    initiative_id: int = Field(foreign_key="initiatives.id", ondelete="CASCADE")
    fiscal_year: int
    status: str | None = Field(default=None, max_length=16)
    actual_value: float | None = None
    result: str | None = Field(default=None, sa_type=Text)
    source: str | None = Field(default=None, sa_type=Text)
    provenance: str = Field(
        default="external", max_length=16, sa_column_kwargs={"server_default": "external"}
    )
    search_text: str = Field(default="", sa_type=Text)

    __table_args__ = (
        UniqueConstraint("initiative_id", "fiscal_year"),
        CheckConstraint(
            "status IS NULL OR status IN ('achieved', 'not_achieved', 'unconfirmed')",
            name="status_known",
        ),
        CheckConstraint(PROVENANCE_KNOWN, name="provenance_known"),
        Index("ix_evaluations_fiscal_year_status", "fiscal_year", "status"),
        NEVER_REUSE_IDS,
    )


class Report(Tracked, table=True):
    """The figures a city published for a fiscal year, kept beside what the service computes."""

    __tablename__ = "reports"

    plan_id: int = Field(foreign_key="plans.id", ondelete="CASCADE")
    fiscal_year: int
    title: str = Field(sa_type=Text)
    published_on: date | None = None
    source: str | None = Field(default=None, sa_type=Text)
    # Per fact, where it comes from (app/provenance.py): {"fiscal_year": "inferred", ...}.
    provenance: dict[str, str] = Field(
        default_factory=dict, sa_type=JSON, sa_column_kwargs={"server_default": "{}"}
    )

    __table_args__ = (UniqueConstraint("plan_id", "fiscal_year"), NEVER_REUSE_IDS)


class ReportLine(Tracked, table=True):
    """One policy's row of a published table: items, achieved and unconfirmed."""

    __tablename__ = "report_lines"

    report_id: int = Field(foreign_key="reports.id", ondelete="CASCADE")
    policy_id: int = Field(foreign_key="policies.id", ondelete="CASCADE", index=True)
    items: int
    achieved: int
    unconfirmed: int = 0
    provenance: str = Field(
        default="stated", max_length=16, sa_column_kwargs={"server_default": "stated"}
    )

    __table_args__ = (
        UniqueConstraint("report_id", "policy_id"),
        CheckConstraint(PROVENANCE_KNOWN, name="provenance_known"),
        CheckConstraint(
            "items >= 0 AND achieved >= 0 AND unconfirmed >= 0 AND achieved + unconfirmed <= items",
            name="counts_consistent",
        ),
        NEVER_REUSE_IDS,
    )


class ReportHighlight(Tracked, table=True):
    """An initiative a report names, as carried out (implemented) or newly added."""

    __tablename__ = "report_highlights"

    report_id: int = Field(foreign_key="reports.id", ondelete="CASCADE")
    initiative_id: int = Field(foreign_key="initiatives.id", ondelete="CASCADE", index=True)
    section: str = Field(max_length=16)

    __table_args__ = (
        UniqueConstraint("report_id", "initiative_id"),
        CheckConstraint("section IN ('implemented', 'added')", name="section_known"),
        NEVER_REUSE_IDS,
    )


class ApiToken(Tracked, table=True):
    """A bearer token for writes. Only the SHA-256 digest of the secret is stored."""

    __tablename__ = "api_tokens"

    name: str = Field(max_length=100)
    role: str = Field(max_length=16)
    digest: str = Field(max_length=64, unique=True)
    expires_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    revoked_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))

    __table_args__ = (
        CheckConstraint("role IN ('editor', 'admin')", name="role_known"),
        # One token in force per name; a revoked token's name may be given again, and the
        # revoked one stays listed (the change log names writers by name).
        Index(
            "uq_api_tokens_name_in_force",
            "name",
            unique=True,
            sqlite_where=text("revoked_at IS NULL"),
            postgresql_where=text("revoked_at IS NULL"),
        ),
        NEVER_REUSE_IDS,
    )


class Change(SQLModel, table=True):
    """One successful write, for the /changes feed. Append-only, so it has no version."""

    __tablename__ = "changes"

    id: int | None = Field(default=None, primary_key=True, sa_column_kwargs=NEVER_REUSED_ID)
    at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))
    actor: str = Field(max_length=100)
    action: str = Field(max_length=16)
    entity: str = Field(max_length=32)
    entity_id: int
    changes: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)

    __table_args__ = (
        CheckConstraint("action IN ('create', 'update', 'delete')", name="action_known"),
        Index("ix_changes_entity_entity_id", "entity", "entity_id"),
        NEVER_REUSE_IDS,
    )


class DataVersion(SQLModel, table=True):
    """One row counting committed writes: what cached statistics are keyed on.

    Every write transaction adds 1 (with its change-log entries), taking the row's lock until
    it commits, so the number only moves forward in commit order: a reader that sees version
    N sees every write up to N, in any worker or process.
    """

    __tablename__ = "data_version"

    id: int = Field(default=1, primary_key=True)
    version: int = Field(default=0, sa_type=BigInteger)


class IdempotencyKey(SQLModel, table=True):
    """A bulk request's Idempotency-Key and the answer to replay, stored in the transaction of
    the upload it answers: a key is here only if its writes are (app/bulk/idempotency.py).

    Kept in the database so a retry is recognised by any worker, after a restart too.
    """

    __tablename__ = "idempotency_keys"

    id: int | None = Field(default=None, primary_key=True)
    scope: str = Field(max_length=64, description="digest of token, method, path and query")
    key: str = Field(max_length=255)
    request_hash: str = Field(max_length=64)
    response_status: int
    response_body: str = Field(sa_type=Text)
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))
    expires_at: datetime = Field(sa_type=DateTime(timezone=True), index=True)

    __table_args__ = (UniqueConstraint("scope", "key"),)


# Core handles on the tables, for reads that fetch rows rather than ORM objects (cheaper, and
# typed for mypy, which cannot see SQLModel's __table__).
plans: Table = Plan.__table__  # type: ignore[attr-defined]
policies: Table = Policy.__table__  # type: ignore[attr-defined]
measures: Table = Measure.__table__  # type: ignore[attr-defined]
initiatives: Table = Initiative.__table__  # type: ignore[attr-defined]
evaluations: Table = Evaluation.__table__  # type: ignore[attr-defined]
reports: Table = Report.__table__  # type: ignore[attr-defined]
report_lines: Table = ReportLine.__table__  # type: ignore[attr-defined]
report_highlights: Table = ReportHighlight.__table__  # type: ignore[attr-defined]
api_tokens: Table = ApiToken.__table__  # type: ignore[attr-defined]
changes: Table = Change.__table__  # type: ignore[attr-defined]
data_version: Table = DataVersion.__table__  # type: ignore[attr-defined]
idempotency_keys: Table = IdempotencyKey.__table__  # type: ignore[attr-defined]
