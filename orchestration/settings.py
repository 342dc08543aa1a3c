"""Settings from environment variables, with documented defaults.

Every knob a user turns lives here; the README's "Settings" table is generated from
``SETTINGS_DOC`` so that docs and code cannot drift.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"
DATA_DIR = REPO_ROOT / "data"
ENGINES = ("duckdb", "postgres", "spark")

# name -> (default, description)
SETTINGS_DOC: dict[str, tuple[str, str]] = {
    "CEW_LANDING_DIR": ("data/landing", "Landing zone: one folder per source, files named by business day."),
    "CEW_WAREHOUSE_PATH": ("data/warehouse.duckdb", "DuckDB warehouse file the pipeline writes."),
    "CEW_PUBLISHED_PATH": ("", "Read-only copy of the public marts for BI tools and the dashboard, replaced whole after each successful run; empty = <warehouse dir>/published/cew_marts.duckdb (its catalog name must not be a schema name such as marts)."),
    "CEW_REPORTING_CURRENCY": ("USD", "ISO 4217 currency all money is reported in."),
    "CEW_REPORTING_TIMEZONE": ("UTC", "Time zone that defines days, weeks and months of the marts."),
    "CEW_PII_HASH_KEY": ("change-me", "Secret key of the keyed hash that pseudonymises customers; a run refuses the default outside demo mode."),
    "CEW_DEMO_MODE": ("false", "true = demo data (`make run`, `make dev`, `cew bench`, the tests): the default PII key is accepted."),
    "CEW_ACTIVE_WINDOW_DAYS": ("90", "A customer with a completed order in this many days is active."),
    "CEW_ENGAGEMENT_WINDOW_DAYS": ("30", "Trailing window of the engagement score, days."),
    "CEW_ENGAGEMENT_DECAY_HALF_LIFE_DAYS": ("", "Optional half-life (days) of an exponential decay of event weights in the score; empty = no decay."),
    "CEW_ENGAGEMENT_DROP_SHARE": ("0.3", "Week-over-week fall of the engagement score (share, 0.3 = 30%) that raises score_drop_alert."),
    "CEW_CHURN_HORIZON_DAYS": ("90", "Churn label horizon, days."),
    "CEW_CHURN_SNAPSHOT_STEP_DAYS": ("7", "Days between the past snapshots the churn model learns from (counted back from the run date)."),
    "CEW_CHURN_MAX_TRAIN_ROWS": ("200000", "Most labelled rows the churn model trains on: above it, a sample of whole customers (by a hash of their id); evaluation and scoring still cover everyone. 0 = no cap."),
    "CEW_CHURN_RETRAIN_DAYS": ("7", "Retrain the churn model when the newest saved one is this many days old (or the features changed); in between, runs load it and only score. 0 = retrain every run."),
    "CEW_CLV_ANNUAL_DISCOUNT_RATE": ("0.1", "Yearly discount rate of the 12-month probabilistic CLV (0 = undiscounted)."),
    "CEW_CLV_MAX_LIFESPAN_YEARS": ("10", "Cap of the expected customer lifespan (years) in the simple CLV."),
    "CEW_SURVEY_FATIGUE_INVITATIONS": ("3", "A customer with more survey invitations than this in 30 days is flagged as fatigued."),
    "CEW_ALERT_WEBHOOK_URL": ("", "POST new metric alerts as JSON to this URL (empty = off)."),
    "CEW_ALERT_SMTP_HOST": ("", "SMTP server for alert e-mails (empty = off)."),
    "CEW_ALERT_SMTP_PORT": ("25", "SMTP port."),
    "CEW_ALERT_SMTP_USER": ("", "SMTP login (empty = none)."),
    "CEW_ALERT_SMTP_PASSWORD": ("", "SMTP password."),
    "CEW_ALERT_SMTP_STARTTLS": ("false", "Use STARTTLS on the SMTP connection."),
    "CEW_ALERT_EMAIL_FROM": ("warehouse@localhost", "Sender of alert e-mails."),
    "CEW_ALERT_EMAIL_TO": ("", "Comma-separated recipients of alert e-mails."),
    "CEW_ENGINE": ("duckdb", "Engine the marts are built on and the ML assets read and write: duckdb, postgres or spark (the dbt target of profiles.yml). Ingestion validates in the DuckDB file, then copies the raw tables to the engine."),
    "CEW_PG_HOST": ("", "PostgreSQL host (CEW_ENGINE=postgres); empty = $PGHOST, else 127.0.0.1."),
    "CEW_PG_PORT": ("", "PostgreSQL port; empty = $PGPORT, else 5432."),
    "CEW_PG_USER": ("", "PostgreSQL user; empty = $PGUSER, else postgres."),
    "CEW_PG_PASSWORD": ("", "PostgreSQL password; empty = $PGPASSWORD."),
    "CEW_PG_DATABASE": ("", "PostgreSQL database; empty = $PGDATABASE, else warehouse."),
    "CEW_SPARK_DIR": ("data/spark", "Spark engine (CEW_ENGINE=spark): folder of its Parquet tables, the raw Parquet files and the local metastore."),
    "CEW_DUCKDB_THREADS": ("", "Threads of each DuckDB query (ingestion, dbt, ML) and of the churn model's trees from 50,000 customers; empty = the machine's cores."),
    "CEW_DUCKDB_MEMORY_LIMIT": ("6GiB", "DuckDB memory limit (e.g. 6GiB, 500MB); past it, big joins and sorts spill to disk."),
    "CEW_DBT_THREADS": ("2", "dbt models built at once (DuckDB and PostgreSQL). On DuckDB they share one memory limit: 1 for about 1M customers and up, where two big models at once run out of memory."),
    "CEW_START_DATE": ("2026-01-01", "First day of the daily partitions."),
    "CEW_SCHEDULE_ENABLED": ("false", "Start the nightly schedule and landing sensor switched on in the UI."),
}


def _get(name: str) -> str:
    return os.environ.get(name, SETTINGS_DOC[name][0])


def _engine() -> str:
    engine = _get("CEW_ENGINE").strip().lower()
    if engine not in ENGINES:
        raise ValueError(f"CEW_ENGINE={engine!r}: expected one of {', '.join(ENGINES)}")
    return engine


def _pg(part: str, default: str) -> str:
    """CEW_PG_<part>, else libpq's own PG<part> (PGDATABASE ...), else the default."""
    return os.environ.get(f"CEW_PG_{part}") or os.environ.get(f"PG{part}") or default


