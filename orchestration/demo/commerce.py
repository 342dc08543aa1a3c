"""Orders, referrals and subscriptions of one customer chunk, plus the post-window
simulation of orders for the truth sidecar."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from orchestration.catalog import ACQUISITION_CHANNELS, PLANS, get_source
from orchestration.demo import core
from orchestration.demo.company import BrandEvents, Posts
from orchestration.demo.core import DAY, NAT, Calendar, Frame
from orchestration.demo.population import Customers
from orchestration.demo.vocab import CANCEL_REASONS, CURRENCIES, PLAN_PRICES

ID_SPAN = 10**9  # ids of chunk c are c * ID_SPAN + sequence: unique over chunks
ORDERS = get_source("orders")
ORDER_STATUS = ORDERS.column("status").values
ORDER_CHANNELS = ORDERS.column("channel").values
SUB_EVENTS = get_source("subscription_events").column("event_type").values
REFERRAL = ACQUISITION_CHANNELS.index("referral")


@dataclass
class ChunkContext:
    seed: int
    chunk: int
    cal: Calendar
    cust: Customers
    rates: np.ndarray  # (currency, day) rate to USD
    posts: Posts
    events: BrandEvents
    total_customers: int

    def rng(self, name: str) -> np.random.Generator:
        return core.stream(self.seed, name, self.chunk)

    def ids(self, seq: np.ndarray, prefix: str) -> core.Col:
        seq = np.asarray(seq, dtype=np.int64)
        return core.ident(np.where(seq >= 0, self.chunk * ID_SPAN + seq, -1), prefix, 10)


@dataclass
class Orders:
    """What other sources need to know about the chunk's orders (time-ordered)."""

    cust: np.ndarray
    t: np.ndarray
    status: np.ndarray
    channel: np.ndarray
    net_usd: np.ndarray

    def first_per_customer(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """(order number, time) of each customer's first order in the window, -1/NAT if none."""
        num, t = np.full(n, -1, dtype=np.int64), np.full(n, NAT, dtype=np.int64)
        c, first = np.unique(self.cust, return_index=True)  # rows are in time order
        num[c], t[c] = first, self.t[first]
        return num, t


def _status_and_value(rng: np.random.Generator, propensity: np.ndarray, order_value: np.ndarray):
    """Order status (returns likelier for low-propensity customers), USD value and discount share."""
    n = len(propensity)
    u = rng.random(n)
    cancelled = u < 0.05
    returned = ~cancelled & (u < 0.05 + 0.03 + 0.07 * (1 - propensity))
    status = np.where(cancelled, ORDER_STATUS.index("cancelled"),
                      np.where(returned, ORDER_STATUS.index("returned"), ORDER_STATUS.index("completed")))
    value = np.maximum(rng.gamma(4.0, order_value / 4.0), 3.0)
    discount = np.where(rng.random(n) < 0.3, rng.uniform(0.05, 0.3, n), 0.0)
    return status, value, discount


def orders(ctx: ChunkContext, friend_code: np.ndarray) -> tuple[Frame, Orders]:
    """Orders at each customer's purchase rate while alive; a referred friend's first order
    carries the referral code."""
    rng, cust, cal = ctx.rng("orders"), ctx.cust, ctx.cal
    ci, di = core.daily_draws(rng, cust.orders_per_week / 7.0, cal.factor("orders"), cust.expo)
    tz = cust.row_tz(rng, ci)
    t = core.times_in_days(rng, cal, di, tz)
    keep = (t >= cust.signup[ci]) & (t < cust.churn[ci])
    order = np.lexsort((t[keep], di[keep]))
    ci, di, tz, t = ci[keep][order], di[keep][order], tz[keep][order], t[keep][order]
    n = len(ci)
    status, value, discount = _status_and_value(rng, cust.propensity[ci], cust.order_value_usd[ci])
    channel = core.choice(rng, [0.45, 0.3, 0.18, 0.07], n)
    cur = cust.currency[ci]
    gross_c = np.round(value / ctx.rates[cur, di] * 100).astype(np.int64)
    discount_c = np.round(gross_c * discount).astype(np.int64)
    # cost of goods below the net amount, so every order has a margin
    cost_c = np.floor((gross_c - discount_c) * rng.uniform(0.35, 0.75, n)).astype(np.int64)
    info = Orders(ci, t, status, channel, (gross_c - discount_c) / 100 * ctx.rates[cur, di])
    first_num, _ = info.first_per_customer(cust.n)
    code = np.zeros(n, dtype=np.uint64)
    firsts = first_num[first_num >= 0]
    code[firsts] = friend_code[ci[firsts]]
    frame = Frame(day=di, tz=tz, cols={
        "order_id": ctx.ids(np.arange(n), "O"),
        "customer_id": cust.ids(ci),
        "ordered_at": core.ts(t),
        "status": core.cat(status, ORDER_STATUS),
        "channel": core.cat(channel, ORDER_CHANNELS),
        "currency": core.cat(cur, CURRENCIES),
        "gross_amount": core.Col("money", gross_c),
        "discount_amount": core.Col("money", discount_c),
        "cost_amount": core.Col("money", cost_c),
        "referral_code": core.hexid(code, "REF-", 8, valid=code != 0),
    })
    return frame, info


def future_orders(ctx: ChunkContext) -> tuple[np.ndarray, np.ndarray]:
    """Orders and completed net spend (USD) in the 365 days after the window, same process."""
    rng, cust, cal = ctx.rng("future"), ctx.cust, ctx.cal
    factor = cal.factor("orders", cal.days, 365)
    cum = np.concatenate([[0.0], np.cumsum(factor)])
    alive = np.clip((cust.churn - cal.t_end) / DAY, 0, 365)
    whole = alive.astype(np.int64)
    exposure = cum[whole] + (alive - whole) * factor[np.minimum(whole, 364)]
    count = rng.poisson(cust.orders_per_week / 7.0 * exposure)
    ci = np.repeat(np.arange(cust.n), count)
    status, value, discount = _status_and_value(rng, cust.propensity[ci], cust.order_value_usd[ci])
    completed = status == ORDER_STATUS.index("completed")
    spend = np.bincount(ci, weights=value * (1 - discount) * completed, minlength=cust.n)
    return count, spend


@dataclass
class ReferralPlan:
    friends: np.ndarray  # customers who signed up through a referral in the window
    referrer: np.ndarray
    created: np.ndarray  # when the referrer shared the code
    code: np.ndarray  # per customer: referral code label (uint64), 0 = none
    friend_code: np.ndarray  # per customer: the code the friend signed up with, 0 = none


def plan_referrals(ctx: ChunkContext) -> ReferralPlan:
    rng, cust, cal = ctx.rng("referral_plan"), ctx.cust, ctx.cal
    code = core.mix64(cust.gidx, ctx.seed) | np.uint64(1)
    friends = np.flatnonzero((cust.channel == REFERRAL) & (cust.signup >= cal.t0))
    candidates = np.flatnonzero(cust.signup < cal.t0)
    if not len(candidates):
        friends = friends[:0]
    weight = cust.activity[candidates]
    referrer = candidates[core.choice(rng, weight, len(friends))] if len(friends) else friends
    created = cust.signup[friends] - (rng.uniform(0.2, 10.0, len(friends)) * DAY).astype(np.int64)
    friend_code = np.zeros(cust.n, dtype=np.uint64)
    friend_code[friends] = code[referrer]
    return ReferralPlan(friends, referrer, created, code, friend_code)


def referrals(ctx: ChunkContext, plan: ReferralPlan, info: Orders) -> Frame:
    """Converted referrals are re-sent when the friend signs up and again at the first order."""
    rng, cust, cal = ctx.rng("referrals"), ctx.cust, ctx.cal
    ci, di = core.daily_draws(rng, 0.0012 * cust.activity, cal.factor("flat"), cust.expo)
    t = core.times_in_days(rng, cal, di, cust.tz[ci])
    referrer = np.concatenate([plan.referrer, ci])
    created = np.concatenate([plan.created, t])
    friend = np.concatenate([plan.friends, np.full(len(ci), -1)])
    signed = np.where(friend >= 0, cust.signup[np.maximum(friend, 0)], NAT)
    first_num, first_t = info.first_per_customer(cust.n)
    fo_num = np.where(friend >= 0, first_num[np.maximum(friend, 0)], -1)
    fo_t = np.where(friend >= 0, first_t[np.maximum(friend, 0)], NAT)
    m = len(referrer)
    ent = np.tile(np.arange(m), 3)
    e, v, when, day = core.latest_per_day(cal, ent, np.repeat(np.arange(3), m), np.concatenate([created, signed, fo_t]))
    frame = Frame(day=day, tz=cust.row_tz(rng, referrer[e]), cols={
        "referral_id": ctx.ids(e, "RF"),
        "referral_code": core.hexid(plan.code[referrer[e]], "REF-", 8),
        "referrer_customer_id": cust.ids(referrer[e]),
        "referred_customer_id": cust.ids(np.where(v >= 1, friend[e], -1)),
        "created_at": core.ts(created[e]),
        "signed_up_at": core.ts(np.where(v >= 1, signed[e], NAT)),
        "first_order_id": ctx.ids(np.where(v >= 2, fo_num[e], -1), "O"),
    })
    return frame.sort(when)


def subscriptions(ctx: ChunkContext) -> Frame:
    """Trials (converted or expired after 14 days), direct subscriptions and subscribers from
    before the window; monthly renewals, plan changes, cancellation at churn or by choice."""
    rng, cust, cal = ctx.rng("subscriptions"), ctx.cust, ctx.cal
    n, p = cust.n, cust.propensity
    affinity = 0.1 + 0.35 * p
    alive0 = (cust.signup < cal.t0) & (cust.churn > cal.t0)
    new = cust.signup >= cal.t0
    existing = alive0 & (rng.random(n) < 0.8 * affinity)
    trial = (new & (rng.random(n) < affinity)) | (alive0 & ~existing & (rng.random(n) < 0.12 * affinity))
    direct = new & ~trial & (rng.random(n) < 0.25 * affinity)
    ev: list[tuple] = []  # (subscription, event type, plan, time, cancel reason)

    def plan_pick(k: int) -> np.ndarray:  # basic / pro / enterprise
        return 1 + core.choice(rng, [0.55, 0.33, 0.12], k)

    def emit(sub, etype, plan, t, reason=None):
        ev.append((sub, np.full(len(sub), SUB_EVENTS.index(etype)), plan, t,
                   np.full(len(sub), -1) if reason is None else reason))

    tr = np.flatnonzero(trial)
    start = np.where(new[tr], cust.signup[tr], cal.t0 + (rng.uniform(0, cal.days, len(tr)) * DAY).astype(np.int64))
    start = start + rng.integers(600, 3 * DAY, len(tr))
    tr, start = tr[start < cust.churn[tr]], start[start < cust.churn[tr]]
    ex, dr = np.flatnonzero(existing), np.flatnonzero(direct)
    owner = np.concatenate([tr, ex, dr])  # subscription number = position in owner
    sub_tr = np.arange(len(tr))
    sub_ex = len(tr) + np.arange(len(ex))
    sub_dr = len(tr) + len(ex) + np.arange(len(dr))
    emit(sub_tr, "trial_started", np.full(len(tr), PLANS.index("pro")), start)
    trial_end = start + 14 * DAY
    converted = (rng.random(len(tr)) < 0.2 + 0.5 * p[tr]) & (trial_end < cust.churn[tr])
    conv_plan = 1 + (rng.random(len(tr)) < 0.4)
    emit(sub_tr[converted], "trial_converted", conv_plan[converted], trial_end[converted])
    emit(sub_tr[~converted], "trial_expired", np.full((~converted).sum(), PLANS.index("free")), trial_end[~converted])
    dr_t = cust.signup[dr] + rng.integers(600, 2 * DAY, len(dr))
    dr_plan = plan_pick(len(dr))
    emit(sub_dr, "subscribed", dr_plan, dr_t)

    paid = np.concatenate([sub_tr[converted], sub_ex, sub_dr])
    anchor = np.concatenate([trial_end[converted], cal.t0 - (rng.uniform(0, 30, len(ex)) * DAY).astype(np.int64), dr_t])
    plan = np.concatenate([conv_plan[converted], plan_pick(len(ex)), dr_plan])
    c = owner[paid]
    at_churn = cust.churn[c] + rng.integers(0, 3 * DAY, len(c))
    by_choice = anchor + (rng.exponential(450.0, len(c)) * DAY).astype(np.int64)
    cancel_t = np.minimum(at_churn, by_choice)
    for k in range((cal.days + 60) // 30 + 1):  # monthly cycles, vectorised over subscriptions
        tc = anchor + ((30 * k + rng.uniform(5, 25, len(c))) * DAY).astype(np.int64)
        u = rng.random(len(c))
        up = (u < 0.04) & (plan < 3) & (tc < cancel_t)
        down = (u >= 0.04) & (u < 0.065) & (plan > 1) & (tc < cancel_t)
        plan = plan + up - down
        emit(paid[up], "upgraded", plan[up], tc[up])
        emit(paid[down], "downgraded", plan[down], tc[down])
        renew_t = anchor + 30 * (k + 1) * DAY
        renew = renew_t < cancel_t
        emit(paid[renew], "renewed", plan[renew], renew_t[renew])
    reason = np.where(by_choice < at_churn, core.choice(rng, [3, 1, 2, 3, 1, 2, 1], len(c)),
                      core.choice(rng, [3, 4, 2, 0, 1, 0, 1], len(c)))
    emit(paid, "cancelled", plan, cancel_t, reason)

    sub, etype, plan, t, reason = (np.concatenate(x) for x in zip(*ev))
    keep = (t >= cal.t0) & (t < cal.t_end)
    sub, etype, plan, t, reason = sub[keep], etype[keep], plan[keep], t[keep], reason[keep]
    order = np.lexsort((t, (t - cal.t0) // DAY))
    sub, etype, plan, t, reason = sub[order], etype[order], plan[order], t[order], reason[order]
    ci = owner[sub]
    cur = cust.currency[ci]
    prices = np.array([[PLAN_PRICES[pl][c] for c in CURRENCIES] for pl in PLANS])
    no_revenue = np.isin(etype, [SUB_EVENTS.index(x) for x in ("trial_started", "trial_expired", "cancelled")])
    mrr = np.where(no_revenue, 0.0, prices[plan, cur])
    return Frame(day=(t - cal.t0) // DAY, tz=cust.row_tz(rng, ci), cols={
        "event_id": ctx.ids(np.arange(len(t)), "SE"),
        "subscription_id": ctx.ids(sub, "SUB"),
        "customer_id": cust.ids(ci),
        "event_type": core.cat(etype, SUB_EVENTS),
        "plan": core.cat(plan, PLANS),
        "mrr": core.money(mrr),
        "currency": core.cat(cur, CURRENCIES),
        "occurred_at": core.ts(t),
        "cancel_reason": core.cat(reason, CANCEL_REASONS),
    })
