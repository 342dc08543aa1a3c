"""Building blocks of the demo generator: calendar, random streams, columns and frames.

A source is simulated as a :class:`Frame`: compact numpy columns (epoch seconds, integer
ids, category codes, cents) plus the partition day and time-zone code of every row. Text
is only produced when a block of rows is rendered to Arrow for writing, which keeps
memory per customer chunk small and every step vectorised.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from orchestration.demo.vocab import TZ_OFFSETS_S, TZ_SUFFIXES

DAY = 86_400
NAT = np.iinfo(np.int64).min  # missing timestamp
EPOCH = date(1970, 1, 1)


def stream(seed: int, *keys: int | str) -> np.random.Generator:
    """An independent random stream per (seed, keys); strings are keyed by CRC32, never hash()."""
    return np.random.default_rng([seed, *(zlib.crc32(k.encode()) if isinstance(k, str) else k for k in keys)])


def mix64(x: np.ndarray, salt: int) -> np.ndarray:
    """SplitMix64 finaliser: stable pseudo-random 64-bit labels (cookie and device ids)."""
    z = x.astype(np.uint64) + np.uint64((0x9E3779B97F4A7C15 * (salt + 1)) & 0xFFFFFFFFFFFFFFFF)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def stochastic_round(rng: np.random.Generator, x: np.ndarray) -> np.ndarray:
    """Integer counts whose mean is x (so small files still get their share of bad rows)."""
    base = np.floor(x)
    return (base + (rng.random(len(x)) < x - base)).astype(np.int64)


# --------------------------------------------------------------------------- calendar

# day-of-week factors (Mon..Sun) per activity kind
WEEKDAY = {
    "web": (1.0, 1.02, 1.0, 0.98, 0.95, 0.72, 0.7),
    "email": (1.05, 1.05, 1.05, 1.0, 0.95, 0.6, 0.55),
    "app": (0.95, 0.95, 0.97, 1.0, 1.05, 1.15, 1.12),
    "orders": (0.95, 0.95, 0.97, 1.0, 1.05, 1.12, 1.1),
    "support": (1.15, 1.1, 1.05, 1.0, 0.95, 0.6, 0.5),
    "social": (0.95, 0.95, 1.0, 1.0, 1.05, 1.15, 1.1),
    "flat": (1.0,) * 7,
}
MONTH = (0.92, 0.9, 0.98, 1.0, 1.02, 0.97, 0.95, 0.96, 1.0, 1.04, 1.15, 1.25)


@dataclass(frozen=True)
class Calendar:
    start: date
    days: int

    @property
    def t0(self) -> int:
        return (self.start - EPOCH).days * DAY

    @property
    def t_end(self) -> int:
        return self.t0 + self.days * DAY

    @property
    def day0(self) -> int:
        """Epoch day number of the first day."""
        return (self.start - EPOCH).days

    def date(self, d: int) -> date:
        return self.start + timedelta(days=d)

    def factor(self, kind: str, first: int = 0, count: int | None = None) -> np.ndarray:
        """Weekday x month x pay-day rhythm for days first..first+count (relative to start)."""
        count = self.days if count is None else count
        epoch_days = self.day0 + first + np.arange(count)
        dates = epoch_days.astype("datetime64[D]")
        weekday = (epoch_days + 3) % 7  # 1970-01-01 was a Thursday
        month = dates.astype("datetime64[M]").astype(np.int64) % 12
        dom = (dates - dates.astype("datetime64[M]")).astype(np.int64) + 1
        payday = 1.0 + 0.08 * ((dom <= 3) | ((dom >= 15) & (dom <= 16)))
        return np.asarray(WEEKDAY[kind])[weekday] * np.asarray(MONTH)[month] * payday


# local hour-of-day profile of human activity (sums to 1)
_HOURS = np.array([0.6, 0.35, 0.2, 0.15, 0.15, 0.25, 0.6, 1.2, 2.0, 2.6, 2.9, 3.0,
                   3.1, 3.0, 2.9, 2.8, 2.8, 3.0, 3.4, 3.9, 4.2, 3.8, 2.6, 1.4])
HOUR_CDF = np.cumsum(_HOURS / _HOURS.sum())
TZ_OFFSET = np.asarray(TZ_OFFSETS_S, dtype=np.int64)


def local_time_of_day(rng: np.random.Generator, n: int) -> np.ndarray:
    """Seconds after local midnight following the human daily rhythm."""
    hour = np.searchsorted(HOUR_CDF, rng.random(n) * HOUR_CDF[-1], side="right")
    return np.minimum(hour, 23) * 3600 + rng.integers(0, 3600, n)


def times_in_days(rng: np.random.Generator, cal: Calendar, day: np.ndarray, tz: np.ndarray) -> np.ndarray:
    """Epoch seconds inside UTC day `day` whose local clock follows the daily rhythm."""
    sod = (local_time_of_day(rng, len(day)) - TZ_OFFSET[tz]) % DAY
    return cal.t0 + day.astype(np.int64) * DAY + sod


def exposure(cal: Calendar, begin: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Share of each window day (columns) inside [begin, end) of each row, float32."""
    day_start = cal.t0 + np.arange(cal.days, dtype=np.int64) * DAY
    lo = np.maximum(begin[:, None], day_start[None, :])
    hi = np.minimum(end[:, None], day_start[None, :] + DAY)
    return (np.clip(hi - lo, 0, DAY) / DAY).astype(np.float32)