def _path(name: str) -> Path:
    path = Path(_get(name)).expanduser()
    return path if path.is_absolute() else (REPO_ROOT / path)


@dataclass(frozen=True)
class Settings:
    landing_dir: Path = field(default_factory=lambda: _path("CEW_LANDING_DIR"))
    warehouse_path: Path = field(default_factory=lambda: _path("CEW_WAREHOUSE_PATH"))
    # beside the warehouse by default, so a test's or bench's warehouse publishes into its own folder
    published_path: Path = field(
        default_factory=lambda: _path("CEW_PUBLISHED_PATH") if _get("CEW_PUBLISHED_PATH") else
        _path("CEW_WAREHOUSE_PATH").parent / "published" / "cew_marts.duckdb"
    )
    reporting_currency: str = field(default_factory=lambda: _get("CEW_REPORTING_CURRENCY").upper())
    reporting_timezone: str = field(default_factory=lambda: _get("CEW_REPORTING_TIMEZONE"))
    pii_hash_key: str = field(default_factory=lambda: _get("CEW_PII_HASH_KEY"))
    demo_mode: bool = field(default_factory=lambda: _get("CEW_DEMO_MODE").strip().lower() in ("1", "true", "yes"))
    active_window_days: int = field(default_factory=lambda: int(_get("CEW_ACTIVE_WINDOW_DAYS")))
    engagement_window_days: int = field(default_factory=lambda: int(_get("CEW_ENGAGEMENT_WINDOW_DAYS")))
    engagement_decay_half_life_days: str = field(default_factory=lambda: _get("CEW_ENGAGEMENT_DECAY_HALF_LIFE_DAYS"))
    engagement_drop_share: float = field(default_factory=lambda: float(_get("CEW_ENGAGEMENT_DROP_SHARE")))
    churn_horizon_days: int = field(default_factory=lambda: int(_get("CEW_CHURN_HORIZON_DAYS")))
    churn_snapshot_step_days: int = field(default_factory=lambda: int(_get("CEW_CHURN_SNAPSHOT_STEP_DAYS")))
    churn_max_train_rows: int | None = field(default_factory=lambda: int(_get("CEW_CHURN_MAX_TRAIN_ROWS") or 0) or None)
    churn_retrain_days: int = field(default_factory=lambda: int(_get("CEW_CHURN_RETRAIN_DAYS") or 0))
    clv_annual_discount_rate: float = field(default_factory=lambda: float(_get("CEW_CLV_ANNUAL_DISCOUNT_RATE")))
    clv_max_lifespan_years: float = field(default_factory=lambda: float(_get("CEW_CLV_MAX_LIFESPAN_YEARS")))
    survey_fatigue_invitations: int = field(default_factory=lambda: int(_get("CEW_SURVEY_FATIGUE_INVITATIONS")))
    alert_webhook_url: str = field(default_factory=lambda: _get("CEW_ALERT_WEBHOOK_URL"))
    alert_smtp_host: str = field(default_factory=lambda: _get("CEW_ALERT_SMTP_HOST"))
    alert_smtp_port: int = field(default_factory=lambda: int(_get("CEW_ALERT_SMTP_PORT")))
    alert_smtp_user: str = field(default_factory=lambda: _get("CEW_ALERT_SMTP_USER"))
    alert_smtp_password: str = field(default_factory=lambda: _get("CEW_ALERT_SMTP_PASSWORD"))
    alert_smtp_starttls: bool = field(default_factory=lambda: _get("CEW_ALERT_SMTP_STARTTLS").lower() in ("1", "true", "yes"))
    alert_email_from: str = field(default_factory=lambda: _get("CEW_ALERT_EMAIL_FROM"))
    alert_email_to: str = field(default_factory=lambda: _get("CEW_ALERT_EMAIL_TO"))
    engine: str = field(default_factory=lambda: _engine())
    pg_host: str = field(default_factory=lambda: _pg("HOST", "127.0.0.1"))
    pg_port: int = field(default_factory=lambda: int(_pg("PORT", "5432")))
    pg_user: str = field(default_factory=lambda: _pg("USER", "postgres"))
    pg_password: str = field(default_factory=lambda: _pg("PASSWORD", ""))
    pg_database: str = field(default_factory=lambda: _pg("DATABASE", "warehouse"))
    spark_dir: Path = field(default_factory=lambda: _path("CEW_SPARK_DIR"))
    duckdb_threads: int = field(default_factory=lambda: int(_get("CEW_DUCKDB_THREADS") or os.cpu_count() or 1))
    duckdb_memory_limit: str = field(default_factory=lambda: _get("CEW_DUCKDB_MEMORY_LIMIT"))
    dbt_threads: int = field(default_factory=lambda: int(_get("CEW_DBT_THREADS")))
    start_date: str = field(default_factory=lambda: _get("CEW_START_DATE"))
    schedule_enabled: bool = field(
        default_factory=lambda: _get("CEW_SCHEDULE_ENABLED").lower() in ("1", "true", "yes")
    )

    def dbt_env(self) -> dict[str, str]:
        """Environment dbt reads through env_var() in profiles.yml and dbt_project.yml."""
        return {
            "CEW_WAREHOUSE_PATH": str(self.warehouse_path),
            "CEW_REPORTING_CURRENCY": self.reporting_currency,
            "CEW_REPORTING_TIMEZONE": self.reporting_timezone,
            "CEW_PII_HASH_KEY": self.pii_hash_key,
            "CEW_ACTIVE_WINDOW_DAYS": str(self.active_window_days),
            "CEW_ENGAGEMENT_WINDOW_DAYS": str(self.engagement_window_days),
            "CEW_ENGAGEMENT_DECAY_HALF_LIFE_DAYS": self.engagement_decay_half_life_days,
            "CEW_ENGAGEMENT_DROP_SHARE": str(self.engagement_drop_share),
            "CEW_CHURN_HORIZON_DAYS": str(self.churn_horizon_days),
            "CEW_SURVEY_FATIGUE_INVITATIONS": str(self.survey_fatigue_invitations),
            "CEW_DUCKDB_THREADS": str(self.duckdb_threads),
            "CEW_DUCKDB_MEMORY_LIMIT": self.duckdb_memory_limit,
            "CEW_DBT_THREADS": str(self.dbt_threads),
            **self.engine_env(),
        }

    def engine_env(self) -> dict[str, str]:
        """The dbt target (profiles.yml) and its connection, resolved (PG* fallbacks applied)."""
        return {
            "CEW_ENGINE": self.engine,
            "CEW_PG_HOST": self.pg_host,
            "CEW_PG_PORT": str(self.pg_port),
            "CEW_PG_USER": self.pg_user,
            "CEW_PG_PASSWORD": self.pg_password,
            "CEW_PG_DATABASE": self.pg_database,
            "CEW_SPARK_DIR": str(self.spark_dir),
        }

    @property
    def dbt_target(self) -> str:
        return self.engine

    def duckdb_config(self) -> dict[str, str | int | bool]:
        """DuckDB settings of every connection the pipeline opens (dbt's come from profiles.yml).
        The allocator's background threads return freed memory to the system: without them a
        process keeps the peak of its earlier queries (ingestion, the churn features) resident
        while pandas and the model need memory of their own."""
        return {"threads": self.duckdb_threads, "memory_limit": self.duckdb_memory_limit,
                "allocator_background_threads": True}


def load_settings() -> Settings:
    return Settings()


DEMO_PII_HASH_KEY = SETTINGS_DOC["CEW_PII_HASH_KEY"][0]


class PiiKeyError(RuntimeError):
    """The PII hash key is the public demo key (or empty) outside demo mode."""


def require_pii_key(settings: Settings | None = None) -> None:
    """Refuse to work on real data with the demo key: anyone could recompute every customer_key."""
    settings = settings or load_settings()
    if settings.demo_mode or settings.pii_hash_key not in ("", DEMO_PII_HASH_KEY):
        return
    raise PiiKeyError(
        f"CEW_PII_HASH_KEY is {'empty' if not settings.pii_hash_key else 'the demo key ' + repr(DEMO_PII_HASH_KEY)}: "
        "set it to a long random secret (e.g. `python -c 'import secrets; print(secrets.token_hex(32))'`) and keep it "
        "(every customer_key and the erasure list depend on it), or set CEW_DEMO_MODE=true for demo data"
    )
