"""`cew bench`: time and measure generate -> full nightly -> one incremental day, beside a bare
DuckDB baseline.

The last generated day D is held back. The full nightly ingests days 1..D-1, runs the whole
``dbt build`` and the ML (CLV, churn); the incremental day then ingests day D and runs dbt and
the ML for day D alone, as the nightly schedule does every night (the churn model retrained
or, within ``CEW_CHURN_RETRAIN_DAYS``, reused, as the churn asset does). Ingestion runs
:func:`load_source_days` (the code of the Dagster ingestion assets, which load a range of
partitions in one step) and dbt runs as the same ``dbt build`` subprocess with the same
``BUILD_ARGS`` and ``run_env``, so the figures are those of real runs without Dagster's
bookkeeping. Results are appended to ``benchmarks/results.md``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import date, datetime
from importlib import metadata
from pathlib import Path
from typing import Callable

import duckdb
import psutil

from orchestration.catalog import SOURCES, Source
from orchestration.dbt.project import BUILD_ARGS, run_env
from orchestration.settings import DATA_DIR, DBT_PROJECT_DIR, REPO_ROOT, load_settings

GIB = 1024**3
MIB = 1024**2
START = date(2026, 1, 1)
FORMAT_READERS = {
    "csv": "read_csv({files}{options})",
    "jsonl": "read_json({files}, format='newline_delimited'{options})",
    "parquet": "read_parquet({files}{options})",
}
# Targets of the issue: ingestion at least half the bare baseline's rows/s; at 1M customers
# and ~100M events, the full nightly (ingest + dbt build + ML) within 15 minutes and 8 GiB on a
# 2-core machine, and one incremental day within 10% of the full nightly.
TARGET_RATIO = 0.5
TARGET_SECONDS = 15 * 60
TARGET_PEAK_GIB = 8.0
TARGET_EVENTS = 100_000_000
TARGET_DAY_SHARE = 0.10
FULL_STAGES = ("ingest", "dbt build", "clv fit", "churn train + score")
DAY_STAGES = tuple(f"day D {name}" for name in FULL_STAGES)
SLOWEST_NODES = 10
BASELINE_PASSES = 2  # the bare baseline's reads run this often; the fastest counts
MARKER = "generated.json"  # in the workdir: parameters and figures of the generated data
DBT_PROGRESS = re.compile(r"\d+ of \d+ (OK|ERROR|FAIL|WARN)")


# --------------------------------------------------------------------------- memory and CPU


class MemorySampler:
    """Peak RSS of this process plus all its children (dbt, the generator), per stage.

    Sampled every ``interval`` seconds from a background thread: short spikes between two
    samples are missed, which is fine for figures reported in tenths of a GiB."""

    def __init__(self, interval: float = 0.2):
        self.interval = interval
        self.stage_peak = 0
        self.overall_peak = 0
        self._me = psutil.Process()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="bench-memory", daemon=True)

    def rss(self) -> int:
        total = self._me.memory_info().rss
        for child in self._me.children(recursive=True):
            try:
                total += child.memory_info().rss
            except psutil.Error:  # the child ended between listing and reading
                pass
        return total

    def sample(self) -> int:
        value = self.rss()
        with self._lock:
            self.stage_peak = max(self.stage_peak, value)
            self.overall_peak = max(self.overall_peak, value)
        return value

    def start_stage(self) -> None:
        with self._lock:
            self.stage_peak = 0
        self.sample()

    def end_stage(self) -> int:
        self.sample()
        return self.stage_peak

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def __enter__(self) -> "MemorySampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def _cpu_seconds() -> tuple[float, float, float]:
    """(wall clock, busy CPU seconds of the machine, CPU seconds of this process and its
    waited-for children)."""
    machine = psutil.cpu_times()
    busy = sum(machine) - machine.idle - getattr(machine, "iowait", 0.0)
    own = psutil.Process().cpu_times()
    return time.monotonic(), busy, own.user + own.system + own.children_user + own.children_system


def _others_cpu_share(start: tuple[float, float, float], end: tuple[float, float, float]) -> float:
    wall = (end[0] - start[0]) * (os.cpu_count() or 1)
    others = (end[1] - start[1]) - (end[2] - start[2])
    return min(1.0, max(0.0, others / wall)) if wall > 0 else 0.0


# --------------------------------------------------------------------------- results


@dataclass
class Stage:
    name: str
    seconds: float = 0.0
    rows: int = 0
    peak_bytes: int = 0
    ok: bool = True
    note: str = ""

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


@dataclass
class DbtFacts:
    """What one ``dbt build`` left in its run_results.json."""

    statuses: dict[str, int] = field(default_factory=dict)
    slowest_nodes: list[tuple[str, float, str]] = field(default_factory=list)


@dataclass
class BenchResult:
    customers: int
    days: int
    seed: int
    workdir: Path
    started_at: datetime
    fmt: str = "default"
    stages: dict[str, Stage] = field(default_factory=dict)
    generation_reused: bool = False
    landing_rows: int = 0  # rows ingestion read, all days: the run's event count
    landing_files: int = 0
    first_day: date | None = None
    previous_day: date | None = None  # the last day of the full nightly
    last_day: date | None = None  # day D, held back for the incremental run
    ingest_failures: list[str] = field(default_factory=list)
    warehouse_mib: float = 0.0
    raw_tables: list[tuple[str, int]] = field(default_factory=list)
    dbt_runs: dict[str, DbtFacts] = field(default_factory=dict)  # by stage name
    dbt_problems: list[str] = field(default_factory=list)
    ingest_by_source: dict[str, tuple[int, float]] = field(default_factory=dict)  # rows, seconds
    baseline_by_source: list[tuple[str, str, int, float]] = field(default_factory=list)  # + format
    threads: int = 0
    overall_peak_bytes: int = 0
    # Share of the machine's CPU that other processes used during the run: when high, the
    # timings are inflated and not comparable with runs on a quiet machine.
    others_cpu_share: float = 0.0

    @property
    def ratio(self) -> float:
        base = self.stages["baseline"].rows_per_second
        return self.stages["ingest"].rows_per_second / base if base else 0.0

    def total(self, name: str, stages: tuple[str, ...]) -> Stage:
        """A row summing ``stages``: seconds added, rows those of their ingestion, the highest peak."""
        parts = [self.stages[s] for s in stages]
        return Stage(name, sum(p.seconds for p in parts), parts[0].rows, max(p.peak_bytes for p in parts),
                     all(p.ok for p in parts))

    @property
    def full(self) -> Stage:
        return self.total("full nightly", FULL_STAGES)

    @property
    def day(self) -> Stage:
        return self.total("incremental day D", DAY_STAGES)

    @property
    def projected_seconds(self) -> float:
        """The full nightly scaled linearly to the target's 100M events (never scaled down)."""
        rows = self.full.rows
        return self.full.seconds * (max(1.0, TARGET_EVENTS / rows) if rows else 1.0)

    @property
    def day_share(self) -> float:
        full = self.full.seconds
        return self.day.seconds / full if full else 0.0

    @property
    def baseline_factor(self) -> float:
        """Time per row of the full nightly over that of the bare baseline."""
        base = self.stages["baseline"].rows_per_second
        return base / self.full.rows_per_second if self.full.rows_per_second else 0.0

    @property
    def peak_bytes(self) -> int:
        return max(self.full.peak_bytes, self.day.peak_bytes)