def daily_draws(rng: np.random.Generator, rate: np.ndarray, day_factor: np.ndarray, expo: np.ndarray):
    """Poisson counts per (row, day) -> (row index, day index) of every occurrence."""
    lam = (rate[:, None] * day_factor[None, :] * expo).ravel()
    cells = np.flatnonzero(lam)  # days a customer is not around draw nothing
    flat = np.repeat(cells, rng.poisson(lam[cells]))
    return flat // expo.shape[1], flat % expo.shape[1]


def choice(rng: np.random.Generator, weights: Sequence[float], n: int) -> np.ndarray:
    w = np.asarray(weights, dtype=float)
    return np.searchsorted(np.cumsum(w / w.sum()), rng.random(n), side="right").clip(0, len(w) - 1)


def latest_per_day(cal: Calendar, entity: np.ndarray, version: np.ndarray, t: np.ndarray):
    """Versions of entities inside the window, keeping the last version of each entity per
    UTC day (one file holds an entity once). Versions must be numbered in time order.
    Returns (entity, version, time, day) sorted by entity, day."""
    keep = (t != NAT) & (t >= cal.t0) & (t < cal.t_end)
    entity, version, t = entity[keep], version[keep], t[keep]
    day = (t - cal.t0) // DAY
    order = np.lexsort((version, day, entity))
    entity, version, t, day = entity[order], version[order], t[order], day[order]
    last = np.ones(len(entity), dtype=bool)
    last[:-1] = (entity[1:] != entity[:-1]) | (day[1:] != day[:-1])
    return entity[last], version[last], t[last], day[last]


def group_starts(keys: np.ndarray) -> np.ndarray:
    """Boolean mask of the first row of each run of equal keys."""
    first = np.ones(len(keys), dtype=bool)
    first[1:] = keys[1:] != keys[:-1]
    return first


def rank_in_group(keys: np.ndarray) -> np.ndarray:
    """0-based position of each row inside its run of equal (sorted) keys."""
    idx = np.arange(len(keys))
    starts = np.maximum.accumulate(np.where(group_starts(keys), idx, 0)) if len(keys) else idx
    return idx - starts


# --------------------------------------------------------------------------- columns


def _strings_from_fixed(mat: np.ndarray) -> pa.Array:
    """Fixed-width uint8 rows -> Arrow strings, zero-copy."""
    n, width = mat.shape
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int32)
    return pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(np.ascontiguousarray(mat))])


_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_TOD = np.frombuffer("".join(f"T{h:02d}:{m:02d}:{s:02d}" for h in range(24) for m in range(60) for s in range(60))
                     .encode(), dtype="S9")


