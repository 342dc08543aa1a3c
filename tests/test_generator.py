"""The demo-data generator: layout, formats, catalog conformity, manifest, messiness, truth.

Files are re-read independently of the project's loader (DuckDB for counts and columns, a
small rule checker written here for the quarantine reasons)."""

import csv
import json
import re
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from orchestration.catalog import QUARANTINE_REASONS, SOURCES, get_source
from orchestration.demo import generate
from orchestration.demo.vocab import BAD_NUMBERS, BAD_TIMESTAMPS, COMMENTS

START = date(2026, 3, 1)
FILE_NAME = re.compile(r"^(\d{4}-\d{2}-\d{2})(_c\d{2,})?\.(csv|jsonl|parquet)$")
GLOBAL_SOURCES = {"fx_rates", "marketing_spend", "social_account_daily"}
TRUE_WORDS, FALSE_WORDS = {"true", "1", "yes", "t"}, {"false", "0", "no", "f"}


@pytest.fixture(scope="module")
def messy(tmp_path_factory):
    """Default formats, 10% bad rows and 5% duplicates."""
    root = tmp_path_factory.mktemp("messy")
    report = generate(out_dir=root / "landing", customers=200, days=10, start=START, seed=5, messiness=0.1)
    return report, json.loads(report.manifest_path.read_text())


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    """Every format (mixed), no messiness, several customer chunks."""
    root = tmp_path_factory.mktemp("clean")
    messages = []
    report = generate(out_dir=root / "landing", customers=400, days=14, start=START, seed=3, fmt="mixed",
                      chunk_customers=150, progress=messages.append)
    return report, json.loads(report.manifest_path.read_text()), messages


# ----------------------------------------------------------------------------- reading


def records(path: Path) -> list[dict | None]:
    """Records of a landing file as text values (nested JSON objects as dicts); None for a
    JSONL line that is not a JSON object."""
    if path.suffix == ".jsonl":
        out = []
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                obj = json.loads(line)
            except ValueError:
                obj = None
            out.append({k: _text(v) for k, v in obj.items()} if isinstance(obj, dict) else None)
        return out
    if path.suffix == ".csv":
        with path.open(newline="", encoding="utf-8") as f:
            return [{k: (v if v != "" else None) for k, v in row.items()} for row in csv.DictReader(f)]
    rows = pq.read_table(path).to_pylist()
    return [{k: _text(v) for k, v in row.items()} for row in rows]


def _text(value):
    if value is None or isinstance(value, dict):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def duckdb_count(path: Path) -> int:
    if path.suffix == ".jsonl":  # lines, since a malformed line is one record too
        return len(path.read_bytes().splitlines())
    reader = "read_csv(?, all_varchar=true, header=true)" if path.suffix == ".csv" else "read_parquet(?)"
    return duckdb.execute(f"SELECT count(*) FROM {reader}", [str(path)]).fetchone()[0]


def landing_files(report):
    for source in SOURCES:
        for path in sorted((report.out_dir / source.name).iterdir()):
            yield source, path


def _timestamp(text: str) -> datetime | None:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return None
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def reason_of(source, row: dict | None, day: date) -> str | None:
    """The first quarantine rule a record breaks, in QUARANTINE_REASONS order (a small,
    independent re-statement of the landing contract)."""
    if row is None:
        return "malformed_record"
    flat = []
    for col in source.columns:
        value = row.get(col.name)
        if col.type == "json" and isinstance(value, str):
            value = json.loads(value)
        flat.append((col, value if not isinstance(value, dict) else json.dumps(value)))
        for sub in col.fields:
            flat.append((sub, value.get(sub.name) if isinstance(value, dict) else None))
    text = {c.name: v for c, v in flat}
    checks = [
        ("missing_key", lambda c, v: c.name in source.primary_key and v is None),
        ("missing_value", lambda c, v: not c.nullable and v is None),
        ("bad_timestamp", lambda c, v: c.type == "timestamp" and v is not None and _timestamp(v) is None),
        ("bad_date", lambda c, v: c.type == "date" and v is not None and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", v)),
        ("bad_number", lambda c, v: c.type in ("decimal", "money", "integer") and v is not None and (
            _number(v) is None or (c.integer and _number(v) != int(_number(v))))),
        ("bad_boolean", lambda c, v: c.type == "boolean" and v is not None and v.lower() not in TRUE_WORDS | FALSE_WORDS),
        ("unknown_enum", lambda c, v: c.type == "enum" and v is not None and v.lower() not in c.values),
        ("out_of_range", lambda c, v: v is not None and (
            (c.min is not None and float(v) < c.min) or (c.max is not None and float(v) > c.max))),
        ("negative_amount", lambda c, v: c.type == "money" and v is not None and float(v) < 0),
        ("future_timestamp", lambda c, v: c.type == "timestamp" and v is not None
         and _timestamp(v) >= datetime.combine(day + timedelta(days=2), datetime.min.time(), timezone.utc)),
    ]
    for reason, broken in checks:
        if any(broken(c, v) for c, v in flat):
            return reason
        if reason == "out_of_range":
            for rule in source.range_by:
                lo, hi = rule.ranges[text[rule.by]]
                if text[rule.column] is not None and not lo <= float(text[rule.column]) <= hi:
                    return reason
    return None


# ----------------------------------------------------------------------------- tests


def test_same_arguments_give_identical_bytes(tmp_path):
    args = dict(customers=120, days=5, start=START, seed=9, fmt="mixed", messiness=0.2, chunk_customers=50)
    first = generate(out_dir=tmp_path / "a" / "landing", **args)
    second = generate(out_dir=tmp_path / "b" / "landing", **args)

    def contents(root: Path) -> dict[str, bytes]:
        return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}

    assert contents(first.out_dir) == contents(second.out_dir)
    assert first.manifest_path.read_bytes() == second.manifest_path.read_bytes()
    assert first.truth_path.read_bytes() == second.truth_path.read_bytes()
    other = generate(out_dir=tmp_path / "c" / "landing", **{**args, "seed": 10})
    assert contents(other.out_dir) != contents(first.out_dir)


