"""Settings, read once from the environment (every field is an environment variable)."""

from functools import lru_cache
from urllib.parse import urlsplit

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class PublicOrigin:
    """scheme, host and port of PUBLIC_BASE_URL."""

    def __init__(self, base_url: str) -> None:
        parts = urlsplit(base_url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"PUBLIC_BASE_URL must be an http(s) origin, not {base_url!r}")
        if parts.path.strip("/") or parts.query or parts.fragment or parts.username:
            raise ValueError(
                "PUBLIC_BASE_URL is an origin only (https://host[:port]): the API is served"
                f" at the root of its host, not under a path ({base_url!r})"
            )
        self.scheme = parts.scheme
        self.host = parts.netloc.lower().encode("ascii")
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.hostname = parts.hostname


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    database_url: str = Field(
        "sqlite:///./plan_progress.db",
        description="SQLAlchemy URL; postgresql+psycopg://user@host/db for PostgreSQL.",
    )
    host: str = Field("127.0.0.1", description="Address `serve` listens on.")
    port: int = Field(8000, description="Port `serve` listens on.")
    max_body_bytes: int = Field(1024 * 1024, description="Largest body of an ordinary write.")
    max_bulk_body_bytes: int = Field(32 * 1024 * 1024, description="Largest bulk upload body.")
    max_header_bytes: int = Field(
        32 * 1024, description="Largest total size of a request's headers (more: 431)."
    )
    body_timeout: float = Field(
        30.0,
        gt=0,
        description="Seconds a request body may stop arriving before the request answers 408.",
    )
    default_license: str = Field(
        "CC-BY-4.0", description="Licence (SPDX id) of a plan that names none."
    )
    default_license_url: str = Field(
        "https://creativecommons.org/licenses/by/4.0/deed.ja", description="Its URL."
    )
    publisher_name: str = Field(
        "",
        description="Who publishes the catalogue: the operator of this service (each plan's"
        " data is published by its city). Empty: the catalogue names no publisher.",
    )
    publisher_url: str = Field(
        "", description="The publisher's home page (an absolute URL); empty: none."
    )
    catalog_keywords: str = Field(
        "",
        description="Comma-separated keywords every plan's catalogue entry adds to those taken"
        " from its data (its title and its city's name); empty: none.",
    )
    cors_origins: str = Field(
        "*", description="Comma-separated origins allowed to read cross-origin; `*` for any."
    )
    stats_cache_size: int = Field(
        512, description="Statistics answers kept per process (0: compute every time)."
    )
    answer_cache_bytes: int = Field(
        64 * 1024 * 1024,
        description="Bytes of public read answers kept per process, per data version"
        " (0: none; see app/web/caching.py).",
    )
    answer_cache_item_bytes: int = Field(1024 * 1024, description="Largest single answer kept.")
    row_cache_bytes: int = Field(
        32 * 1024 * 1024,
        description="Bytes of initiatives' JSON objects kept per process, each under its id and"
        " version, for the reads kept answers do not serve (0: none; see app/kept_rows.py).",
    )
    write_rate_limit: str = Field(
        "",
        description="Writes each token may make, as N/SECONDS (e.g. 600/60); empty: no limit."
        " Beyond it: 429 with Retry-After (see app/web/ratelimit.py).",
    )
    public_base_url: str = Field(
        "",
        description="The canonical origin (e.g. https://data.example.jp) of every absolute URL"
        " the service writes (Link, Location, catalogue, datapackage). Empty: the request's own"
        " scheme and host, which then take part in every kept answer's key and ETag.",
    )
    allowed_hosts: str = Field(
        "*",
        description="Comma-separated host names the service answers to (`*.example.jp` for"
        " subdomains); any other Host header answers 400. `*`: any.",
    )
    forwarded_allow_ips: str = Field(
        "",
        description="Comma-separated addresses of the proxies whose X-Forwarded-For and"
        " X-Forwarded-Proto are believed (`*` for any). Empty: nobody's.",
    )
    shared_cache_max_age: int = Field(
        0,
        ge=0,
        description="Seconds a shared cache (a CDN) may keep a public read (s-maxage)."
        " Browsers revalidate every read with its ETag either way.",
    )
    log_format: str = Field(
        "text",
        pattern="^(text|json)$",
        description="`json`: one JSON object per log line (the image's default); `text`: readable.",
    )
    metrics: str = Field(
        "on", pattern="^(on|off)$", description="`off`: no /metrics (it answers 404)."
    )
    opentelemetry: str = Field(
        "off",
        pattern="^(on|off)$",
        description="`on`: FastAPI's OpenTelemetry spans, metrics and logs of each request, to"
        " the providers an OpenTelemetry SDK set up in the process. Off, no request asks"
        " whether one was (bench/README.md).",
    )
    metrics_token: str = Field(
        "", description="When set, /metrics asks for `Authorization: Bearer <this>`."
    )
    seed_file: str = Field(
        "",
        description="The plan file `serve` loads into an empty database and `seed` loads (see"
        " seed/README.md): empty for Kanazawa's plan, shipped with the service; `none` for"
        " none (a city's own plan comes later, with `seed --file`).",
    )
    shutdown_timeout: int = Field(
        30,
        ge=0,
        description="Seconds `serve` lets requests in flight finish after SIGTERM before"
        " closing them.",
    )
    db_pool_size: int = Field(10, description="PostgreSQL connection pool size.")
    db_connect_timeout: int = Field(
        3,
        ge=1,
        description="Seconds to wait for a PostgreSQL connection (a new one, or one from a"
        " full pool) before answering 503.",
    )
    db_statement_timeout_ms: int = Field(
        30_000, ge=0, description="Longest a PostgreSQL statement may run (0: no limit)."
    )
    sqlite_busy_timeout_ms: int = Field(5000, description="How long SQLite waits for a lock.")
    chromium: str = Field(
        "",
        description="The Chromium (or Chrome) that prints a report as PDF"
        " (/plans/{id}/report/{year}.pdf). Empty: `chromium`, `chromium-browser`,"
        " `google-chrome` found on PATH; none found: the PDF answers 503.",
    )
    pdf_timeout: float = Field(
        60.0, gt=0, description="Seconds Chromium may take to print a report before 503."
    )
    sqlite_max_page_count: int = Field(
        0,
        ge=0,
        description="For tests of a full disk: the most pages the SQLite file may grow to"
        " (PRAGMA max_page_count); 0: no limit but the disk's.",
    )

    @field_validator("database_url")
    @classmethod
    def _with_a_driver(cls, value: str) -> str:
        """Hosting platforms give `postgres://` or `postgresql://` URLs: use psycopg 3."""
        for scheme in ("postgres://", "postgresql://"):
            if value.startswith(scheme):
                return "postgresql+psycopg://" + value.removeprefix(scheme)
        return value

    @field_validator("public_base_url")
    @classmethod
    def _an_origin(cls, value: str) -> str:
        """PUBLIC_BASE_URL is an http(s) origin; checked at startup (app/web/edge.py)."""
        value = value.strip().rstrip("/")
        if value:
            PublicOrigin(value)
        return value

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def db_answer_timeout(self) -> float | None:
        """Seconds a PostgreSQL read may go unanswered before its connection is taken for
        gone (503): the statement timeout, after which the server itself would have answered
        with an error, and the connect timeout on top. None when statements have no limit."""
        if not self.db_statement_timeout_ms:
            return None
        return self.db_statement_timeout_ms / 1000 + self.db_connect_timeout

    @property
    def allowed_host_list(self) -> list[str]:
        return [host.strip().lower() for host in self.allowed_hosts.split(",") if host.strip()]

    @property
    def cors_origin_list(self) -> list[str]:
        return [origin.strip() for origin in self.cors_origins.split(",") if origin.strip()]


@lru_cache
def get_settings() -> Settings:
    return Settings()