def render_timestamps(sec: np.ndarray, tz: np.ndarray) -> pa.Array:
    """ISO 8601 local time with the row's offset ('Z', '+03:00', ... or none = naive UTC)."""
    valid = sec != NAT
    local = sec + TZ_OFFSET[tz]
    days = local // DAY
    d0 = int(days[valid].min()) if valid.any() else 0
    ndays = int(days[valid].max()) - d0 + 1 if valid.any() else 1
    days = np.where(valid, days, d0)
    local = np.where(valid, local, d0 * DAY)
    dates = np.array([(EPOCH + timedelta(days=d0 + i)).isoformat().encode() for i in range(ndays)], dtype="S10")
    suffix = np.array([s.encode() for s in TZ_SUFFIXES], dtype="S6")
    rec = np.empty(len(sec), dtype=[("d", "S10"), ("t", "S9"), ("z", "S6")])
    rec["d"] = dates[days - d0]
    rec["t"] = _TOD[local - days * DAY]
    rec["z"] = suffix[tz]
    mat = rec.view(np.uint8).reshape(len(sec), 25)
    lengths = 19 + np.char.str_len(suffix)[tz]
    data = mat[np.arange(25)[None, :] < lengths[:, None]]
    offsets = np.zeros(len(sec) + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    validity = None if valid.all() else pa.array(valid).buffers()[1]
    return pa.Array.from_buffers(pa.string(), len(sec), [validity, pa.py_buffer(offsets), pa.py_buffer(data)])


def render_hex(u: np.ndarray, width: int = 16) -> pa.Array:
    b = u.astype(">u8").view(np.uint8).reshape(-1, 8)
    nib = np.empty((len(u), 16), dtype=np.uint8)
    nib[:, 0::2] = b >> 4
    nib[:, 1::2] = b & 15
    return _strings_from_fixed(_HEX[nib[:, 16 - width:]])


def decimal_from_cents(cents: np.ndarray) -> pa.Array:
    words = np.empty(2 * len(cents), dtype=np.int64)
    words[0::2] = cents
    words[1::2] = np.where(cents < 0, -1, 0)
    return pa.Array.from_buffers(pa.decimal128(18, 2), len(cents), [None, pa.py_buffer(words)])


@dataclass
class Col:
    """One compact column. kind: ts | id | hex | cat | money | int | bool | date | float | text."""

    kind: str
    data: np.ndarray | pa.Array
    valid: np.ndarray | None = None  # for int/bool/float: False = null
    prefix: str = ""  # id/hex: text before the number; id: zero-pad width in `width`
    width: int = 0
    values: tuple[str, ...] = ()  # cat: the dictionary; code -1 = null, code >= len = unknown value

    def take(self, idx: np.ndarray) -> "Col":
        data = self.data.take(pa.array(idx)) if isinstance(self.data, pa.Array) else self.data[idx]
        return replace(self, data=data, valid=None if self.valid is None else self.valid[idx])

    def concat(self, other: "Col") -> "Col":
        if isinstance(self.data, pa.Array):
            data = pa.concat_arrays([self.data, other.data])
        else:
            data = np.concatenate([self.data, other.data])
        valid = None
        if self.valid is not None or other.valid is not None:
            valid = np.concatenate([self._valid(), other._valid()])
        return replace(self, data=data, valid=valid)

    def _valid(self) -> np.ndarray:
        return np.ones(len(self.data), dtype=bool) if self.valid is None else self.valid

    def is_null(self) -> np.ndarray:
        if self.kind == "ts":
            return self.data == NAT
        if self.kind in ("id", "cat"):
            return self.data < 0
        if self.kind == "money":
            return np.zeros(len(self.data), dtype=bool)
        if self.kind == "text":
            return self.data.is_null().to_numpy(zero_copy_only=False)
        return ~self._valid()

    def render(self, tz: np.ndarray) -> pa.Array:
        k, d = self.kind, self.data
        if k == "ts":
            return render_timestamps(d, tz)
        if k == "id":
            digits = pc.cast(pa.array(d, mask=d < 0), pa.string())
            if self.width:
                digits = pc.utf8_lpad(digits, self.width, "0")
            return pc.binary_join_element_wise(self.prefix, digits, "") if self.prefix else digits
        if k == "hex":
            text = render_hex(d, self.width or 16)
            if self.prefix:
                text = pc.binary_join_element_wise(self.prefix, text, "")
            return text if self.valid is None else pc.if_else(pa.array(self.valid), text, None)
        if k == "cat":
            # codes past the dictionary are injected unknown values ("<value>_legacy")
            dictionary = pa.array(list(self.values) + [f"{v}_legacy" for v in self.values], pa.string())
            codes = pa.array(d.astype(np.int32), mask=d < 0)
            return pa.DictionaryArray.from_arrays(codes, dictionary)  # decoded only where a writer needs it
        if k == "money":
            return decimal_from_cents(d)
        if k == "text":
            return d
        mask = None if self.valid is None else ~self.valid
        if k == "date":
            return pa.array(d.astype(np.int32), pa.date32(), mask=mask)
        if k == "int":
            return pa.array(d.astype(np.int64), pa.int64(), mask=mask)
        if k == "bool":
            return pa.array(d.astype(bool), pa.bool_(), mask=mask)
        return pa.array(d.astype(np.float64), pa.float64(), mask=mask)


def ts(sec) -> Col:
    return Col("ts", np.asarray(sec, dtype=np.int64))


def ident(num, prefix: str, width: int = 0) -> Col:
    return Col("id", np.asarray(num, dtype=np.int64), prefix=prefix, width=width)


def hexid(u, prefix: str = "", width: int = 16, valid=None) -> Col:
    return Col("hex", np.asarray(u, dtype=np.uint64), valid=valid, prefix=prefix, width=width)


def cat(codes, values: Sequence[str]) -> Col:
    return Col("cat", np.asarray(codes, dtype=np.int32), values=tuple(values))


def money(amount) -> Col:
    """Money from float amounts, kept as exact cents."""
    return Col("money", np.round(np.asarray(amount, dtype=np.float64) * 100).astype(np.int64))


def integer(values, valid=None) -> Col:
    return Col("int", np.asarray(values, dtype=np.int64), valid=valid)


def boolean(values, valid=None) -> Col:
    return Col("bool", np.asarray(values, dtype=bool), valid=valid)


def day_date(epoch_days) -> Col:
    return Col("date", np.asarray(epoch_days, dtype=np.int64))


def number(values, valid=None) -> Col:
    return Col("float", np.asarray(values, dtype=np.float64), valid=valid)


def text(values: pa.Array) -> Col:
    return Col("text", values)


@dataclass
class Frame:
    """Rows of one source: partition day (relative to start), time-zone code, columns.

    Injected rows carry their quarantine reason (-1 = clean), whether they are exact
    duplicates, the bad text for a value that cannot keep its type, and a new-key number."""

    day: np.ndarray
    tz: np.ndarray
    cols: dict[str, Col]
    reason: np.ndarray | None = None
    dup: np.ndarray | None = None
    bad_col: np.ndarray | None = None  # index into cols of the value replaced by bad text, -1 = none
    bad_text: np.ndarray | None = None  # index into BAD_TEXTS
    key_suffix: np.ndarray | None = None  # bad rows get "<key>-X<n>" as new primary key, -1 = none

    EXTRA = ("reason", "dup", "bad_col", "bad_text", "key_suffix")

    def __len__(self) -> int:
        return len(self.day)

    def slice(self, a: int, b: int) -> "Frame":
        extra = {k: None if getattr(self, k) is None else getattr(self, k)[a:b] for k in self.EXTRA}
        cols = {n: replace(c, data=c.data[a:b], valid=None if c.valid is None else c.valid[a:b])
                for n, c in self.cols.items()}
        return Frame(self.day[a:b], self.tz[a:b], cols, **extra)

    def take(self, idx: np.ndarray) -> "Frame":
        extra = {k: None if getattr(self, k) is None else getattr(self, k)[idx] for k in self.EXTRA}
        return Frame(self.day[idx], self.tz[idx], {n: c.take(idx) for n, c in self.cols.items()}, **extra)

    @staticmethod
    def concat(frames: list["Frame"]) -> "Frame":
        first = frames[0]
        cols = {}
        for name in first.cols:
            col = first.cols[name]
            for f in frames[1:]:
                col = col.concat(f.cols[name])
            cols[name] = col
        return Frame(np.concatenate([f.day for f in frames]), np.concatenate([f.tz for f in frames]), cols)

    def sort(self, *keys: np.ndarray) -> "Frame":
        """Sort by partition day, then the given keys (last key = most significant after day)."""
        order = np.lexsort((*keys, self.day)) if len(self) else np.arange(0)
        return self.take(order)
