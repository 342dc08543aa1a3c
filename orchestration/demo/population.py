"""Customers: latent traits, lifetimes, CRM versions and the truth sidecar."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from orchestration.catalog import get_source
from orchestration.demo import core
from orchestration.demo.core import DAY, NAT, Calendar, Frame
from orchestration.demo.vocab import ASCII_FOLD, COUNTRIES, CURRENCIES, INCOME_ORDER_VALUE, PERSONAS, TZ_NAIVE

CRM = get_source("crm_customers")
GENDERS = CRM.column("gender").values
INCOME_BANDS = CRM.column("income_band").values
CHANNELS = CRM.column("acquisition_channel").values
PERSONA_NAMES = tuple(PERSONAS)
COUNTRY_CODES = tuple(c.code for c in COUNTRIES)
CITIES = tuple(dict.fromkeys(city for c in COUNTRIES for city in c.cities))

NAIVE_SHARE = 0.02  # rows whose timestamps are written without offset (UTC)
PRE_EXISTING_SHARE = 0.72  # customers who signed up before the window
LATE_CRM_SHARE = 0.04  # customers whose CRM row arrives 1-5 days after their first facts
HORIZON_DAYS = 730  # lifetimes are simulated this far past the window


@dataclass
class Customers:
    """Latent traits and attributes of one chunk of customers (arrays of length n)."""

    gidx: np.ndarray  # global customer index
    country: np.ndarray
    tz: np.ndarray
    currency: np.ndarray  # index into CURRENCIES
    signup: np.ndarray  # epoch seconds
    churn: np.ndarray  # epoch seconds when activity stops (may be past the window)
    propensity: np.ndarray
    activity: np.ndarray  # event-rate multiplier derived from propensity (mean ~1)
    orders_per_week: np.ndarray
    order_value_usd: np.ndarray
    hazard: np.ndarray  # churn hazard per day
    persona: np.ndarray
    income: np.ndarray
    channel: np.ndarray
    opt_in: np.ndarray
    crm_arrival: np.ndarray  # epoch seconds of the first CRM version
    updates: np.ndarray  # (n, 2) epoch seconds of later CRM versions, NAT = none
    update_kind: np.ndarray  # (n, 2) what changed: 0 city, 1 marketing opt-in, 2 phone
    expo: np.ndarray  # (n, days) share of each day the customer is signed up and not churned
    id_width: int

    @property
    def n(self) -> int:
        return len(self.gidx)

    def ids(self, idx: np.ndarray) -> core.Col:
        """customer_id column for customer positions idx (-1 = null)."""
        idx = np.asarray(idx)
        return core.ident(np.where(idx >= 0, self.gidx[np.maximum(idx, 0)] + 1, -1), "C", self.id_width)

    def row_tz(self, rng: np.random.Generator, idx: np.ndarray) -> np.ndarray:
        """Time-zone code per row: the customer's offset, a small share naive."""
        tz = self.tz[idx]
        return np.where(rng.random(len(idx)) < NAIVE_SHARE, TZ_NAIVE, tz).astype(np.int8)

    def opted_in(self, idx: np.ndarray, t: np.ndarray | int) -> np.ndarray:
        """Marketing consent at time t (a CRM update may have flipped it)."""
        flip = np.where(self.update_kind[idx, 0] == 1, self.updates[idx, 0], NAT)
        return self.opt_in[idx] ^ ((flip != NAT) & (flip <= t))


