"""Render the files that restate the catalog: dbt ``sources.yml`` and the contract doc.

They are committed (dbt and readers need them without running Python) and a test fails
when they drift from :mod:`orchestration.catalog`. Regenerate with ``cew codegen``.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from orchestration.catalog import LINEAGE_COLUMNS, QUARANTINE_REASONS, SOURCES, Source
from orchestration.erasure import ERASED_REASON
from orchestration.settings import DBT_PROJECT_DIR, REPO_ROOT, SETTINGS_DOC

SOURCES_YML = DBT_PROJECT_DIR / "models" / "staging" / "_sources.yml"
CONTRACT_DOC = REPO_ROOT / "docs" / "landing-contract.md"
HEADER = "# Generated from orchestration/catalog.py by `cew codegen`: do not edit by hand.\n"


def _loaded_at(source: Source) -> str:
    col = source.column(source.event_time)
    return f"cast({col.name} as timestamp)" if col.type == "date" else col.name


def _column_tests(source: Source, name: str, col) -> list:
    tests: list = []
    if len(source.primary_key) == 1 and name in source.primary_key:
        tests.append("not_null")
    elif not col.nullable and name in source.primary_key:
        tests.append("not_null")
    if col.type == "enum":
        tests.append({"accepted_values": {"arguments": {"values": list(col.values)}}})
    return tests


def render_sources_yml() -> str:
    systems: dict[str, list[Source]] = {}
    for source in SOURCES:
        systems.setdefault(source.system, []).append(source)
    doc = {"version": 2, "sources": []}
    for system, sources in systems.items():
        tables = []
        for source in sources:
            columns = []
            flat = {c.name: c for c in source.columns}
            for col in source.columns:
                for sub in col.fields:
                    flat[f"{col.name}_{sub.name}"] = sub
            for name, typ, description in source.raw_columns():
                entry = {"name": name, "description": description, "data_type": typ.lower()}
                if name in flat:
                    tests = _column_tests(source, name, flat[name])
                    if tests:
                        entry["data_tests"] = tests
                columns.append(entry)
            table = {
                "name": source.raw_table,
                "description": f"{source.description} Grain: {source.grain}. "
                f"Primary key: {', '.join(source.primary_key)}.",
                "config": {
                    "loaded_at_field": _loaded_at(source),
                    "freshness": {
                        "warn_after": {"count": source.freshness_warn_days, "period": "day"},
                        "error_after": {"count": source.freshness_error_days, "period": "day"},
                    },
                },
                "meta": {"primary_key": list(source.primary_key), "landing_folder": source.name},
                "columns": columns,
            }
            tables.append(table)
        doc["sources"].append(
            {
                "name": system,
                "description": f"Raw exports of the {system} system, loaded by the Dagster ingestion assets.",
                "schema": "raw",
                "tables": tables,
            }
        )
    return HEADER + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=120)


def render_contract_doc() -> str:
    lines = [
        "<!-- Generated from orchestration/catalog.py by `cew codegen`: do not edit by hand. -->",
        "# Landing-zone contract",
        "",
        "Export each system into `<landing_dir>/<source>/<YYYY-MM-DD>[_<anything>].<csv|jsonl|parquet>`.",
        "The date is the business day the file covers (the partition key). Several files per day are",
        "loaded together in file-name order (a later file wins for a repeated key); re-delivering a day",
        "replaces what that day held. CSV: UTF-8, header, comma, RFC 4180 quoting. JSONL: one object per",
        "line. Parquet: same columns, natural types. Timestamps: ISO 8601 with an offset or `Z`; naive",
        "timestamps are UTC; the warehouse stores UTC. Extra columns are ignored (listed in the ledger).",
        "A source with no folder, or a day with no file, is empty for that day (`no_file` in the ledger).",
        "",
        "## What bad input gets",
        "",
        "Each row is checked in this order and quarantined with the first reason that applies, in",
        "`raw.<source>__quarantine` (reason, column, file, record number, raw text). Within a day a",
        "repeated primary key is kept once (latest `updated_at` for entity versions, else the later",
        "file, then the later line); across days staging keeps the latest delivery. A file that cannot",
        "be read (a CSV record with the wrong number of fields, text that is not UTF-8), lacks a",
        "required column, names one twice, or is not the format its extension says (Parquet or gzip",
        "named `.csv`, UTF-16 text, JSON in a `.csv`, no JSON object in a `.jsonl`) fails that",
        "source-day (nothing of it is loaded, the ledger says why, with the line) while every other",
        "source and day loads. `raw.load_ledger` records, per file, rows read = rows loaded + rows",
        "quarantined + duplicates removed. Files off the layout (another name, a day that does not",
        "exist, a folder that is no source) are not loaded; every run logs them as ignored.",
        "Examples of each rule: `tests/bad_inputs/` (one case per file).",
        "",
        "| reason | meaning |",
        "|---|---|",
    ]
    lines += [f"| `{reason}` | {meaning} |" for reason, meaning in QUARANTINE_REASONS.items()]
    # not a defect of the file: checked after the rules above, on valid rows only
    lines += [f"| `{ERASED_REASON}` | the row belongs to a customer erased with `cew erase` (stored without its raw text) |"]
    lines += [
        "",
        "A timestamp is \"more than one day after the file's date\" when it is on or after the start of",
        "day D+2 (UTC) for a file dated D; every timestamp column is checked.",
        "",
    ]
    for source in SOURCES:
        lines += [
            f"## `{source.name}`",
            "",
            f"{source.description} Grain: {source.grain}. Primary key: "
            f"`{', '.join(source.primary_key)}`. Event time: `{source.event_time}`. "
            f"Default format: {source.default_format}. Staging model: `{source.staging_model}`.",
            "",
            "| column | type | required | rule | description |",
            "|---|---|---|---|---|",
        ]
        for col in source.columns:
            lines.append(_doc_row(col.name, col, source))
            for sub in col.fields:
                lines.append(_doc_row(f"{col.name}.{sub.name}", sub, source))
        for rule in source.range_by:
            ranges = ", ".join(f"{k}: {lo:g}–{hi:g}" for k, (lo, hi) in rule.ranges.items())
            lines.append("")
            lines.append(f"`{rule.column}` range by `{rule.by}`: {ranges}.")
        lines.append("")
    lines += ["## Lineage columns of every raw table", ""]
    lines += [f"- `{name}`: {desc}" for name, (_t, desc) in LINEAGE_COLUMNS.items()]
    lines.append("")
    return "\n".join(lines)


def _doc_row(name: str, col, source: Source) -> str:
    rules = []
    if col.values:
        rules.append("one of " + ", ".join(f"`{v}`" for v in col.values))
    if col.integer:
        rules.append("whole number")
    if col.min is not None:
        rules.append(f"≥ {col.min:g}")
    if col.max is not None:
        rules.append(f"≤ {col.max:g}")
    if col.type == "money":
        rules.append("≥ 0, in `currency`")
    if col.pii:
        rules.append("PII: pseudonymised in staging")
    required = "key" if name in source.primary_key else ("no" if col.nullable else "yes")
    return f"| `{name}` | {col.type} | {required} | {'; '.join(rules)} | {col.description} |"


def render_settings_table() -> str:
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    rows += [f"| `{name}` | `{default}` | {desc} |" for name, (default, desc) in SETTINGS_DOC.items()]
    return "\n".join(rows)


README = REPO_ROOT / "README.md"
_SETTINGS_START, _SETTINGS_END = "<!-- settings-table -->\n", "\n<!-- /settings-table -->"


def render_readme() -> str:
    """README.md with its settings table (between the markers) regenerated from SETTINGS_DOC."""
    text = README.read_text(encoding="utf-8")
    head, rest = text.split(_SETTINGS_START, 1)
    return head + _SETTINGS_START + render_settings_table() + _SETTINGS_END + rest.split(_SETTINGS_END, 1)[1]


GENERATED: dict[Path, callable] = {
    SOURCES_YML: render_sources_yml,
    CONTRACT_DOC: render_contract_doc,
    README: render_readme,
}


def write_all() -> list[Path]:
    written = []
    for path, render in GENERATED.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        content = render()
        if not path.exists() or path.read_text(encoding="utf-8") != content:
            path.write_text(content, encoding="utf-8")
            written.append(path)
    return written


def stale() -> list[Path]:
    return [p for p, render in GENERATED.items() if not p.exists() or p.read_text(encoding="utf-8") != render()]