# --------------------------------------------------------------------------- stages


def _generate_main() -> None:
    """Entry point of the generator child process (see :func:`_generate`)."""
    from orchestration.demo.generator import generate

    args = json.loads(sys.argv[1])
    report = generate(
        out_dir=Path(args["out_dir"]),
        customers=args["customers"],
        days=args["days"],
        start=date.fromisoformat(args["start"]),
        seed=args["seed"],
        fmt=args["format"],
        meta_dir=Path(args["meta_dir"]),
        progress=lambda message: print(message, flush=True),
    )
    fields = {k: (str(v) if isinstance(v, Path) else v) for k, v in dataclasses.asdict(report).items()}
    Path(args["report_path"]).write_text(json.dumps(fields), encoding="utf-8")


def _generator_fingerprint() -> str:
    """Hash of the generator's source: a changed generator writes other data, never reused."""
    digest = hashlib.sha256()
    for path in sorted((REPO_ROOT / "orchestration" / "demo").glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def _parameters(customers: int, days: int, seed: int, fmt: str = "default") -> dict:
    return {
        "customers": customers,
        "days": days,
        "seed": seed,
        "format": fmt,
        "start": START.isoformat(),
        "generator": _generator_fingerprint(),
    }


def _reusable_generation(workdir: Path, wanted: dict) -> dict | None:
    """The marker's record when ``<workdir>/landing`` holds data generated with ``wanted``.

    The marker is written only after a generation completed, so an interrupted one is
    never reused."""
    marker = workdir / MARKER
    if not (marker.is_file() and (workdir / "landing").is_dir()):
        return None
    recorded = json.loads(marker.read_text(encoding="utf-8"))
    return recorded if {k: recorded.get(k) for k in wanted} == wanted else None


def _generate(workdir: Path, customers: int, days: int, seed: int, fmt: str, stage: Stage, log) -> bool:
    """Generate the landing files unless the marker says they exist for these parameters.

    Returns whether existing data was reused. The generator runs in a child process so that
    the memory it used is given back to the OS before ingestion is measured."""
    landing, meta = workdir / "landing", workdir / "landing_meta"
    wanted = _parameters(customers, days, seed, fmt)
    recorded = _reusable_generation(workdir, wanted)
    if recorded:
        stage.seconds, stage.rows = recorded["report"]["seconds"], recorded["report"]["total_rows"]
        stage.peak_bytes = recorded.get("peak_bytes", 0)
        stage.note = f"reused data generated {recorded.get('generated_at', '?')}"
        log(f"generate: reusing {landing} ({stage.rows:,} rows, generated {recorded.get('generated_at', '?')})")
        return True
    # Different or unknown parameters: start from empty folders so no stale file is ingested.
    (workdir / MARKER).unlink(missing_ok=True)
    for folder in (landing, meta):
        shutil.rmtree(folder, ignore_errors=True)
    workdir.mkdir(parents=True, exist_ok=True)
    report_path = workdir / "generation_report.json"
    args = {**wanted, "out_dir": str(landing), "meta_dir": str(meta), "report_path": str(report_path)}
    log(f"generate: {customers:,} customers x {days} days (seed {seed}, format {fmt}) -> {landing}")
    proc = subprocess.Popen(
        [sys.executable, "-c", "from orchestration.bench import _generate_main; _generate_main()", json.dumps(args)],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    for line in proc.stdout:
        log(f"  {line.rstrip()}")
    if proc.wait() != 0:
        raise RuntimeError(f"demo-data generation failed (exit code {proc.returncode}); see the output above")
    report = json.loads(report_path.read_text(encoding="utf-8"))
    report_path.unlink()
    stage.seconds, stage.rows = report["seconds"], report["total_rows"]
    return False


def _write_marker(workdir: Path, customers: int, days: int, seed: int, fmt: str, stage: Stage) -> None:
    marker = {
        **_parameters(customers, days, seed, fmt),
        "generated_at": datetime.now().isoformat(timespec="seconds"),
        "peak_bytes": stage.peak_bytes,
        "report": {"seconds": stage.seconds, "total_rows": stage.rows},
    }
    (workdir / MARKER).write_text(json.dumps(marker, indent=2), encoding="utf-8")


def _split_days(landing: Path, result: BenchResult) -> tuple[dict[str, list[date]], dict[str, list[date]]]:
    """The source-days of days 1..D-1 and those of day D, the newest day found (held back)."""
    from orchestration.ingestion.loader import landing_partitions

    partitions = landing_partitions(landing)
    all_days = sorted({d for days in partitions.values() for d in days})
    if len(all_days) < 2:
        raise RuntimeError(f"the bench needs landing files of at least 2 days under {landing}")
    result.first_day, result.previous_day, result.last_day = all_days[0], all_days[-2], all_days[-1]
    before = {s: sorted(d for d in days if d < result.last_day) for s, days in partitions.items()}
    on_last = {s: [result.last_day] for s, days in partitions.items() if result.last_day in days}
    return before, on_last


def _ingest(landing: Path, warehouse: Path, partitions: dict[str, list[date]], result: BenchResult, stage: Stage,
            log) -> dict[str, tuple[int, float]]:
    """Load these source-days into the warehouse; returns rows and seconds per source."""
    from orchestration.ingestion.loader import load_source_days
    from orchestration.resources import WarehouseResource

    days = sorted({d for ds in partitions.values() for d in ds})
    log(f"{stage.name}: {sum(map(len, partitions.values()))} source-days, {days[0]}..{days[-1]} -> {warehouse}")
    by_source, failures = {}, len(result.ingest_failures)
    started = time.perf_counter()
    # the connection set-up of the Dagster assets (WarehouseResource), one source at a time
    with WarehouseResource(path=str(warehouse)).connect() as con:
        result.threads = int(con.execute("SELECT current_setting('threads')").fetchone()[0])
        for source in SOURCES:
            if not partitions.get(source.name):
                continue
            source_started, rows = time.perf_counter(), 0
            # all days of the source in one call, as the asset loads a range of partitions
            for day_result in load_source_days(con, landing, source.name, partitions[source.name], load_id="bench"):
                rows += day_result.rows_read
                result.landing_files += len(day_result.files)
                if day_result.status == "failed":
                    result.ingest_failures.append(day_result.error or f"{source.name} {day_result.partition_date}")
            stage.rows += rows
            by_source[source.name] = (rows, time.perf_counter() - source_started)
            log(f"  {source.name}: {rows:,} rows in {by_source[source.name][1]:.1f} s")
    stage.seconds = time.perf_counter() - started
    result.landing_rows += stage.rows
    if len(result.ingest_failures) > failures:
        stage.ok = False
        stage.note = f"{len(result.ingest_failures) - failures} source-day(s) failed"
    return by_source


def _ml(warehouse: Path, as_of: date, clv_stage: Stage, churn_stage: Stage, log) -> None:
    """The ML assets' code on the built warehouse (rows = customers fitted / scored). Nothing is
    written to schema ml; the churn model is saved under the bench's workdir."""
    import duckdb

    from orchestration.ml.churn import train_and_score
    from orchestration.ml.clv import compute_clv

    settings = load_settings()
    try:
        with duckdb.connect(str(warehouse), config=settings.duckdb_config()) as con:
            started = time.perf_counter()
            clv = compute_clv(con, as_of, active_window_days=settings.active_window_days)
            clv_stage.seconds = time.perf_counter() - started
            clv_stage.rows = len(clv.customers)
            bg = clv.run_row("bgnbd")
            clv_stage.note = f"BG/NBD fit {(bg.get('fit_seconds') or 0):.2f} s, converged {bg.get('converged')}"
            log(f"clv fit: {clv_stage.rows:,} customers, {clv_stage.seconds:.1f} s ({clv_stage.note})")
            started = time.perf_counter()
            churn = train_and_score(con, as_of, horizon_days=settings.churn_horizon_days,
                                    active_window_days=settings.active_window_days,
                                    snapshot_step_days=settings.churn_snapshot_step_days,
                                    max_train_rows=settings.churn_max_train_rows,
                                    models_dir=warehouse.parent / "models",
                                    # as the nightly asset: the day after a training run reuses its model
                                    retrain_days=settings.churn_retrain_days,
                                    threads=settings.duckdb_threads)
            churn_stage.seconds = time.perf_counter() - started
            model = churn.metrics("hgb_calibrated")
            churn_stage.rows = int(model.get("scored_customers") or 0)
            churn_stage.note = (
                f"{'saved model reused' if churn.reused_model else 'trained'}: "
                f"features {churn.seconds.get('features', 0):.1f} s, train {churn.seconds.get('train', 0):.1f} s, "
                f"score {churn.seconds.get('score', 0):.1f} s, ROC AUC {model.get('roc_auc')}"
                if model.get("trained") else str(model.get("message"))
            )
            log(f"churn: {churn_stage.seconds:.1f} s ({churn_stage.note})")
    except Exception as exc:  # reported, not raised, like the other stages
        for stage in (clv_stage, churn_stage):
            if not stage.seconds:
                stage.ok, stage.note = False, f"{type(exc).__name__}: {exc}"[:200]


def _dbt(warehouse: Path, workdir: Path, days: list[date], latest_loaded: date | None, result: BenchResult,
         stage: Stage, log, parse: bool) -> None:
    """`dbt build` as a subprocess, as the Dagster dbt assets run it (``BUILD_ARGS``, the run's
    days through ``run_env``), with its own target folder.

    The bench's own target and log folders keep it from overwriting the manifest and
    run results of the project's dbt_project/target, which other runs use."""
    settings = dataclasses.replace(load_settings(), warehouse_path=warehouse.resolve())
    env = {**os.environ, **settings.dbt_env(), **run_env(days, latest_loaded)}
    target_path, log_path = workdir / "dbt_target", workdir / "dbt_logs"
    common = [
        "--profiles-dir", str(REPO_ROOT), "--target", "duckdb", "--target-path", str(target_path),
        "--log-path", str(log_path), "--no-use-colors",
    ]  # fmt: skip
    dbt = str(Path(sys.executable).parent / "dbt")
    if parse:
        # Parse untimed first; the run days are read at execution only, so every later build
        # reuses this partial parse, as the nightly reuses the one of `prepare_manifest`.
        done = subprocess.run([dbt, "parse", *common], cwd=DBT_PROJECT_DIR, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            log(done.stdout[-3000:])
            stage.ok, stage.note = False, "dbt parse failed"
            result.dbt_problems.append("dbt parse failed: " + _dbt_errors(done.stdout))
            return
    (target_path / "run_results.json").unlink(missing_ok=True)
    log_path.mkdir(parents=True, exist_ok=True)
    build_log = log_path / f"{stage.name.replace(' ', '_')}.log"
    problems = len(result.dbt_problems)
    log(f"{stage.name}: CEW_RUN_START_DATE={env['CEW_RUN_START_DATE']}, CEW_RUN_DATE={env['CEW_RUN_DATE']} "
        f"(output in {build_log})")
    started = time.perf_counter()
    with open(build_log, "w", encoding="utf-8") as out:
        proc = subprocess.Popen(
            [dbt, *BUILD_ARGS, *common], cwd=DBT_PROJECT_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True,
        )
        lines = []
        for line in proc.stdout:
            out.write(line)
            lines.append(line)
            if DBT_PROGRESS.search(line):
                log(f"  {line.rstrip()}")
        code = proc.wait()
    stage.seconds = time.perf_counter() - started
    run_results = target_path / "run_results.json"
    if run_results.is_file():
        nodes = json.loads(run_results.read_text(encoding="utf-8"))["results"]
        facts = result.dbt_runs[stage.name] = DbtFacts()
        for node in nodes:
            facts.statuses[node["status"]] = facts.statuses.get(node["status"], 0) + 1
        timed = sorted(nodes, key=lambda n: n.get("execution_time") or 0.0, reverse=True)[:SLOWEST_NODES]
        facts.slowest_nodes = [
            (_node_name(n["unique_id"]), float(n.get("execution_time") or 0.0), n["status"]) for n in timed
        ]
        result.dbt_problems += [
            f"{stage.name}: {n['unique_id']}: {n['status']}: {(n.get('message') or '').strip()[:300]}"
            for n in nodes
            if n["status"] in ("error", "fail", "runtime error")
        ]
    if code != 0:
        stage.ok = False
        stage.note = f"dbt build exit code {code}"
        if len(result.dbt_problems) == problems:
            result.dbt_problems.append(f"{stage.name}: " + _dbt_errors("".join(lines)))


def _node_name(unique_id: str) -> str:
    """``test.customer_engagement.unique_x.1a2b3c4d5e`` -> ``test unique_x``."""
    kind, _package, *rest = unique_id.split(".")
    if kind == "test" and len(rest) > 1 and re.fullmatch(r"[0-9a-f]{10}", rest[-1]):
        rest = rest[:-1]  # the hash dbt appends to generic tests
    return f"{kind} {'.'.join(rest)}"


def _dbt_errors(output: str) -> str:
    errors = [line.strip() for line in output.splitlines() if "error" in line.lower()]
    return " | ".join(errors[-5:]) or output.strip()[-500:]


def _warehouse_facts(warehouse: Path, result: BenchResult) -> None:
    wal = warehouse.with_name(warehouse.name + ".wal")
    result.warehouse_mib = sum(p.stat().st_size for p in (warehouse, wal) if p.exists()) / MIB
    with duckdb.connect(str(warehouse), read_only=True) as con:
        tables = [
            r[0]
            for r in con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'raw' ORDER BY table_name"
            ).fetchall()
        ]
        counts = [(t, con.execute(f'SELECT count(*) FROM raw."{t}"').fetchone()[0]) for t in tables]
    result.raw_tables = sorted(counts, key=lambda tc: -tc[1])[:5]


def _baseline_columns(source: Source) -> list[str]:
    """The customer and the event-type column of a source, or its nearest equivalents."""
    names = [c.name for c in source.columns]
    customer = next((n for n in names if n == "customer_id"), None) or next(
        (n for n in names if n.endswith("customer_id")), None
    )
    kind = "event_type" if "event_type" in names else next((c.name for c in source.columns if c.type == "enum"), None)
    if kind is None:  # no category at all (fx_rates): group by its key's first column
        kind = source.primary_key[0]
    return [c for c in (customer, kind) if c]


def _baseline_sql(group: str, relation: str) -> str:
    # the outer sum forces the whole aggregation to be computed
    return f"SELECT sum(n) FROM (SELECT {group}, count(*) AS n FROM {relation} GROUP BY ALL)"


def _baseline(landing: Path, result: BenchResult, stage: Stage, log) -> None:
    """Read every landing file with DuckDB's own readers and count rows per customer and event
    type: the floor of what reading these files costs, without validation. Each read runs
    BASELINE_PASSES times and the fastest counts: one pass at 1M customers took 51.5 to 63.5 s
    in runs of the same landing (how much of the 24 GB the page cache still held after the
    build), which moved the run's ratio more than the changes it was meant to measure."""
    con = duckdb.connect(":memory:")
    con.execute(f"SET threads = {result.threads or os.cpu_count() or 1}")
    pass_totals = [0.0] * BASELINE_PASSES
    for source in SOURCES:
        folder = landing / source.name
        group = ", ".join(f'"{c}"' for c in _baseline_columns(source))
        for fmt, reader in FORMAT_READERS.items():
            if not folder.is_dir() or not any(folder.glob(f"*.{fmt}")):
                continue
            files = "'" + str(folder / f"*.{fmt}").replace("'", "''") + "'"
            label, options = fmt, ""
            timings = []
            for pass_index in range(BASELINE_PASSES):
                source_started = time.perf_counter()
                try:
                    rows = con.execute(_baseline_sql(group, reader.format(files=files, options=options))).fetchone()[0]
                except duckdb.Error:
                    if options:
                        raise
                    # Files whose columns differ (a redelivery with an extra column) need
                    # union_by_name, which sniffs every file: ~3x slower on CSV, so only then.
                    label, options = f"{fmt}, union_by_name", ", union_by_name=true"
                    source_started = time.perf_counter()
                    rows = con.execute(_baseline_sql(group, reader.format(files=files, options=options))).fetchone()[0]
                timings.append(time.perf_counter() - source_started)
                pass_totals[pass_index] += timings[-1]
            rows = rows or 0
            result.baseline_by_source.append((source.name, label, rows, min(timings)))
            stage.rows += rows
    stage.seconds = sum(seconds for *_, seconds in result.baseline_by_source)
    con.close()
    passes = " / ".join(f"{total:.1f}" for total in pass_totals)
    log(f"baseline: {stage.rows:,} rows in {stage.seconds:.1f} s, the fastest of {BASELINE_PASSES} passes per read (passes {passes} s; {result.threads} threads)")


# --------------------------------------------------------------------------- report


def _machine() -> dict[str, str]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass

    def version(package: str) -> str:
        try:
            return metadata.version(package)
        except metadata.PackageNotFoundError:
            return "?"

    return {
        "cores": f"{os.cpu_count()} logical / {psutil.cpu_count(logical=False)} physical",
        "cpu": cpu,
        "memory": f"{psutil.virtual_memory().total / GIB:.1f} GiB",
        "os": platform.platform(),
        "python": platform.python_version(),
        "duckdb": duckdb.__version__,
        "dbt": f"dbt-core {version('dbt-core')}, dbt-duckdb {version('dbt-duckdb')}",
    }


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def _targets(result: BenchResult) -> list[tuple[str, str, str, str]]:
    """(target, measured, goal, verdict) rows."""
    full, day = result.full, result.day
    scaled = full.rows < TARGET_EVENTS
    projected = result.projected_seconds
    measured_time = f"{full.seconds:,.1f} s measured" + (
        f"; {projected:,.0f} s ({projected / 60:.1f} min) at 100M events, linear" if scaled else ""
    )
    peak = result.peak_bytes / GIB
    return [
        (
            "ingestion rows/s ÷ baseline rows/s",
            f"{result.ratio:.2f}",
            f"≥ {TARGET_RATIO}",
            _verdict(result.ratio >= TARGET_RATIO and result.stages["ingest"].ok),
        ),
        (
            "full nightly time (ingest + dbt build + ML)",
            measured_time,
            f"≤ {TARGET_SECONDS} s at 100M events",
            _verdict(projected <= TARGET_SECONDS and full.ok),
        ),
        (
            "peak memory, full nightly and incremental day",
            f"{peak:.2f} GiB" + (f" (at {full.rows:,} rows; not extrapolated)" if scaled else ""),
            f"≤ {TARGET_PEAK_GIB:g} GiB",
            _verdict(peak <= TARGET_PEAK_GIB),
        ),
        (
            "incremental day ÷ full nightly time",
            f"{result.day_share:.0%} ({day.seconds:,.1f} s ÷ {full.seconds:,.1f} s)",
            f"≤ {TARGET_DAY_SHARE:.0%}",
            _verdict(result.day_share <= TARGET_DAY_SHARE and full.ok and day.ok),
        ),
    ]


def _by_source_rows(result: BenchResult) -> list[str]:
    baseline: dict[str, tuple[str, int, float]] = {}
    for source, label, rows, seconds in result.baseline_by_source:
        old_label, old_rows, old_seconds = baseline.get(source, ("", 0, 0.0))
        baseline[source] = (" + ".join(filter(None, (old_label, label))), old_rows + rows, old_seconds + seconds)
    out = []
    for source, (rows, seconds) in sorted(result.ingest_by_source.items(), key=lambda kv: -kv[1][1]):
        label, base_rows, base_seconds = baseline.get(source, ("-", 0, 0.0))
        ingest_rate = rows / seconds if seconds else 0.0
        base_rate = base_rows / base_seconds if base_seconds else 0.0
        ratio = f"{ingest_rate / base_rate:.2f}" if base_rate else "-"
        out.append(
            f"| {source} | {rows:,} | {seconds:.1f} | {ingest_rate:,.0f} | {base_seconds:.1f} ({label}) "
            f"| {base_rate:,.0f} | {ratio} |"
        )
    return out


def _stage_rows(result: BenchResult) -> list[Stage]:
    """Every stage, with the two totals after the stages they sum."""
    rows = [result.stages[name] for name in FULL_STAGES] + [result.full]
    rows += [result.stages[name] for name in DAY_STAGES] + [result.day]
    return [result.stages["generate"], *rows, result.stages["baseline"]]


def _dbt_facts(result: BenchResult) -> list[str]:
    lines = []
    for name, facts in result.dbt_runs.items():
        lines += [f"{name}: nodes by status " + ", ".join(f"{k} {v}" for k, v in sorted(facts.statuses.items())), ""]
        if facts.slowest_nodes:
            lines += [f"Slowest dbt nodes, {name}:", "", "| node | seconds | status |", "|---|---:|---|"]
            lines += [f"| {node} | {sec:.2f} | {status} |" for node, sec, status in facts.slowest_nodes]
            lines.append("")
    return lines


def _markdown(result: BenchResult, machine: dict[str, str]) -> str:
    r = result
    lines = [
        f"## {r.started_at:%Y-%m-%d %H:%M} — {r.customers:,} customers × {r.days} days "
        f"(seed {r.seed}, format {r.fmt})",
        "",
        f"- Machine: {machine['cores']} cores ({machine['cpu']}), {machine['memory']} RAM, {machine['os']}",
        f"- Software: Python {machine['python']}, DuckDB {machine['duckdb']}, {machine['dbt']}",
        f"- Data: {r.landing_rows:,} landing rows in {r.landing_files:,} files (format {r.fmt})"
        + (" (generated data reused)" if r.generation_reused else "")
        + f"; DuckDB threads {r.threads}, dbt threads {load_settings().dbt_threads}; workdir `{r.workdir}`",
        f"- Full nightly: days {r.first_day}..{r.previous_day} ({r.full.rows:,} rows); "
        f"incremental day D = {r.last_day} ({r.day.rows:,} rows) on top of it, dbt with "
        "CEW_RUN_START_DATE = CEW_RUN_DATE = D; ML = CLV fit + churn train and score "
        f"(CEW_CHURN_RETRAIN_DAYS={load_settings().churn_retrain_days}: day D reuses the full nightly's "
        "model unless 0, as the nightly asset does)",
        f"- Other processes used {r.others_cpu_share:.0%} of the machine's CPU during the run"
        + (" — timings are inflated" if r.others_cpu_share > 0.1 else ""),
        "",
        "| stage | seconds | rows | rows/s | peak GiB | status |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for stage in _stage_rows(r):
        status = ("ok" if stage.ok else "FAILED") + (f": {stage.note}" if stage.note else "")
        lines.append(
            f"| {stage.name} | {stage.seconds:,.1f} | {stage.rows:,} | {stage.rows_per_second:,.0f} "
            f"| {stage.peak_bytes / GIB:.2f} | {status} |"
        )
    lines += [
        "",
        f"Full nightly ÷ bare baseline: {r.baseline_factor:.1f}× the baseline's time per row. "
        f"Overall peak memory (this process + children): {r.overall_peak_bytes / GIB:.2f} GiB. "
        f"Warehouse after both runs: {r.warehouse_mib:,.1f} MiB. Biggest raw tables: "
        + ", ".join(f"{t} {n:,}" for t, n in r.raw_tables)
        + ".",
        "",
        "By source: ingestion of the full nightly (the loader, as the Dagster assets run it) against the "
        "baseline, a fresh in-memory DuckDB reading each source's files of all days per format "
        "(`read_csv`/`read_json`/`read_parquet` on a glob) and counting rows per customer and event type "
        f"(or the nearest columns), the fastest of {BASELINE_PASSES} passes per read:",
        "",
        "| source | rows | ingest s | ingest rows/s | baseline s | baseline rows/s | ratio |",
        "|---|---:|---:|---:|---:|---:|---:|",
        *_by_source_rows(r),
        "",
        "Targets (issue: ingestion ≥ half the baseline's rows/s; at 1M customers / ~100M events the full "
        "nightly within 15 minutes and 8 GiB on 2 cores, one incremental day within 10% of it):",
        "",
        "| target | measured | goal | result |",
        "|---|---|---|---|",
        *(f"| {a} | {b} | {c} | {d} |" for a, b, c, d in _targets(r)),
        "",
        *_dbt_facts(r),
    ]
    problems = r.ingest_failures[:10] + r.dbt_problems[:10]
    if problems:
        lines += ["Problems:", "", *(f"- {p}" for p in problems), ""]
    return "\n".join(lines) + "\n"


def _summary(result: BenchResult) -> str:
    r = result
    out = [f"benchmark {r.customers:,} customers x {r.days} days ({r.fmt}), {r.landing_rows:,} landing rows"]
    for s in _stage_rows(r):
        flag = "" if s.ok else "  FAILED " + s.note
        out.append(
            f"  {s.name:30} {s.seconds:9.1f} s {s.rows:14,} rows {s.rows_per_second:12,.0f} rows/s "
            f"peak {s.peak_bytes / GIB:5.2f} GiB{flag}"
        )
    out.append(
        f"  full nightly ÷ baseline {r.baseline_factor:.1f}x time per row; warehouse {r.warehouse_mib:,.1f} MiB; "
        f"overall peak {r.overall_peak_bytes / GIB:.2f} GiB; other processes used {r.others_cpu_share:.0%} of the CPU"
    )
    for target, measured, goal, verdict in _targets(r):
        out.append(f"  {verdict}  {target}: {measured} (goal {goal})")
    for name, facts in r.dbt_runs.items():
        out.append(f"  slowest nodes, {name}: " + ", ".join(f"{n} {s:.1f}s" for n, s, _ in facts.slowest_nodes[:5]))
    for problem in (r.ingest_failures + r.dbt_problems)[:5]:
        out.append(f"  problem: {problem}")
    return "\n".join(out)


def _append_results(path: Path, section: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.write_text(
            "# Benchmark results\n\nAppended by `cew bench` (see `orchestration/bench.py`); newest last.\n\n",
            encoding="utf-8",
        )
    with open(path, "a", encoding="utf-8") as out:
        out.write("\n" + section)


# --------------------------------------------------------------------------- entry point


def run_benchmark(
    customers: int,
    days: int,
    seed: int,
    workdir: Path | None,
    results_path: Path | None,
    log: Callable[[str], None] = print,
    fmt: str = "default",
) -> BenchResult:
    """Generate (or reuse); full nightly of days 1..D-1 (ingest, dbt build, ML); incremental
    day D (ingest, dbt build, ML); baseline. Logs a summary and appends it to ``results_path``.
    Stage failures are reported, not raised, so a broken model still leaves a record; only
    missing landing data raises."""
    if days < 2:
        raise ValueError("the bench needs at least 2 days: the last one is the incremental run")
    suffix = "" if fmt == "default" else f"-{fmt}"
    workdir = Path(workdir or DATA_DIR / "bench" / f"{customers}x{days}{suffix}").resolve()
    results_path = Path(results_path or REPO_ROOT / "benchmarks" / "results.md")
    workdir.mkdir(parents=True, exist_ok=True)
    result = BenchResult(customers, days, seed, workdir, datetime.now(), fmt)
    cpu_at_start = _cpu_seconds()
    stages = {name: Stage(name) for name in ("generate", *FULL_STAGES, *DAY_STAGES, "baseline")}
    result.stages = stages
    landing, warehouse = workdir / "landing", workdir / "warehouse.duckdb"

    def nightly(partitions: dict[str, list[date]], names: tuple[str, ...], dbt_days: list[date],
                latest_loaded: date | None, as_of: date, parse: bool) -> dict[str, tuple[int, float]]:
        """Ingest, dbt build and ML of one run, each stage measured on its own."""
        ingest, build, clv, churn = (stages[n] for n in names)
        memory.start_stage()
        by_source = _ingest(landing, warehouse, partitions, result, ingest, log)
        ingest.peak_bytes = memory.end_stage()
        memory.start_stage()
        build.rows = ingest.rows
        _dbt(warehouse, workdir, dbt_days, latest_loaded, result, build, log, parse)
        build.peak_bytes = memory.end_stage()
        memory.start_stage()
        _ml(warehouse, as_of, clv, churn, log)
        churn.peak_bytes = clv.peak_bytes = memory.end_stage()
        return by_source

    with MemorySampler() as memory:
        memory.start_stage()
        result.generation_reused = _generate(workdir, customers, days, seed, fmt, stages["generate"], log)
        if not result.generation_reused:
            stages["generate"].peak_bytes = memory.end_stage()
            _write_marker(workdir, customers, days, seed, fmt, stages["generate"])

        before, on_last = _split_days(landing, result)
        for path in (warehouse, warehouse.with_name(warehouse.name + ".wal")):
            path.unlink(missing_ok=True)
        # a model saved by an earlier bench in this workdir would spare the full nightly its training
        shutil.rmtree(workdir / "models", ignore_errors=True)
        previous, last = result.previous_day, result.last_day
        result.ingest_by_source = nightly(before, FULL_STAGES, [result.first_day, previous], None, previous, parse=True)
        # the nightly's run_env: the partition day, as of the newest loaded day
        nightly(on_last, DAY_STAGES, [last], previous, last, parse=False)
        _warehouse_facts(warehouse, result)

        memory.start_stage()
        _baseline(landing, result, stages["baseline"], log)
        stages["baseline"].peak_bytes = memory.end_stage()
        # a reused generation's peak was measured by another process: not part of this one
        result.overall_peak_bytes = memory.overall_peak
    result.others_cpu_share = _others_cpu_share(cpu_at_start, _cpu_seconds())

    log(_summary(result))
    _append_results(results_path, _markdown(result, _machine()))
    log(f"results appended to {results_path}")
    return result
