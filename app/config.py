"""Settings, read once from the environment (every field is an environment variable)."""

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


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
    cors_origins: str = Field(
        "*", description="Comma-separated origins allowed to read cross-origin; `*` for any."
    )
    stats_cache_size: int = Field(
        512, description="Statistics answers kept per process (0: compute every time)."
    )
    answer_cache_bytes: int = Field(
        64 * 1024 * 1024,
        description="Bytes of public read answers kept per process, per data version"
        " (0: none; see app/answers.py).",
    )
    answer_cache_item_bytes: int = Field(1024 * 1024, description="Largest single answer kept.")
    write_rate_limit: str = Field(
        "",
        description="Writes each token may make, as N/SECONDS (e.g. 600/60); empty: no limit."
        " Beyond it: 429 with Retry-After (see app/ratelimit.py).",
    )
    db_pool_size: int = Field(10, description="PostgreSQL connection pool size.")
    sqlite_busy_timeout_ms: int = Field(5000, description="How long SQLite waits for a lock.")

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def cors_origin_list(self) -> list[str]:
        return [origin.strip() for origin in self.cors_origins.split(",") if origin.strip()]


@lru_cache
def get_settings() -> Settings:
    return Settings()