def make_customers(seed: int, chunk: int, first: int, n: int, total: int, cal: Calendar) -> Customers:
    rng = core.stream(seed, "customers", chunk)
    country = core.choice(rng, [c.weight for c in COUNTRIES], n)
    tz_pick = rng.random(n)
    tz = np.empty(n, dtype=np.int8)
    for ci, c in enumerate(COUNTRIES):  # loop over countries, not rows
        sel = country == ci
        tz[sel] = np.asarray(c.tz)[(tz_pick[sel] * len(c.tz)).astype(int)]
    currency = np.asarray([CURRENCIES.index(c.currency) for c in COUNTRIES])[country]

    persona = core.choice(rng, [0.24, 0.18, 0.2, 0.16, 0.22], n)
    shift = np.asarray([v[0] for v in PERSONAS.values()])[persona]
    churn_mult = np.asarray([v[1] for v in PERSONAS.values()])[persona]
    propensity = np.clip(rng.beta(2.2, 3.0, n) + shift, 0.02, 0.98)
    activity = (propensity / 0.42) ** 1.6
    income = core.choice(rng, [0.35, 0.45, 0.2], n)
    orders_per_week = rng.gamma(2.0, 0.09 * (0.3 + 1.7 * propensity))
    order_value_usd = rng.gamma(3.0, np.asarray(list(INCOME_ORDER_VALUE.values()))[income] / 3.0)
    hazard = 0.0016 * (1.7 - propensity) * churn_mult

    pre = rng.random(n) < PRE_EXISTING_SHARE
    age = np.minimum(rng.exponential(240.0, n), 1500.0) + 0.01
    new_at = rng.random(n) ** 0.85 * cal.days  # slightly more signups later: a growing business
    signup = np.where(pre, cal.t0 - age * DAY, cal.t0 + new_at * DAY).astype(np.int64)
    churn = signup + (rng.exponential(1.0, n) / hazard * DAY).astype(np.int64)

    channel = core.choice(rng, [0.32, 0.2, 0.16, 0.08, 0.1, 0.08, 0.06], n)
    opt_in = rng.random(n) < 0.45 + 0.35 * propensity

    late = rng.random(n) < LATE_CRM_SHARE
    delay = np.where(late, rng.integers(1, 6, n) * DAY + rng.integers(0, DAY, n), 0)
    first_seen = np.where(pre, cal.t0 + rng.integers(0, 4 * 3600, n), signup + rng.integers(60, 900, n))
    crm_arrival = first_seen + delay
    # CRM updates on later days than the first version; only the first may change the opt-in
    count = core.choice(rng, [0.9, 0.08, 0.02], n)
    gap = 1 + np.column_stack([rng.geometric(0.08, n), rng.geometric(0.1, n)]).cumsum(axis=1)
    updates = ((crm_arrival - cal.t0) // DAY)[:, None] + gap
    updates = cal.t0 + updates * DAY + rng.integers(0, DAY, (n, 2))
    updates = np.where(np.arange(2)[None, :] < count[:, None], updates, NAT)
    update_kind = np.column_stack([core.choice(rng, [0.5, 0.35, 0.15], n), np.where(rng.random(n) < 0.6, 0, 2)])

    return Customers(
        gidx=np.arange(first, first + n, dtype=np.int64), country=country, tz=tz, currency=currency,
        signup=signup, churn=churn, propensity=propensity, activity=activity, orders_per_week=orders_per_week,
        order_value_usd=order_value_usd, hazard=hazard, persona=persona, income=income, channel=channel,
        opt_in=opt_in, crm_arrival=crm_arrival, updates=updates, update_kind=update_kind,
        expo=core.exposure(cal, signup, churn), id_width=max(7, len(str(total))),
    )


def _fold(names: tuple[str, ...]) -> pa.Array:
    """ASCII e-mail spelling of a name pool (a loop over the pool, not over rows)."""
    return pa.array([x.translate(ASCII_FOLD).lower() for x in names])


def _names(rng: np.random.Generator, cust: Customers) -> tuple[pa.Array, ...]:
    """full_name, email, phone (null for some) and a changed phone number per customer."""
    n = cust.n
    first_i = rng.random(n)
    last_i = rng.random(n)
    dom_i = rng.random(n)
    num = rng.integers(1, 1000, n)
    digits = rng.integers(0, 10**9, (2, n))
    has_phone = rng.random(n) < 0.8
    parts_full, parts_email, parts_phone, parts_new, order = [], [], [], [], []
    for ci, c in enumerate(COUNTRIES):  # loop over countries; rows are vectorised
        sel = np.flatnonzero(cust.country == ci)
        f = (first_i[sel] * len(c.first_names)).astype(int)
        last = (last_i[sel] * len(c.last_names)).astype(int)
        d = (dom_i[sel] * len(c.email_domains)).astype(int)
        first_names = pa.array(c.first_names).take(pa.array(f))
        last_names = pa.array(c.last_names).take(pa.array(last))
        parts_full.append(pc.binary_join_element_wise(first_names, last_names, " "))
        parts_email.append(pc.binary_join_element_wise(
            _fold(c.first_names).take(pa.array(f)), ".", _fold(c.last_names).take(pa.array(last)),
            pc.cast(pa.array(num[sel]), pa.string()), "@", pa.array(c.email_domains).take(pa.array(d)), ""))
        local, other = (pc.utf8_lpad(pc.cast(pa.array(x[sel]), pa.string()), 9, "0") for x in digits)
        parts_phone.append(pc.if_else(pa.array(has_phone[sel]), pc.binary_join_element_wise(c.phone, local, ""), None))
        parts_new.append(pc.binary_join_element_wise(c.phone, other, ""))
        order.append(sel)
    back = pa.array(np.argsort(np.concatenate(order), kind="stable"))
    return tuple(pa.concat_arrays(p).take(back) for p in (parts_full, parts_email, parts_phone, parts_new))


def crm_frame(seed: int, chunk: int, cust: Customers, cal: Calendar) -> Frame:
    """First CRM version of every customer plus a few later updates (city, opt-in, phone)."""
    rng = core.stream(seed, "crm", chunk)
    n = cust.n
    full, email, phone, new_phone = _names(rng, cust)
    city = np.empty(n, dtype=np.int32)
    city_alt = np.empty(n, dtype=np.int32)
    for ci, c in enumerate(COUNTRIES):
        sel = cust.country == ci
        pool = np.asarray([CITIES.index(x) for x in c.cities])
        pick = rng.integers(0, len(pool), sel.sum())
        city[sel] = pool[pick]
        city_alt[sel] = pool[(pick + rng.integers(1, len(pool), sel.sum())) % len(pool)]
    city = np.where(rng.random(n) < 0.1, -1, city)
    birth = rng.normal(1987, 11, n).clip(1945, 2008).astype(np.int64)
    birth_valid = rng.random(n) > 0.08
    gender = core.choice(rng, [0.49, 0.47, 0.02], n)
    gender = np.where(rng.random(n) < 0.03, -1, gender)
    income = np.where(rng.random(n) < 0.05, -1, cust.income)
    persona = np.where(rng.random(n) < 0.05, -1, cust.persona)

    idx, ver, when, day = core.latest_per_day(cal, np.tile(np.arange(n), 3), np.repeat(np.arange(3), n),
                                              np.concatenate([cust.crm_arrival, cust.updates[:, 0], cust.updates[:, 1]]))
    changed = [(ver > k) & (cust.update_kind[idx, k] == kind) for k in range(2) for kind in range(3)]
    city_changed, phone_changed = changed[0] | changed[3], changed[2] | changed[5]
    opt = cust.opt_in[idx] ^ changed[1]
    phone_col = pc.if_else(pa.array(phone_changed), new_phone.take(pa.array(idx)), phone.take(pa.array(idx)))
    frame = Frame(
        day=day,
        tz=cust.row_tz(rng, idx),
        cols={
            "customer_id": cust.ids(idx),
            "email": core.text(email.take(pa.array(idx))),
            "full_name": core.text(full.take(pa.array(idx))),
            "phone": core.text(phone_col),
            "signup_at": core.ts(cust.signup[idx]),
            "country": core.cat(cust.country[idx], COUNTRY_CODES),
            "city": core.cat(np.where(city_changed, city_alt[idx], city[idx]), CITIES),
            "birth_year": core.integer(birth[idx], birth_valid[idx]),
            "gender": core.cat(gender[idx], GENDERS),
            "income_band": core.cat(income[idx], INCOME_BANDS),
            "persona": core.cat(persona[idx], PERSONA_NAMES),
            "acquisition_channel": core.cat(cust.channel[idx], CHANNELS),
            "marketing_opt_in": core.boolean(opt),
            "updated_at": core.ts(when),
        },
    )
    return frame.sort(when)


def truth_table(cust: Customers, cal: Calendar, orders_in_window: np.ndarray, spend_in_window: np.ndarray,
                future_orders: np.ndarray, future_spend: np.ndarray) -> pa.Table:
    end = cal.t_end
    churn_day = cust.churn // DAY
    churn_known = cust.churn < end + HORIZON_DAYS * DAY
    return pa.table({
        "customer_id": cust.ids(np.arange(cust.n)).render(np.zeros(cust.n, np.int8)),
        "signup_date": pa.array((cust.signup // DAY).astype(np.int32), pa.date32()),
        "country": pa.array(np.asarray(COUNTRY_CODES)[cust.country]),
        "persona": pa.array(np.asarray(PERSONA_NAMES)[cust.persona]),
        "engagement_propensity": pa.array(cust.propensity),
        "purchase_rate_per_week": pa.array(cust.orders_per_week),
        "mean_order_value": pa.array(cust.order_value_usd),
        "churn_hazard_per_day": pa.array(cust.hazard),
        "churn_date": pa.array(churn_day.astype(np.int32), pa.date32(), mask=~churn_known),
        "is_alive_at_end": pa.array(cust.churn >= end),
        "orders_in_window": pa.array(orders_in_window.astype(np.int64)),
        "spend_in_window": pa.array(np.round(spend_in_window, 2).astype(np.float64)),
        "future_orders_365d": pa.array(future_orders.astype(np.int64)),
        "future_spend_365d": pa.array(np.round(future_spend, 2).astype(np.float64)),
        "churned_within_90d_after_end": pa.array((cust.churn >= end) & (cust.churn < end + 90 * DAY)),
    })