def test_layout_and_file_names(messy, clean):
    report, manifest = messy
    assert sorted(p.name for p in report.out_dir.iterdir()) == sorted(s.name for s in SOURCES)
    window = {START + timedelta(days=d) for d in range(10)}
    for source, path in landing_files(report):
        day, chunk, ext = FILE_NAME.match(path.name).groups()
        assert date.fromisoformat(day) in window and chunk is None
        assert ext == source.default_format
    assert report.files_written == len(manifest["files"]) == sum(1 for _ in landing_files(report))

    report, manifest, _ = clean
    formats = Counter()
    for source, path in landing_files(report):
        day, chunk, ext = FILE_NAME.match(path.name).groups()
        assert (chunk is None) == (source.name in GLOBAL_SOURCES), path
        formats[ext] += 1
    assert set(formats) == {"csv", "jsonl", "parquet"}
    # one format per source and day, whatever the chunk
    per_day = defaultdict(set)
    for f in manifest["files"]:
        per_day[(f["source"], f["partition_date"])].add(f["format"])
    assert all(len(v) == 1 for v in per_day.values())


def test_columns_and_values_follow_the_catalog(clean):
    report, _, _ = clean
    seen = defaultdict(set)
    for source, path in landing_files(report):
        rows = records(path)
        assert rows and all(list(r) == [c.name for c in source.columns] for r in rows), path
        for row in rows:
            assert reason_of(source, row, date.fromisoformat(path.name[:10])) is None, (path, row)
            for col in source.columns:
                if col.type == "enum" and row[col.name] is not None:
                    seen[(source.name, col.name)].add(row[col.name])
    for (name, column), values in seen.items():
        assert values <= set(get_source(name).column(column).values)
    # the data is rich enough to show most accepted values
    assert seen[("web_events", "event_type")] == set(get_source("web_events").column("event_type").values)
    assert seen[("subscription_events", "event_type")] >= {"trial_started", "renewed", "cancelled"}
    assert seen[("support_tickets", "status")] >= {"pending", "resolved"}


def test_format_details(messy, clean):
    report, _ = messy
    line = next((report.out_dir / "web_events").glob("*.jsonl")).read_text(encoding="utf-8").splitlines()[0]
    assert isinstance(json.loads(line)["context"], dict)  # nested object in JSONL
    order = next(r for p in sorted((report.out_dir / "orders").glob("*.csv")) for r in records(p) if r["order_id"])
    assert re.fullmatch(r"-?\d+\.\d{2}", order["gross_amount"])  # money: '.' and 2 decimals
    report, _, _ = clean
    types = {}
    for name in ("orders", "web_events", "fx_rates", "support_tickets", "crm_customers"):
        for path in (report.out_dir / name).glob("*.parquet"):
            types.update({(name, f.name): str(f.type) for f in pq.read_schema(path)})
    assert types[("orders", "gross_amount")] == "decimal128(18, 2)"
    assert types[("orders", "ordered_at")] == "string"  # ISO 8601 text with its offset
    assert types[("web_events", "context")] == "string"  # JSON text
    assert types[("fx_rates", "date")] == "date32[day]" and types[("fx_rates", "rate_to_usd")] == "double"
    assert types[("support_tickets", "contacts_count")] == "int64"
    assert types[("crm_customers", "marketing_opt_in")] == "bool"


