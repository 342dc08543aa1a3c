"""Messiness: extra bad rows and exact duplicates injected into each landing file.

A bad row is a copy of a clean row of the same file with a new primary key and exactly one
corruption, chosen among the quarantine reasons that apply to the source and file format.
The corruption never trips a reason checked earlier (QUARANTINE_REASONS order), so a
loader must quarantine it with exactly that reason. Duplicates repeat a clean row later in
the same file. Clean rows, metrics and the truth sidecar are untouched.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from orchestration.catalog import QUARANTINE_REASONS, Source
from orchestration.demo import core
from orchestration.demo.core import DAY, Frame
from orchestration.demo.vocab import BAD_NUMBERS, BAD_TIMESTAMPS

REASONS = tuple(QUARANTINE_REASONS)
BAD_TEXTS = BAD_TIMESTAMPS + BAD_NUMBERS
R = {name: i for i, name in enumerate(REASONS)}


@dataclass(frozen=True)
class Targets:
    """Which columns of a source each corruption can hit."""

    timestamps: tuple[str, ...]
    numbers: tuple[str, ...]
    enums: tuple[str, ...]
    ranged: tuple[str, ...]
    money: tuple[str, ...]
    event_time: str | None  # only timestamp event times (a future date is no reason)
    key: str  # primary-key column emptied by missing_key, or suffixed to make a copy's key new

    @staticmethod
    def of(source: Source) -> "Targets":
        cols = source.columns
        text_key = next((k for k in source.primary_key if source.column(k).type == "string"), None)
        enum_key = next((k for k in source.primary_key if source.column(k).type == "enum"), None)
        ranged = [c.name for c in cols if c.min is not None or c.max is not None]
        ranged += [r.column for r in source.range_by]
        return Targets(
            timestamps=tuple(c.name for c in cols if c.type == "timestamp"),
            numbers=tuple(c.name for c in cols if c.type in ("decimal", "money", "integer")),
            enums=tuple(c.name for c in cols if c.type == "enum") if text_key else (enum_key,),
            ranged=tuple(ranged),
            money=tuple(c.name for c in cols if c.type == "money"),
            event_time=source.event_time if source.column(source.event_time).type == "timestamp" else None,
            key=text_key or enum_key,
        )


def _allowed(source: Source, targets: Targets, formats: np.ndarray) -> np.ndarray:
    """(files, reasons) mask of the reasons a file can carry."""
    ok = np.zeros((len(formats), len(REASONS)), dtype=bool)
    ok[:, R["malformed_record"]] = formats == "jsonl"
    ok[:, R["missing_key"]] = True
    ok[:, R["unknown_enum"]] = bool(targets.enums)
    if source.column(targets.key).type == "enum":
        # no free-text key to make a copy's key new: only rows whose key itself is broken
        return ok
    ok[:, R["bad_timestamp"]] = bool(targets.timestamps)
    # Parquet keeps its column types, so a number column cannot hold text
    ok[:, R["bad_number"]] = bool(targets.numbers) & (formats != "parquet")
    ok[:, R["out_of_range"]] = bool(targets.ranged)
    ok[:, R["negative_amount"]] = bool(targets.money)
    ok[:, R["future_timestamp"]] = targets.event_time is not None
    return ok


def _filled(frame: Frame, names: tuple[str, ...]) -> np.ndarray:
    """(rows, len(names)) mask of non-null values."""
    if not names:
        return np.zeros((len(frame), 0), dtype=bool)
    return np.column_stack([~frame.cols[n].is_null() for n in names])


def _pick(rng: np.random.Generator, filled: np.ndarray) -> np.ndarray:
    """Per row, a random column index among the filled ones."""
    return np.argmax(rng.random(filled.shape) * filled, axis=1) if filled.shape[1] else np.zeros(len(filled), int)


def inject(frame: Frame, source: Source, rate: float, rng: np.random.Generator, formats: dict[int, str],
           t0: int) -> Frame:
    """The frame (sorted by day) with bad rows and duplicates mixed into each day's rows."""
    n = len(frame)
    frame.reason = np.full(n, -1, dtype=np.int8)
    frame.dup = np.zeros(n, dtype=bool)
    frame.bad_col = np.full(n, -1, dtype=np.int16)
    frame.bad_text = np.full(n, -1, dtype=np.int16)
    frame.key_suffix = np.full(n, -1, dtype=np.int64)
    if rate <= 0 or n == 0:
        return frame
    targets = Targets.of(source)
    days, starts, counts = np.unique(frame.day, return_index=True, return_counts=True)
    file_of = np.repeat(np.arange(len(days)), counts)
    pos = np.arange(n) - starts[file_of]

    # bad rows: copies of random clean rows of the same file
    n_bad = core.stochastic_round(rng, rate * counts)
    fb = np.repeat(np.arange(len(days)), n_bad)
    bad = frame.take(starts[fb] + (rng.random(len(fb)) * counts[fb]).astype(np.int64))
    bad_pos = rng.random(len(fb)) * counts[fb]
    filled = {name: _filled(bad, getattr(targets, name)) for name in ("timestamps", "numbers", "enums", "ranged", "money")}
    ok = _allowed(source, targets, np.array([formats[int(d)] for d in days]))[fb]
    for name, reason in (("timestamps", "bad_timestamp"), ("numbers", "bad_number"), ("enums", "unknown_enum"),
                         ("ranged", "out_of_range"), ("money", "negative_amount")):
        ok[:, R[reason]] &= filled[name].any(axis=1)
    if targets.event_time:
        ok[:, R["future_timestamp"]] &= ~bad.cols[targets.event_time].is_null()
    # cycle through each row's possible reasons, so every reason shows up even in small data
    turn = (np.arange(len(fb)) + rng.integers(0, len(REASONS))) % ok.sum(axis=1)
    reason = np.argmax(np.cumsum(ok, axis=1) > turn[:, None], axis=1)
    bad.reason = reason.astype(np.int8)
    bad.dup = np.zeros(len(fb), dtype=bool)
    bad.bad_col = np.full(len(fb), -1, dtype=np.int16)
    bad.bad_text = np.full(len(fb), -1, dtype=np.int16)
    bad.key_suffix = np.where(reason == R["missing_key"], -1, np.arange(len(fb)))
    names = list(frame.cols)

    rows = np.flatnonzero(reason == R["missing_key"])
    bad.cols[targets.key].data[rows] = -1
    for reason_name, group, pool in (("bad_timestamp", "timestamps", (0, len(BAD_TIMESTAMPS))),
                                     ("bad_number", "numbers", (len(BAD_TIMESTAMPS), len(BAD_TEXTS)))):
        rows = np.flatnonzero(reason == R[reason_name])
        index = np.array([names.index(c) for c in getattr(targets, group)] or [-1], dtype=np.int16)
        bad.bad_col[rows] = index[_pick(rng, filled[group][rows])]
        bad.bad_text[rows] = rng.integers(*pool, len(rows))
    rows = np.flatnonzero(reason == R["unknown_enum"])
    _shift_enums(bad, targets, rows, _pick(rng, filled["enums"][rows]))
    rows = np.flatnonzero(reason == R["out_of_range"])
    _out_of_range(rng, bad, source, targets, rows, _pick(rng, filled["ranged"][rows]))
    rows = np.flatnonzero(reason == R["negative_amount"])
    which = _pick(rng, filled["money"][rows])
    for i, name in enumerate(targets.money):  # loop over money columns
        sel = rows[which == i]
        cents = bad.cols[name].data
        cents[sel] = np.where(cents[sel] > 0, -cents[sel], -999)
    rows = np.flatnonzero(reason == R["future_timestamp"])
    if len(rows):
        bad.cols[targets.event_time].data[rows] = (
            t0 + (bad.day[rows] + rng.integers(3, 11, len(rows))) * DAY + rng.integers(0, DAY, len(rows)))

    # exact duplicates of clean rows, placed after their original
    n_dup = np.minimum(core.stochastic_round(rng, rate / 2 * counts), counts)
    order = np.lexsort((rng.random(n), frame.day))
    chosen = order[core.rank_in_group(frame.day[order]) < n_dup[file_of[order]]]
    dups = frame.take(chosen)
    dups.dup[:] = True
    dup_pos = pos[chosen] + (1.0 - rng.random(len(chosen))) * (counts[file_of[chosen]] - pos[chosen])

    out = Frame.concat([frame, bad, dups])
    for attr in Frame.EXTRA:
        setattr(out, attr, np.concatenate([getattr(f, attr) for f in (frame, bad, dups)]))
    return out.take(np.lexsort((np.concatenate([pos, bad_pos, dup_pos]), out.day)))


