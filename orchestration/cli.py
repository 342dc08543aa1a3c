"""`cew`: the warehouse's command line (generate demo data, run the pipeline, benchmark)."""

from __future__ import annotations

import os
import sys
from datetime import date, timedelta
from pathlib import Path

import click

from orchestration.settings import SETTINGS_DOC, load_settings


def _echo(message: str) -> None:
    click.echo(message, err=True)


# the generator's formats (orchestration.demo.generator.FORMAT_CHOICES, not imported here: numpy
# and pyarrow would load for every command)
FORMAT_OPTION = click.option(
    "--format",
    "fmt",
    type=click.Choice(["default", "csv", "jsonl", "parquet", "mixed"]),
    default="default",
    show_default=True,
    help="File format; default = JSONL for web/app events, CSV for the rest; mixed = random per source-day.",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
def cli() -> None:
    """Customer-engagement warehouse: landing files -> DuckDB -> dbt marts, run by Dagster.

    Settings come from CEW_* environment variables; `cew settings` lists them.
    """


@cli.command()
@click.option("--out", "out_dir", type=click.Path(path_type=Path), required=True, help="Landing folder to write.")
@click.option("--customers", type=click.IntRange(1), default=1000, show_default=True, help="Number of customers.")
@click.option("--days", type=click.IntRange(1), default=30, show_default=True, help="Number of business days.")
@click.option(
    "--start",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default="2026-01-01",
    show_default=True,
    help="First business day (YYYY-MM-DD).",
)
@click.option("--seed", type=int, default=42, show_default=True, help="Random seed: same seed, same files.")
@FORMAT_OPTION
@click.option(
    "--messiness",
    type=click.FloatRange(0, 1),
    default=0.0,
    show_default=True,
    help="Share of extra bad rows (every quarantine reason) and duplicates injected per file.",
)
@click.option(
    "--meta-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Where the manifest and latent truth go (default: <out>_meta beside the landing folder).",
)
def generate(
    out_dir: Path, customers: int, days: int, start, seed: int, fmt: str, messiness: float, meta_dir: Path | None
) -> None:
    """Write deterministic, realistic demo exports for all 14 sources."""
    from orchestration.demo.generator import generate as run_generator

    report = run_generator(
        out_dir=out_dir,
        customers=customers,
        days=days,
        start=start.date(),
        seed=seed,
        fmt=fmt,
        messiness=messiness,
        meta_dir=meta_dir,
        progress=_echo,
    )
    _echo(
        f"generated {report.total_rows:,} rows in {report.files_written:,} files in {report.seconds:.1f} s "
        f"({report.rows_per_second:,.0f} rows/s) -> {report.out_dir}; manifest and truth in {report.meta_dir}"
    )


def _resolve_days(landing: Path, day: str | None, from_day: str | None, to_day: str | None) -> list[date]:
    if day and (from_day or to_day):
        raise click.UsageError("use either --date or --from/--to")
    if day:
        return [date.fromisoformat(day)]
    if from_day or to_day:
        if not (from_day and to_day):
            raise click.UsageError("--from and --to go together")
        first, last = date.fromisoformat(from_day), date.fromisoformat(to_day)
        if last < first:
            raise click.UsageError("--to is before --from")
    else:
        from orchestration.ingestion.loader import landing_partitions

        found = {d for days in landing_partitions(landing).values() for d in days}
        if not found:
            raise click.ClickException(f"no landing files under {landing} (see docs/landing-contract.md)")
        first, last = min(found), max(found)
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


@cli.command()
@click.option("--landing", type=click.Path(path_type=Path), help="Landing folder [CEW_LANDING_DIR].")
@click.option("--warehouse", type=click.Path(path_type=Path), help="DuckDB warehouse file [CEW_WAREHOUSE_PATH].")
@click.option("--date", "day", help="Run one business day (YYYY-MM-DD).")
@click.option("--from", "from_day", help="First day of a range (with --to).")
@click.option("--to", "to_day", help="Last day of a range (with --from).")
@click.option(
    "--full-refresh", is_flag=True,
    help="Rebuild dbt's incremental models from all history (after a seed change, e.g. new engagement weights).",
)
@click.option("--retrain-churn", is_flag=True, help="Retrain the churn model even if a saved one is recent enough.")
def run(
    landing: Path | None, warehouse: Path | None, day: str | None, from_day: str | None, to_day: str | None,
    full_refresh: bool, retrain_churn: bool,
):
    """Materialise the whole asset graph (ingestion, dbt, Python assets) for the given days.

    Without --date/--from/--to it runs every day found in the landing folder. It uses the
    same Dagster definitions as the UI and the schedule; with DAGSTER_HOME set the run is
    recorded in that instance and shows in the UI.
    """
    if landing:
        os.environ["CEW_LANDING_DIR"] = str(landing.resolve())
    if warehouse:
        os.environ["CEW_WAREHOUSE_PATH"] = str(warehouse.resolve())
    from orchestration.settings import load_settings

    settings = load_settings()
    _require_pii_key(settings)
    if not settings.landing_dir.is_dir():
        raise click.ClickException(f"landing folder {settings.landing_dir} does not exist")
    days = _resolve_days(settings.landing_dir, day, from_day, to_day)
    from orchestration.pipeline import run_pipeline

    outcome = run_pipeline(days, log=_echo, full_refresh=full_refresh, retrain_churn=retrain_churn)
    if not outcome.success:
        for problem in outcome.problems:
            _echo(f"ERROR: {problem}")
        sys.exit(1)


def _require_pii_key(settings) -> None:
    from orchestration.settings import PiiKeyError, require_pii_key

    try:
        require_pii_key(settings)
    except PiiKeyError as exc:
        raise click.ClickException(f"refusing to start: {exc}") from exc


@cli.command()
@click.option("--customer-id", "customer_ids", multiple=True, help="A customer to erase (repeatable).")
@click.option("--file", "id_file", type=click.Path(path_type=Path, exists=True, dir_okay=False),
              help="A file of customer ids, one per line (# comments and blank lines skipped).")
@click.option("--warehouse", type=click.Path(path_type=Path), help="DuckDB warehouse file [CEW_WAREHOUSE_PATH].")
def erase(customer_ids: tuple[str, ...], id_file: Path | None, warehouse: Path | None) -> None:
    """Erase customers: delete their rows from raw, quarantine and every model, keep them out of
    later loads, and log it in ops.erasure_log (keyed hash, time, rows per table; no clear id)."""
    from orchestration.erasure import erase_customers, read_id_file

    settings = load_settings()
    _require_pii_key(settings)
    ids = [*customer_ids, *(read_id_file(id_file) if id_file else [])]
    if not ids:
        raise click.UsageError("give --customer-id and/or --file")
    path = warehouse or settings.warehouse_path
    if not Path(path).exists():
        raise click.ClickException(f"warehouse {path} does not exist")
    import duckdb

    try:
        reports = erase_customers(path, ids, settings.pii_hash_key)
    except duckdb.IOException as exc:  # another process (a run, the UI's run) holds the file
        raise click.ClickException(f"cannot open the warehouse for writing ({exc}): erase between runs") from exc
    for report in reports:
        tables = ", ".join(f"{t} {n}" for t, n in sorted(report.rows_removed.items())) or "no rows found"
        _echo(f"erased customer {report.customer_hash[:12]}… (erasure {report.erasure_id}): "
              f"{report.total} row(s) removed: {tables}")


@cli.command()
@click.option("--check", is_flag=True, help="Fail if a generated file is out of date instead of writing it.")
def codegen(check: bool) -> None:
    """Regenerate dbt sources.yml, docs/landing-contract.md and the README settings table from the catalog and settings."""
    from orchestration import codegen as cg

    if check:
        stale = cg.stale()
        if stale:
            raise click.ClickException("out of date (run `cew codegen`): " + ", ".join(map(str, stale)))
        _echo("generated files are up to date")
        return
    for path in cg.write_all():
        _echo(f"wrote {path}")


@cli.command(name="settings")
def show_settings() -> None:
    """List the settings (environment variables), their defaults and current values."""
    for name, (default, description) in SETTINGS_DOC.items():
        current = os.environ.get(name)
        value = f"{current} (set)" if current is not None else f"{default} (default)"
        click.echo(f"{name:28} {value:40} {description}")


@cli.command()
@click.option("--customers", type=click.IntRange(1), default=100_000, show_default=True)
@click.option(
    "--days", type=click.IntRange(2), default=90, show_default=True, help="Days; the last one is the incremental run."
)
@click.option("--seed", type=int, default=7, show_default=True)
@FORMAT_OPTION
@click.option(
    "--workdir",
    type=click.Path(path_type=Path),
    default=None,
    help="Where data goes (default: data/bench/<customers>x<days>[-<format>]; generated data is reused).",
)
@click.option("--results", type=click.Path(path_type=Path), default=None, help="Markdown file to append results to.")
def bench(customers: int, days: int, seed: int, fmt: str, workdir: Path | None, results: Path | None) -> None:
    """Benchmark: generate; full nightly of days 1..D-1 (ingest, dbt build, ML), then one incremental
    day D; rows/s, peak memory, size; bare DuckDB baseline."""
    from orchestration.bench import run_benchmark

    os.environ.setdefault("CEW_DEMO_MODE", "true")  # generated demo data: the demo PII key is fine
    run_benchmark(
        customers=customers, days=days, seed=seed, workdir=workdir, results_path=results, log=_echo, fmt=fmt
    )


def _warehouse_and_truth_options(command):
    """--warehouse and --truth: the commands that judge the warehouse against generated data."""
    command = click.option(
        "--truth",
        type=click.Path(path_type=Path, exists=True),
        required=True,
        help="The generator's truth_customers.parquet (in <landing>_meta/).",
    )(command)
    return click.option(
        "--warehouse", type=click.Path(path_type=Path, exists=True), help="DuckDB warehouse file [CEW_WAREHOUSE_PATH]."
    )(command)


@cli.command(name="engagement-report")
@_warehouse_and_truth_options
def engagement_report_command(warehouse: Path | None, truth: Path) -> None:
    """Band shares of the current engagement score and its ROC AUC against real churn (demo data)."""
    from orchestration.evaluation.engagement import engagement_report

    path = warehouse or load_settings().warehouse_path
    click.echo(engagement_report(path, truth).markdown())


@cli.command(name="engagement-calibrate")
@click.option("--warehouse", type=click.Path(path_type=Path, exists=True), help="DuckDB warehouse file [CEW_WAREHOUSE_PATH].")
@click.option("--out", type=click.Path(path_type=Path),
              help="Proposed weights CSV (the seed's format) [<warehouse dir>/proposals/engagement_event_weights-<date>.csv].")
@click.option("--force", is_flag=True, help="Overwrite --out if it exists.")
@click.option("--truth", type=click.Path(path_type=Path, exists=True),
              help="Demo data only: also report the AUC against the generator's truth (not used by the fit).")
def engagement_calibrate_command(warehouse: Path | None, out: Path | None, force: bool, truth: Path | None) -> None:
    """Fit the engagement event weights to the churn the warehouse observed; write a proposal to review.

    The proposal (CSV) and its review (the same name with .md: AUC before/after, band shares,
    changed weights) are new files; the seed in use is never touched: copy the CSV over
    seeds/engagement_event_weights.csv once reviewed, then `cew run --full-refresh`."""
    from orchestration.evaluation.engagement import calibrate_weights

    path = warehouse or load_settings().warehouse_path
    try:
        calibration = calibrate_weights(path, truth)
    except ValueError as error:
        raise click.ClickException(str(error)) from error
    out = out or Path(path).resolve().parent / "proposals" / f"engagement_event_weights-{calibration.as_of}.csv"
    review = out.with_suffix(".md")
    for target in (out, review):
        if target.exists() and not force:
            raise click.ClickException(f"{target} exists: pass --force to overwrite it, or another --out")
    out.parent.mkdir(parents=True, exist_ok=True)
    calibration.write_csv(out)
    review.write_text(calibration.markdown(), encoding="utf-8")
    click.echo(calibration.markdown())
    click.echo(f"proposed weights written to {out} (review: {review}); the seed in use is unchanged")


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