def test_manifest_counts_match_the_files(messy):
    report, manifest = messy
    by_file = {(f["source"], f["file"]): f for f in manifest["files"]}
    for source, path in landing_files(report):
        entry = by_file[(source.name, path.name)]
        assert duckdb_count(path) == entry["rows"], path
        assert entry["partition_date"] == path.name[:10] and entry["format"] == path.suffix[1:]
    totals = manifest["totals"]
    assert totals["rows"] == report.total_rows == sum(report.rows_by_source.values())
    assert totals["duplicates"] == sum(f["duplicates"] for f in manifest["files"])


def test_every_bad_row_breaks_exactly_its_reason(messy):
    """Per file, the first broken rule of each record matches the manifest, and the rows
    left valid hold a primary key twice only for the injected exact duplicates."""
    report, manifest = messy
    by_file = {(f["source"], f["file"]): f for f in manifest["files"]}
    valid_by_day = defaultdict(list)
    for source, path in landing_files(report):
        day = date.fromisoformat(path.name[:10])
        reasons = Counter()
        for row in records(path):
            reason = reason_of(source, row, day)
            if reason:
                reasons[reason] += 1
            else:
                valid_by_day[(source.name, day)].append(row)
        assert dict(reasons) == by_file[(source.name, path.name)]["bad_rows"], path
    expected_dups = Counter()
    for f in manifest["files"]:
        expected_dups[(f["source"], date.fromisoformat(f["partition_date"]))] += f["duplicates"]
    for (name, day), rows in valid_by_day.items():
        source = get_source(name)
        groups = defaultdict(list)
        for row in rows:
            groups[tuple(row[k] for k in source.primary_key)].append(row)
        repeats = [g for g in groups.values() if len(g) > 1]
        assert all(all(r == g[0] for r in g) for g in repeats), (name, day)  # exact copies only
        assert sum(len(g) - 1 for g in repeats) == expected_dups[(name, day)], (name, day)


def test_every_kind_of_bad_row_appears(messy):
    _, manifest = messy
    injected = set(manifest["totals"]["bad_rows"])
    wanted = {"malformed_record", "missing_key", "bad_timestamp", "bad_number", "unknown_enum", "out_of_range",
              "negative_amount", "future_timestamp"}
    assert wanted <= injected <= set(QUARANTINE_REASONS)
    assert manifest["totals"]["duplicates"] > 0
    rows = manifest["totals"]["rows"]
    assert 0.06 * rows < sum(manifest["totals"]["bad_rows"].values()) < 0.13 * rows


def test_bad_values_do_not_parse_in_duckdb():
    con = duckdb.connect()
    for text in BAD_TIMESTAMPS:
        assert con.execute("SELECT TRY_CAST(? AS TIMESTAMPTZ)", [text]).fetchone() == (None,), text
    for text in BAD_NUMBERS:
        assert con.execute("SELECT TRY_CAST(? AS DOUBLE)", [text]).fetchone() == (None,), text


def test_csv_free_text_round_trips(messy):
    report, _ = messy
    folder = report.out_dir / "survey_responses"
    comments = {r[0] for r in duckdb.execute(
        "SELECT comment FROM read_csv(?, all_varchar=true, header=true) WHERE comment IS NOT NULL",
        [f"{folder}/*.csv"]).fetchall()}
    pool = {c for texts in COMMENTS.values() for c in texts}
    assert comments and comments <= pool
    assert any("," in c for c in comments) and any('"' in c for c in comments) and any("\n" in c for c in comments)
    text = "".join(p.read_text(encoding="utf-8") for p in (report.out_dir / "crm_customers").glob("*.csv"))
    assert set("ğüşıöçİ") & set(text)
    names = {r[0] for r in duckdb.execute(
        "SELECT full_name FROM read_csv(?, all_varchar=true, header=true)",
        [f"{report.out_dir / 'crm_customers'}/*.csv"]).fetchall()}
    assert any(set("ğüşıöçİÖÇŞÜ") & set(n or "") for n in names)


def test_timestamps_carry_offsets_and_partition_by_utc_day(messy):
    report, _ = messy
    suffixes = Counter()
    for path in sorted((report.out_dir / "email_events").glob("*.csv")):
        for row in records(path):
            if reason_of(get_source("email_events"), row, date.fromisoformat(path.name[:10])):
                continue
            value = row["occurred_at"]
            match = re.search(r"(Z|[+-]\d{2}:\d{2})$", value)
            suffixes[match.group(1) if match else "naive"] += 1
            assert _timestamp(value).astimezone(timezone.utc).date().isoformat() == path.name[:10]
    assert {"+03:00", "-05:00", "+01:00"} <= set(suffixes)
    assert suffixes["Z"] + suffixes["+00:00"] > 0
    assert 0 < suffixes["naive"] < 0.1 * sum(suffixes.values())


