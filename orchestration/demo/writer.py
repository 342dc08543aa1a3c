"""Rendering frames to landing files (CSV, JSONL, Parquet) and the manifest entries.

Formats:
- CSV: UTF-8, header, comma, RFC 4180 quoting (pyarrow quotes every text value), JSON
  columns as JSON text, booleans true/false, money with 2 decimals, nulls as empty fields.
- JSONL: one object per line; ``context``/``properties`` are nested objects.
- Parquet: natural types (DECIMAL(18,2) money, BIGINT counts, DATE dates, BOOLEAN), while
  timestamps are ISO 8601 strings with their offsets (like the other formats) and JSON
  columns are JSON text strings.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from orchestration.catalog import FORMATS, Source, get_source
from orchestration.demo import core
from orchestration.demo.core import Calendar, Frame
from orchestration.demo.mess import BAD_TEXTS, REASONS, Targets, inject

BLOCK_ROWS = 400_000  # rows rendered at once: bounds memory of text columns and JSON lines


@dataclass
class Writer:
    out_dir: Path
    cal: Calendar
    fmt: str
    messiness: float
    seed: int
    files: list[dict] = field(default_factory=list)
    _formats: dict = field(default_factory=dict)

    def format_of(self, source: Source, day: int) -> str:
        if self.fmt == "default":
            return source.default_format
        if self.fmt != "mixed":
            return self.fmt
        key = (source.name, day)
        if key not in self._formats:
            self._formats[key] = FORMATS[int(core.stream(self.seed, "format", source.name, day).integers(len(FORMATS)))]
        return self._formats[key]

    def write(self, name: str, frame: Frame, suffix: str, chunk: int) -> int:
        """Inject messiness, render and write one file per day; returns the rows written."""
        source = get_source(name)
        assert list(frame.cols) == [c.name for c in source.columns], (name, list(frame.cols))
        days = np.unique(frame.day)
        formats = {int(d): self.format_of(source, int(d)) for d in days}
        frame = inject(frame, source, self.messiness, core.stream(self.seed, "mess", name, chunk), formats,
                       self.cal.t0)
        folder = self.out_dir / name
        folder.mkdir(parents=True, exist_ok=True)
        bounds = np.searchsorted(frame.day, np.arange(self.cal.days + 1))
        day = 0
        while day < self.cal.days:
            last = day + 1  # a block: whole days, up to BLOCK_ROWS rows (at least one day)
            while last < self.cal.days and bounds[last + 1] - bounds[day] <= BLOCK_ROWS:
                last += 1
            a, b = int(bounds[day]), int(bounds[last])
            if b > a:
                self._write_block(source, frame.slice(a, b), bounds[day:last + 1] - a, day, suffix, folder)
            day = last
        return len(frame)

    def _write_block(self, source: Source, frame: Frame, bounds: np.ndarray, first_day: int, suffix: str,
                     folder: Path) -> None:
        table = render(source, frame)
        jsonl_days = [d for d in range(len(bounds) - 1)
                      if bounds[d + 1] > bounds[d] and self.format_of(source, first_day + d) == "jsonl"]
        lines = self._json_lines(source, frame, table, bounds, jsonl_days) if jsonl_days else {}
        for d in range(len(bounds) - 1):
            a, b = int(bounds[d]), int(bounds[d + 1])
            if b == a:
                continue
            fmt = self.format_of(source, first_day + d)
            date = self.cal.date(first_day + d)
            path = folder / f"{date.isoformat()}{suffix}.{fmt}"
            if fmt == "jsonl":
                path.write_bytes(lines[d])
            elif fmt == "csv":
                pcsv.write_csv(_with_bad_numbers(table.slice(a, b - a), frame.slice(a, b)), path)
            else:
                pq.write_table(_decoded(table.slice(a, b - a)), path)
            reasons = np.bincount(frame.reason[a:b] + 1, minlength=len(REASONS) + 1)[1:]
            self.files.append({
                "source": source.name, "file": path.name, "partition_date": date.isoformat(), "format": fmt,
                "rows": b - a, "bad_rows": {r: int(c) for r, c in zip(REASONS, reasons) if c},
                "duplicates": int(frame.dup[a:b].sum()),
            })

    @staticmethod
    def _json_lines(source: Source, frame: Frame, table: pa.Table, bounds: np.ndarray,
                    days: list[int]) -> dict[int, memoryview]:
        """JSON lines of the given days of the block, by day (slices of one text buffer)."""
        if len(days) < int((np.diff(bounds) > 0).sum()):  # other days of the block are in other formats
            take = np.concatenate([np.arange(bounds[d], bounds[d + 1]) for d in days])
            table, frame = table.take(pa.array(take)), frame.take(take)
        lines = json_lines(source, frame, table)
        offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32)[lines.offset:lines.offset + len(lines) + 1]
        data = memoryview(lines.buffers()[2])
        out, row = {}, 0
        for d in days:
            k = int(bounds[d + 1] - bounds[d])
            out[d] = data[offsets[row]:offsets[row + k]]
            row += k
        return out


SAFE_TEXT = ("ts", "id", "hex")  # rendered text of these kinds never needs JSON escaping
_ESCAPES = (("\\", "\\\\"), ('"', '\\"'), ("\n", "\\n"), ("\r", "\\r"), ("\t", "\\t"))


def json_lines(source: Source, frame: Frame, table: pa.Table) -> pa.Array:
    """One JSON object per row, newline-terminated, built column-wise by pyarrow: every
    value becomes its JSON literal (dictionary columns via their small dictionary) and one
    join glues them. JSON columns are spliced in as objects; malformed rows are cut short."""
    pieces: list = []
    pending = "{"
    for i, spec in enumerate(source.columns):
        col, arr = frame.cols[spec.name], table.column(i).combine_chunks()
        key = ("" if i == 0 else ",") + f'"{spec.name}":'
        if pa.types.is_dictionary(arr.type):
            words = arr.dictionary.to_pylist()
            literal = words if spec.type == "json" else [json.dumps(w, ensure_ascii=False) for w in words]
            value = pc.fill_null(pc.take(pa.array(literal, pa.string()), arr.indices), "null")
        elif pa.types.is_boolean(arr.type):
            value = pc.fill_null(pc.if_else(arr, "true", "false"), "null")
        elif pa.types.is_string(arr.type) or pa.types.is_date(arr.type):
            text = pc.cast(arr, pa.string())
            if arr.null_count == 0 and (col.kind in SAFE_TEXT or pa.types.is_date(arr.type)):
                pieces += [pending + key + '"', text]  # quotes go into the fixed pieces
                pending = '"'
                continue
            if col.kind not in SAFE_TEXT:
                for old, new in _ESCAPES:
                    text = pc.replace_substring(text, old, new)
            value = pc.fill_null(pc.binary_join_element_wise('"', text, '"', ""), "null")
        else:  # numbers
            value = pc.fill_null(pc.cast(arr, pa.string()), "null")
            hit = frame.bad_col == i
            if hit.any():  # an unparseable number: a JSON string in a number field
                texts = [json.dumps(BAD_TEXTS[c], ensure_ascii=False) for c in frame.bad_text[hit]]
                value = pc.replace_with_mask(value, pa.array(hit), pa.array(texts, pa.string()))
        pieces += [pending + key, value]
        pending = ""
    lines = pc.binary_join_element_wise(*pieces, pending + "}\n", "")
    cut = frame.reason == REASONS.index("malformed_record")
    if cut.any():  # the first half of the object only: never valid JSON
        mask = pa.array(cut)
        head = [p if isinstance(p, str) else p.filter(mask) for p in pieces[: len(pieces) // 2]]
        lines = pc.replace_with_mask(lines, mask, pc.binary_join_element_wise(*head, "\n", ""))
    return lines


def _bad_texts(codes: np.ndarray) -> pa.Array:
    return pa.array(np.array(list(BAD_TEXTS) + [None], dtype=object)[codes], pa.string())


def render(source: Source, frame: Frame) -> pa.Table:
    """Arrow table of the catalog columns: text rendered, bad timestamps and new keys applied."""
    key = Targets.of(source).key
    arrays = {}
    for i, (name, col) in enumerate(frame.cols.items()):
        arr = col.render(frame.tz)
        hit = frame.bad_col == i
        if source.column(name).type == "timestamp" and hit.any():
            arr = pc.replace_with_mask(arr, pa.array(hit), _bad_texts(frame.bad_text[hit]))
        if name == key and (frame.key_suffix >= 0).any():
            arr = pc.cast(arr, pa.string())
            renamed = pc.binary_join_element_wise(arr, "-X", pc.cast(pa.array(frame.key_suffix), pa.string()), "")
            arr = pc.if_else(pa.array(frame.key_suffix >= 0), renamed, arr)
        arrays[name] = arr
    return pa.table(arrays)


def _decoded(table: pa.Table) -> pa.Table:
    """Parquet gets plain string columns (dictionary encoding stays a storage detail)."""
    return pa.table({n: pc.cast(c, pa.string()) if pa.types.is_dictionary(c.type) else c
                     for n, c in zip(table.column_names, table.columns)})


def _with_bad_numbers(table: pa.Table, frame: Frame) -> pa.Table:
    """CSV: a number column holding an unparseable value becomes text for that file."""
    for i in np.unique(frame.bad_col[frame.bad_col >= 0]):
        name = list(frame.cols)[i]
        if frame.cols[name].kind == "ts":
            continue
        hit = frame.bad_col == i
        text = pc.replace_with_mask(pc.cast(table[name], pa.string()), pa.array(hit), _bad_texts(frame.bad_text[hit]))
        table = table.set_column(table.schema.get_field_index(name), name, text)
    return table
