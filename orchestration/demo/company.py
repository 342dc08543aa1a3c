"""Company-level sources that do not belong to a customer chunk: FX rates, marketing spend,
social accounts (and their posts), and the schedule of brand events."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from orchestration.catalog import ACQUISITION_CHANNELS, get_source
from orchestration.demo import core
from orchestration.demo.core import Calendar, Frame
from orchestration.demo.vocab import CAMPAIGNS, CURRENCIES, EVENT_NAMES, TZ_UTC

PLATFORMS = get_source("social_account_daily").column("platform").values
EVENT_TYPES = get_source("event_registrations").column("event_type").values
PLATFORM_WEIGHT = {"x": 0.15, "facebook": 0.2, "linkedin": 0.1, "instagram": 0.35, "tiktok": 0.2}
POSTS_PER_DAY = {"x": 3.0, "facebook": 1.0, "linkedin": 0.7, "instagram": 1.5, "tiktok": 1.0}
POST_LOOKBACK = 7  # interactions hit posts of the last week


def _frame(day: np.ndarray, cols: dict) -> Frame:
    return Frame(day=day.astype(np.int64), tz=np.full(len(day), TZ_UTC, dtype=np.int8), cols=cols)


def fx_rates(seed: int, cal: Calendar) -> tuple[Frame, np.ndarray]:
    """Daily rate to USD per currency (USD = 1.0), a few days missing; returns the frame and
    the full (currency, day) rate matrix the other sources convert with."""
    rng = core.stream(seed, "fx")
    base = {"USD": 1.0, "EUR": 1.08, "GBP": 1.27, "TRY": 0.0305}
    drift = {"USD": 0.0, "EUR": 0.0, "GBP": 0.0, "TRY": -0.0009}
    vol = {"USD": 0.0, "EUR": 0.003, "GBP": 0.0035, "TRY": 0.002}
    rates = np.vstack([
        base[c] * np.exp(np.cumsum(drift[c] + vol[c] * rng.standard_normal(cal.days))) for c in CURRENCIES
    ])
    present = rng.random(rates.shape) > 0.04
    present[CURRENCIES.index("USD")] = True
    present[:, 0] = True  # the first day always has a rate, so a latest earlier rate always exists
    cur, day = np.nonzero(present)
    frame = _frame(day, {
        "date": core.day_date(cal.day0 + day),
        "currency": core.cat(cur, CURRENCIES),
        "rate_to_usd": core.number(np.round(rates[cur, day], 6)),
    })
    return frame.sort(cur), rates


def marketing_spend(seed: int, cal: Calendar, customers: int, rates: np.ndarray) -> Frame:
    rng = core.stream(seed, "marketing")
    scale = customers / 1000.0
    factor = cal.factor("web")
    rows = []
    for ci, c in enumerate(CAMPAIGNS):  # loop over campaigns; days are vectorised
        last = cal.days - 1 if c.last_day is None else min(c.last_day, cal.days - 1)
        days = np.arange(max(c.first_day, 0), last + 1)
        if not len(days):
            continue
        usd = c.daily_usd_per_1k_customers * scale * factor[days] * rng.lognormal(0.0, 0.25, len(days))
        cur = CURRENCIES.index(c.currency)
        rows.append((days, np.full(len(days), ci), np.full(len(days), cur), usd / rates[cur, days]))
    day, camp, cur, amount = (np.concatenate(x) for x in zip(*rows))
    frame = _frame(day, {
        "date": core.day_date(cal.day0 + day),
        "channel": core.cat(np.asarray([ACQUISITION_CHANNELS.index(c.channel) for c in CAMPAIGNS])[camp],
                            ACQUISITION_CHANNELS),
        "campaign_id": core.cat(camp, [c.campaign_id for c in CAMPAIGNS]),
        "currency": core.cat(cur, CURRENCIES),
        "spend_amount": core.money(np.maximum(amount, 0.01)),
    })
    return frame.sort(camp)


@dataclass(frozen=True)
class Posts:
    """Posts of the brand's accounts: counts per (platform, day) from POST_LOOKBACK days before start."""

    counts: np.ndarray  # (platforms, POST_LOOKBACK + days)
    first_id: np.ndarray  # index of each (platform, day)'s first post in `ids`
    ids: tuple[str, ...]


def posts(seed: int, cal: Calendar) -> Posts:
    rng = core.stream(seed, "posts")
    factor = cal.factor("social", -POST_LOOKBACK, POST_LOOKBACK + cal.days)
    counts = np.vstack([rng.poisson(POSTS_PER_DAY[p] * factor) for p in PLATFORMS])
    counts[:, 0] = np.maximum(counts[:, 0], 1)  # every account has a post to interact with
    ids = [f"{p}-{cal.date(d - POST_LOOKBACK):%Y%m%d}-{k + 1}"
           for pi, p in enumerate(PLATFORMS) for d in range(counts.shape[1]) for k in range(counts[pi, d])]
    first_id = np.concatenate([[0], np.cumsum(counts.ravel())[:-1]]).reshape(counts.shape)
    return Posts(counts, first_id, tuple(ids))


def social_account_daily(seed: int, cal: Calendar, customers: int, post_table: Posts) -> Frame:
    rng = core.stream(seed, "social_accounts")
    factor = cal.factor("social")
    rows = []
    for pi, p in enumerate(PLATFORMS):
        start = int(customers * PLATFORM_WEIGHT[p] * 1.5) + 400
        gained = rng.poisson(customers * 0.0012 * PLATFORM_WEIGHT[p] * factor + 1.0)
        lost = rng.poisson(customers * 0.0003 * PLATFORM_WEIGHT[p] * factor + 0.2)
        followers = start + np.cumsum(gained - lost)
        rows.append((np.arange(cal.days), np.full(cal.days, pi), followers, post_table.counts[pi, POST_LOOKBACK:]))
    day, plat, followers, published = (np.concatenate(x) for x in zip(*rows))
    frame = _frame(day, {
        "platform": core.cat(plat, PLATFORMS),
        "date": core.day_date(cal.day0 + day),
        "followers": core.integer(followers),
        "posts_published": core.integer(published),
    })
    return frame.sort(plat)


@dataclass(frozen=True)
class BrandEvents:
    day: np.ndarray  # event day relative to start (may be before or after the window)
    type: np.ndarray  # index into EVENT_TYPES
    capacity: np.ndarray
    expected: np.ndarray  # expected registrations over all customers
    ids: tuple[str, ...]
    names: tuple[str, ...]


def brand_events(seed: int, cal: Calendar, customers: int) -> BrandEvents:
    """Events every few days from three weeks before the window to a month after it."""
    rng = core.stream(seed, "brand_events")
    day = np.cumsum(rng.integers(3, 9, cal.days // 3 + 20)) - 21
    day = day[day < cal.days + 30]
    template = rng.integers(0, len(EVENT_NAMES), len(day))
    etype = np.asarray([EVENT_TYPES.index(EVENT_NAMES[t][1]) for t in template])
    size = {"webinar": 1.0, "meetup": 0.15, "workshop": 0.06, "conference": 1.6, "launch": 0.5}
    expected = customers * 0.004 * np.asarray([size[EVENT_TYPES[t]] for t in etype]) + 2
    capacity = np.maximum(10, np.round(expected * rng.uniform(1.2, 1.8, len(day)), -1)).astype(np.int64)
    ids = tuple(f"EV-{cal.date(int(d)):%Y%m%d}-{i}" for i, d in enumerate(day))
    names = tuple(EVENT_NAMES[t][0].format(n=i + 1) for i, t in enumerate(template))
    return BrandEvents(day, etype, capacity, expected, ids, names)
