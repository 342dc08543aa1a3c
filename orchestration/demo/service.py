"""Support tickets, surveys and brand-event registrations of one customer chunk: entities
whose later states are re-sent on later days."""

from __future__ import annotations

import numpy as np

from orchestration.catalog import get_source
from orchestration.demo import core
from orchestration.demo.commerce import ORDER_STATUS, ChunkContext, Orders
from orchestration.demo.company import EVENT_TYPES
from orchestration.demo.core import DAY, NAT, Frame
from orchestration.demo.population import COUNTRY_CODES
from orchestration.demo.vocab import COMMENTS, TICKET_CATEGORIES

TICKETS = get_source("support_tickets")
TICKET_CHANNELS = TICKETS.column("channel").values
TICKET_STATUS = TICKETS.column("status").values
SURVEYS = get_source("survey_responses")
SURVEY_TYPES = SURVEYS.column("survey_type").values
TOUCHPOINTS = SURVEYS.column("touchpoint").values
SURVEY_CHANNELS = SURVEYS.column("channel").values
SCORE_RANGES = SURVEYS.range_by[0].ranges

# first-response delay (mean seconds) and agent handling time (mean seconds) per contact channel
_RESPONSE = {"phone": 20, "email": 10 * 3600, "chat": 90, "whatsapp": 1200, "social": 4 * 3600}
_HANDLE = {"phone": 540, "email": 380, "chat": 640, "whatsapp": 460, "social": 300}
# version kinds of a ticket, in time order
OPEN, PENDING, RESOLVED, REOPENED, RESOLVED_AGAIN, CLOSED, JUNK = range(7)