def test_truth_sidecar(messy, tmp_path):
    report, _ = messy
    assert report.meta_dir == report.out_dir.parent / "landing_meta"
    assert not report.truth_path.resolve().is_relative_to(report.out_dir.resolve())
    truth = pq.read_table(report.truth_path).to_pylist()
    assert len(truth) == 200 and len({t["customer_id"] for t in truth}) == 200
    expected = {"customer_id", "signup_date", "engagement_propensity", "purchase_rate_per_week", "mean_order_value",
                "churn_hazard_per_day", "churn_date", "is_alive_at_end", "orders_in_window", "future_orders_365d",
                "future_spend_365d", "churned_within_90d_after_end"}
    assert expected <= set(truth[0])
    end = START + timedelta(days=10)
    for t in truth:
        assert t["is_alive_at_end"] == (t["churn_date"] is None or t["churn_date"] >= end)
        if t["churned_within_90d_after_end"]:
            assert end <= t["churn_date"] < end + timedelta(days=90)
    assert any(not t["is_alive_at_end"] for t in truth) and any(t["signup_date"] >= START for t in truth)
    with pytest.raises(ValueError):
        generate(out_dir=tmp_path / "landing", customers=5, days=2, start=START, meta_dir=tmp_path / "landing" / "meta")


def test_latent_traits_drive_behaviour(clean):
    report, _, _ = clean
    truth = pq.read_table(report.truth_path).to_pylist()
    events = Counter()
    for name in ("web_events", "app_events", "email_events", "orders"):
        for path in (report.out_dir / name).iterdir():
            for row in records(path):
                if row["customer_id"]:
                    events[row["customer_id"]] += 1
    ranked = sorted(truth, key=lambda t: t["engagement_propensity"])
    fifth = len(ranked) // 5

    def per_customer(group):
        return sum(events[t["customer_id"]] for t in group) / len(group)

    assert per_customer(ranked[-fifth:]) > 1.5 * per_customer(ranked[:fifth])
    # orders stop once a customer has churned, and the truth counts them
    orders = defaultdict(list)
    for path in (report.out_dir / "orders").iterdir():
        for row in records(path):
            orders[row["customer_id"]].append(_timestamp(row["ordered_at"]).astimezone(timezone.utc).date())
    for t in truth:
        assert len(orders[t["customer_id"]]) == t["orders_in_window"]
        if t["churn_date"] is not None:
            assert all(d <= t["churn_date"] for d in orders[t["customer_id"]])


def test_entities_are_resent_on_later_days(clean):
    report, _, _ = clean

    def versions(name, key):
        out = defaultdict(list)
        for path in sorted((report.out_dir / name).iterdir()):
            for row in records(path):
                out[row[key]].append((path.name[:10], row))
        return out

    surveys = versions("survey_responses", "invitation_id")
    answered_later = [v for v in surveys.values() if len(v) > 1]
    assert answered_later
    for v in answered_later:
        assert v[0][1]["responded_at"] is None and v[-1][1]["score"] is not None and v[0][0] < v[-1][0]
    tickets = versions("support_tickets", "ticket_id")
    assert any({"open", "resolved"} <= {r["status"] for _, r in v} for v in tickets.values())
    for v in tickets.values():
        days = [d for d, _ in v]
        assert len(days) == len(set(days))  # one version per day
    crm = versions("crm_customers", "customer_id")
    assert any(len(v) > 1 for v in crm.values())
    # some facts arrive before their customer's CRM row (late-arriving customers)
    first_crm = {k: min(d for d, _ in v) for k, v in crm.items()}
    first_fact = {}
    for name in ("orders", "web_events", "email_events"):
        for path in (report.out_dir / name).iterdir():
            for row in records(path):
                c = row["customer_id"]
                if c:
                    first_fact[c] = min(first_fact.get(c, "9999"), path.name[:10])
    assert any(first_fact[c] < first_crm.get(c, "9999") for c in first_fact)
    fx = [(p.name[:10], r["currency"], float(r["rate_to_usd"]))
          for p in (report.out_dir / "fx_rates").iterdir() for r in records(p)]
    assert {c for d, c, _ in fx if d == START.isoformat()} == {"USD", "EUR", "GBP", "TRY"}
    assert all(r == 1.0 for _, c, r in fx if c == "USD")


def test_progress_reports_rows_per_second(clean):
    report, _, messages = clean
    assert len(messages) == 3 and all("rows/s" in m for m in messages)  # one per customer chunk
    assert report.rows_per_second > 0 and report.seconds > 0
    assert 0.6 < report.total_rows / (400 * 14) < 1.6  # ~1 event per customer and day