def _shift_enums(bad: Frame, targets: Targets, rows: np.ndarray, which: np.ndarray) -> None:
    """Codes past the dictionary render as '<value>_legacy': an unknown value."""
    for i, name in enumerate(targets.enums):
        col = bad.cols[name]
        sel = rows[which == i]
        col.data[sel] += len(col.values)


def _out_of_range(rng: np.random.Generator, bad: Frame, source: Source, targets: Targets, rows: np.ndarray,
                  which: np.ndarray) -> None:
    """Whole numbers just outside the column's range (a negative count, a birth year of 1895...)."""
    for i, name in enumerate(targets.ranged):
        col = bad.cols[name]
        sel = rows[which == i]
        k = len(sel)
        by = next((r for r in source.range_by if r.column == name), None)
        if by is not None:  # survey scores: above the maximum of the row's survey type
            kind = bad.cols[by.by]
            hi = np.array([by.ranges[v][1] for v in kind.values])[kind.data[sel]]
            col.data[sel] = (hi + rng.integers(1, 4, k)).astype(col.data.dtype)
            continue
        spec = source.column(name)
        if spec.min is not None and spec.max is not None:
            above = rng.random(k) < 0.5
        else:
            above = np.full(k, spec.max is not None)
        low = (spec.min or 0) - rng.integers(1, 10, k)
        high = (spec.max or 0) + rng.integers(1, 6, k)
        value = np.where(above, high, low)
        if col.kind == "float":
            value = np.where(above, value, -np.abs(col.data[sel]) - 0.01)
        col.data[sel] = value.astype(col.data.dtype)