def support_tickets(ctx: ChunkContext) -> tuple[Frame, np.ndarray, np.ndarray]:
    """Ticket versions: opened -> first response -> resolved (-> reopened -> resolved) ->
    closed, or marked spam/duplicate; one row per ticket and day it changed. Returns the
    frame and (customer, time) of first resolutions (for support surveys)."""
    rng, cust, cal = ctx.rng("tickets"), ctx.cust, ctx.cal
    rate = 0.0025 + 0.2 * cust.orders_per_week / 7.0 + 0.002 * (1 - cust.propensity)
    ci, di = core.daily_draws(rng, rate, cal.factor("support"), cust.expo)
    t0 = core.times_in_days(rng, cal, di, cust.tz[ci])
    ok = (t0 >= cust.signup[ci]) & (t0 < cust.churn[ci])
    order = np.argsort(t0[ok], kind="stable")
    ci, t0 = ci[ok][order], t0[ok][order]
    k = len(ci)
    channel = core.choice(rng, [0.25, 0.3, 0.3, 0.1, 0.05], k)
    resp_mean = np.array([_RESPONSE[c] for c in TICKET_CHANNELS], dtype=float)[channel]
    handle_mean = np.array([_HANDLE[c] for c in TICKET_CHANNELS], dtype=float)[channel]
    category = rng.integers(0, len(TICKET_CATEGORIES), k)
    agent = rng.integers(1, max(5, ctx.total_customers // 2500) + 1, k)
    junk = rng.random(k) < 0.05
    junk_status = np.where(rng.random(k) < 0.4, TICKET_STATUS.index("spam"), TICKET_STATUS.index("duplicate"))
    reopen = ~junk & (rng.random(k) < 0.08)

    t = np.full((k, 7), NAT, dtype=np.int64)
    t[:, OPEN] = t0
    t1 = t0 + 10 + rng.exponential(resp_mean).astype(np.int64)
    t2 = t1 + 300 + (rng.exponential(1.2, k) * DAY).astype(np.int64)
    t3 = t2 + 600 + (rng.exponential(2.0, k) * DAY).astype(np.int64)
    t4 = t3 + 600 + (rng.exponential(1.0, k) * DAY).astype(np.int64)
    t5 = np.where(reopen, t4, t2) + 4 * DAY + rng.integers(0, 6 * 3600, k)
    t[:, PENDING], t[:, RESOLVED], t[:, CLOSED] = (np.where(junk, NAT, x) for x in (t1, t2, t5))
    t[:, REOPENED], t[:, RESOLVED_AGAIN] = np.where(reopen, t3, NAT), np.where(reopen, t4, NAT)
    t[:, JUNK] = np.where(junk, t0 + rng.integers(60, 7200, k), NAT)

    contacts1 = 1 + rng.poisson(0.6 + 0.5 * (t2 - t1) / DAY)
    extra = 1 + rng.poisson(0.5, k)
    handle1 = rng.gamma(2.0, handle_mean / 2.0) * contacts1
    handle2 = handle1 + rng.gamma(2.0, handle_mean / 2.0) * extra
    e, v, when, day = core.latest_per_day(cal, np.repeat(np.arange(k), 7), np.tile(np.arange(7), k), t.ravel())
    status = np.array([TICKET_STATUS.index(s) for s in ("open", "pending", "resolved", "open", "resolved",
                                                        "closed", "open")])[v]
    status = np.where(v == JUNK, junk_status[e], status)
    answered = (v >= PENDING) & (v <= CLOSED)
    resolved_at = np.select([v == RESOLVED, v == RESOLVED_AGAIN, v == CLOSED],
                            [t2[e], t4[e], np.where(reopen[e], t4[e], t2[e])], NAT)
    handle = np.select([v == PENDING, np.isin(v, (RESOLVED, REOPENED)), np.isin(v, (RESOLVED_AGAIN, CLOSED)), v == JUNK],
                       [0.3 * handle1[e], handle1[e], np.where(reopen[e], handle2[e], handle1[e]), 45.0], np.nan)
    contacts = np.select([v <= PENDING, v == RESOLVED, v == REOPENED, np.isin(v, (RESOLVED_AGAIN, CLOSED))],
                         [1, contacts1[e], contacts1[e] + 1, np.where(reopen[e], contacts1[e] + extra[e], contacts1[e])], 1)
    frame = Frame(day=day, tz=cust.row_tz(rng, ci[e]), cols={
        "ticket_id": ctx.ids(e, "T"),
        "customer_id": cust.ids(ci[e]),
        "channel": core.cat(channel[e], TICKET_CHANNELS),
        "category": core.cat(category[e], TICKET_CATEGORIES),
        "agent_id": core.ident(agent[e], "AG-", 4),
        "opened_at": core.ts(t0[e]),
        "first_response_at": core.ts(np.where(answered, t1[e], NAT)),
        "resolved_at": core.ts(resolved_at),
        "handle_time_seconds": core.integer(np.nan_to_num(np.round(handle)), ~np.isnan(handle)),
        "contacts_count": core.integer(contacts),
        "reopened": core.boolean(reopen[e] & (v >= REOPENED) & (v <= CLOSED)),
        "status": core.cat(status, TICKET_STATUS),
        "updated_at": core.ts(when),
    }).sort(when)
    solved = ~junk & (t2 < cal.t_end)
    return frame, ci[solved], t2[solved]


def _comment_pool() -> tuple[tuple[str, ...], dict]:
    texts, first = [], {}
    for key, items in COMMENTS.items():
        first[key] = (len(texts), len(items))
        texts.extend(items)
    return tuple(texts), first


COMMENT_TEXTS, _COMMENT_FIRST = _comment_pool()


def survey_responses(ctx: ChunkContext, info: Orders, resolved: tuple, sessions: tuple, app_opens: tuple) -> Frame:
    """Invitations after purchases, support contacts, onboarding, web and app visits, plus
    periodic NPS. About 30% answer (more with higher propensity), scores follow propensity;
    an invitation answered on a later day is re-sent that day with its answer."""
    rng, cust, cal = ctx.rng("surveys"), ctx.cust, ctx.cal
    tp = {name: TOUCHPOINTS.index(name) for name in TOUCHPOINTS}
    st = {name: SURVEY_TYPES.index(name) for name in SURVEY_TYPES}
    ch = {name: SURVEY_CHANNELS.index(name) for name in SURVEY_CHANNELS}
    parts = []  # (customer, sent time, touchpoint, survey type, channel)

    def invite(ci, t, touchpoint, types, channels):
        k = len(ci)
        parts.append((ci, t, np.full(k, tp[touchpoint]), np.asarray([st[x] for x in types])[rng.integers(0, len(types), k)],
                      np.asarray([ch[x] for x in channels])[rng.integers(0, len(channels), k)]))

    done = np.flatnonzero((info.status == ORDER_STATUS.index("completed")) & (rng.random(len(info.cust)) < 0.25))
    invite(info.cust[done], info.t[done] + rng.integers(DAY, 2 * DAY, len(done)), "post_purchase", ["csat"],
           ["email", "sms", "whatsapp"])
    rc, rt = resolved
    pick = rng.random(len(rc)) < 0.5
    invite(rc[pick], rt[pick] + 3600, "support_contact", ["ces", "ces", "csat"], ["email", "chat", "whatsapp"])
    newc = np.flatnonzero((cust.signup >= cal.t0 - 7 * DAY) & (rng.random(cust.n) < 0.4))
    invite(newc, cust.signup[newc] + 7 * DAY, "onboarding", ["csat"], ["email", "in_app"])
    sc, stime = sessions
    invite(sc, stime + 60, "website", ["ces", "nps"], ["web_popup"])
    ac, atime = app_opens
    invite(ac, atime + 30, "app", ["nps", "csat"], ["in_app"])
    pi, pd = core.daily_draws(rng, np.full(cust.n, 1 / 150), cal.factor("email"), cust.expo)
    invite(pi, core.times_in_days(rng, cal, pd, cust.tz[pi]), "periodic", ["nps"], ["email", "sms"])
    ci, sent, touch, stype, chan = (np.concatenate(x) for x in zip(*parts))
    inside = (sent >= cal.t0) & (sent < cal.t_end)
    ci, sent, touch, stype, chan = ci[inside], sent[inside], touch[inside], stype[inside], chan[inside]
    order = np.argsort(sent, kind="stable")
    ci, sent, touch, stype, chan = ci[order], sent[order], touch[order], stype[order], chan[order]
    k = len(ci)

    p = cust.propensity[ci]
    instant = np.isin(chan, [ch["in_app"], ch["web_popup"], ch["chat"]])
    delay = np.where(instant, 20 + rng.exponential(90.0, k), 600 + rng.exponential(20.0, k) * 3600).astype(np.int64)
    answer_t = sent + delay
    answered = (rng.random(k) < 0.15 + 0.36 * p) & (answer_t < cust.churn[ci])
    sat = 1.3 * (p - 0.42) + rng.normal(0, 0.3, k) - 0.15 * (touch == tp["support_contact"])
    lo = np.array([SCORE_RANGES[s][0] for s in SURVEY_TYPES])[stype]
    hi = np.array([SCORE_RANGES[s][1] for s in SURVEY_TYPES])[stype]
    score = np.clip(np.round(lo + (hi - lo) * (0.72 + 0.45 * sat)), lo, hi).astype(np.int64)
    share = (score - lo) / (hi - lo)
    mood = np.where(share >= 0.85, 0, np.where(share >= 0.6, 1, 2))  # positive / neutral / negative
    turkish = (cust.country[ci] == COUNTRY_CODES.index("TR")) & (rng.random(k) < 0.9)
    comment = np.full(k, -1)
    with_comment = answered & (rng.random(k) < 0.4)
    for lang_i, lang in enumerate(("en", "tr")):  # loop over (language, mood) pools
        for mood_i, m in enumerate(("pos", "neu", "neg")):
            sel = with_comment & (turkish == bool(lang_i)) & (mood == mood_i)
            first, size = _COMMENT_FIRST[(lang, m)]
            comment[sel] = first + rng.integers(0, size, sel.sum())

    ent = np.concatenate([np.arange(k), np.flatnonzero(answered)])
    ver = np.concatenate([np.zeros(k, np.int64), np.ones(answered.sum(), np.int64)])
    e, v, when, day = core.latest_per_day(cal, ent, ver, np.concatenate([sent, answer_t[answered]]))
    got = v == 1
    return Frame(day=day, tz=cust.row_tz(rng, ci[e]), cols={
        "invitation_id": ctx.ids(e, "INV"),
        "customer_id": cust.ids(ci[e]),
        "survey_type": core.cat(stype[e], SURVEY_TYPES),
        "touchpoint": core.cat(touch[e], TOUCHPOINTS),
        "channel": core.cat(chan[e], SURVEY_CHANNELS),
        "sent_at": core.ts(sent[e]),
        "responded_at": core.ts(np.where(got, answer_t[e], NAT)),
        "score": core.integer(score[e], got),
        "comment": core.cat(np.where(got, comment[e], -1), COMMENT_TEXTS),
    }).sort(when)


def event_registrations(ctx: ChunkContext) -> Frame:
    """Registrations 1-21 days before each brand event; some cancelled later (re-sent), the
    rest re-sent the morning after the event with attended true/false."""
    rng, cust, cal, ev = ctx.rng("registrations"), ctx.cust, ctx.cal, ctx.events
    count = rng.poisson(ev.expected * cust.n / ctx.total_customers)
    e_of = np.repeat(np.arange(len(ev.day)), count)
    start_t = cal.t0 + ev.day[e_of] * DAY + 17 * 3600
    reg_t = start_t - (rng.uniform(0.5, 21.0, len(e_of)) * DAY).astype(np.int64)
    ci = core.choice(rng, cust.activity, len(e_of))
    ok = (cust.signup[ci] < reg_t) & (cust.churn[ci] > reg_t)
    e_of, start_t, reg_t, ci = e_of[ok], start_t[ok], reg_t[ok], ci[ok]
    _, first = np.unique(e_of * cust.n + ci, return_index=True)  # one registration per customer and event
    first = np.sort(first)
    e_of, start_t, reg_t, ci = e_of[first], start_t[first], reg_t[first], ci[first]
    k = len(ci)
    cancelled = rng.random(k) < 0.1
    cancel_t = reg_t + 600 + (rng.random(k) * np.maximum(start_t - reg_t - 600, 1)).astype(np.int64)
    report_t = cal.t0 + (ev.day[e_of] + 1) * DAY + rng.integers(8 * 3600, 12 * 3600, k)
    attended = (rng.random(k) < 0.4 + 0.45 * cust.propensity[ci]) & (cust.churn[ci] > start_t)
    times = np.concatenate([reg_t, np.where(cancelled, cancel_t, NAT), np.where(cancelled, NAT, report_t)])
    e, v, when, day = core.latest_per_day(cal, np.tile(np.arange(k), 3), np.repeat(np.arange(3), k), times)
    ev_i = e_of[e]
    return Frame(day=day, tz=cust.row_tz(rng, ci[e]), cols={
        "registration_id": ctx.ids(e, "RG"),
        "event_id": core.cat(ev_i, ev.ids),
        "event_name": core.cat(ev_i, ev.names),
        "event_type": core.cat(ev.type[ev_i], EVENT_TYPES),
        "event_date": core.day_date(cal.day0 + ev.day[ev_i]),
        "capacity": core.integer(ev.capacity[ev_i]),
        "customer_id": cust.ids(ci[e]),
        "registered_at": core.ts(reg_t[e]),
        "attended": core.boolean(attended[e], v == 2),
        "cancelled": core.boolean(v == 1),
    }).sort(when)
