"""Web sessions, app usage, e-mail campaigns and social interactions of one customer chunk."""

from __future__ import annotations

import json

import numpy as np

from orchestration.catalog import get_source
from orchestration.demo import core
from orchestration.demo.commerce import ORDER_CHANNELS, ChunkContext, Orders
from orchestration.demo.company import PLATFORM_WEIGHT, PLATFORMS, POST_LOOKBACK
from orchestration.demo.core import DAY, NAT, Frame
from orchestration.demo.vocab import (
    APP_FEATURES, APP_SCREENS, CAMPAIGNS, COUNTRIES, INSTALL_SOURCES, INVITE_CHANNELS, OTHER_REFERRERS, PAGES,
    SEARCH_REFERRERS, SITE, SOCIAL_REFERRERS, TZ_UTC, USER_AGENTS,
)

WEB = get_source("web_events")
WEB_TYPES = WEB.column("event_type").values
DEVICES = next(f for f in WEB.column("context").fields if f.name == "device").values
APP = get_source("app_events")
APP_TYPES = APP.column("event_type").values
APP_PLATFORMS = APP.column("platform").values
EMAIL = get_source("email_events")
EMAIL_TYPES = EMAIL.column("email_type").values
EMAIL_EVENTS = EMAIL.column("event_type").values
SOCIAL = get_source("social_interactions")
INTERACTIONS = SOCIAL.column("interaction_type").values

SESSIONS_PER_DAY = 0.115  # per average active customer; ~3.4 hits each
APP_OPENS_PER_DAY = 0.27
SOCIAL_PER_CUSTOMER_DAY = 0.05

# ---- web vocabulary: every page URL, referrer and context object is a dictionary entry
PAGE_URLS = tuple(SITE + p for p in PAGES)
REFERRERS = PAGE_URLS + SEARCH_REFERRERS + SOCIAL_REFERRERS + OTHER_REFERRERS
_PRODUCT = np.array([i for i, p in enumerate(PAGES) if p.startswith("/products/")])
_BLOG = np.array([i for i, p in enumerate(PAGES) if p.startswith("/blog/")])
_GENERAL = np.array([i for i, p in enumerate(PAGES) if not p.startswith(("/products/", "/blog/"))])
_PAGE = {p: i for i, p in enumerate(PAGES)}
_UA = [(d, ua) for d in DEVICES for ua in USER_AGENTS[d]]
_UA_FIRST = np.array([sum(len(USER_AGENTS[x]) for x in DEVICES[:i]) for i in range(len(DEVICES))])
_UA_COUNT = np.array([len(USER_AGENTS[d]) for d in DEVICES])
_UTM = [c for c in CAMPAIGNS if c.channel in ("paid_search", "social", "email", "partner")]


def _context(device: str, ua: str, utm) -> str:
    obj = {"device": device}
    if utm is not None:
        obj.update(utm_source=utm.utm_source, utm_medium=utm.utm_medium, utm_campaign=utm.campaign_id)
    obj["user_agent"] = ua
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


CONTEXTS = tuple(_context(d, ua, utm) for d, ua in _UA for utm in [None, *_UTM])
# session traffic sources: direct, organic search, social, paid search, email, paid social, partner/other site
_SOURCES = (0.3, 0.3, 0.15, 0.1, 0.08, 0.04, 0.03)
_UTM_BY_SOURCE = {3: "paid_search", 4: "email", 5: "social", 6: "partner"}
# hit types after the landing page view
_HIT_TYPES = [WEB_TYPES.index(t) for t in ("page_view", "click", "add_to_cart", "video_play", "form_submit",
                                            "newsletter_signup")]
_HIT_WEIGHTS = (0.55, 0.22, 0.08, 0.07, 0.05, 0.03)
# scripted sessions: kind 1 = signup, kind 2 = web purchase (3 hits each, seconds from start, type, page)
_SCRIPT_OFFSET = np.array([[0, 0, 0], [0, 90, 150], [0, 180, 300]])
_SCRIPT_TYPE = np.array([[0, 0, 0], [WEB_TYPES.index(t) for t in ("page_view", "form_submit", "signup")],
                         [WEB_TYPES.index(t) for t in ("add_to_cart", "page_view", "purchase")]])
_SCRIPT_PAGE = np.array([[0, 0, 0], [_PAGE["/signup"], _PAGE["/signup"], _PAGE["/account"]],
                         [-1, _PAGE["/checkout"], _PAGE["/checkout"]]])  # -1: a product page
NEVER = 1 << 30  # login hit index of sessions that never log in


def _pick(rng: np.random.Generator, pool: np.ndarray, n: int) -> np.ndarray:
    return pool[rng.integers(0, len(pool), n)]


def web_events(ctx: ChunkContext, info: Orders) -> tuple[Frame, np.ndarray, np.ndarray]:
    """Hits of sessions of customers' devices, of anonymous prospects, of signups and web
    purchases. Returns the frame and (customer, time) of a sample of logged-in sessions."""
    rng, cust, cal = ctx.rng("web"), ctx.cust, ctx.cal
    n = cust.n
    ndev = 1 + (rng.random(n) < 0.5) + (rng.random(n) < 0.15)
    dev_class = core.choice(rng, [0.45, 0.45, 0.1], n * 3).reshape(n, 3)
    dev_ua = _UA_FIRST[dev_class] + rng.integers(0, 1 << 20, (n, 3)) % _UA_COUNT[dev_class]
    parts = []  # sessions: (customer, anonymous id, user agent, start, hits, login hit, traffic source, kind, tz)

    def customer_sessions(ci, dev, start, hits, login, source, kind):
        anon = core.mix64(cust.gidx[ci] * 4 + dev, ctx.seed)
        parts.append((ci, anon, dev_ua[ci, dev], start, hits, login, source, kind, cust.row_tz(rng, ci)))

    ci, di = core.daily_draws(rng, SESSIONS_PER_DAY * cust.activity, cal.factor("web"), cust.expo)
    start = core.times_in_days(rng, cal, di, cust.tz[ci])
    ok = (start >= cust.signup[ci]) & (start < cust.churn[ci])
    ci, start = ci[ok], start[ok]
    u = rng.random(len(ci))
    login = np.where(u < 0.55, 0, np.where(u < 0.8, rng.integers(1, 4, len(ci)), NEVER))
    customer_sessions(ci, (rng.random(len(ci)) * ndev[ci]).astype(np.int64), start, 1 + rng.poisson(2.4, len(ci)),
                      login, core.choice(rng, _SOURCES, len(ci)), np.zeros(len(ci), np.int64))

    # new customers browse anonymously on their first device before signing up
    newc = np.flatnonzero(cust.signup >= cal.t0)
    pre = np.repeat(newc, 1 + rng.poisson(0.8, len(newc)))
    pre_t = cust.signup[pre] - (rng.uniform(0.05, 7.0, len(pre)) * DAY).astype(np.int64)
    zeros = np.zeros(len(pre), np.int64)
    customer_sessions(pre, zeros, pre_t, 1 + rng.poisson(2.4, len(pre)), zeros + NEVER,
                      core.choice(rng, _SOURCES, len(pre)), zeros)
    zeros = np.zeros(len(newc), np.int64)
    customer_sessions(newc, zeros, cust.signup[newc] - 150, zeros + 3, zeros + 2, zeros, zeros + 1)
    web = np.flatnonzero(info.channel == ORDER_CHANNELS.index("web"))
    zeros = np.zeros(len(web), np.int64)
    customer_sessions(info.cust[web], zeros, info.t[web] - 300, zeros + 3, zeros, zeros, zeros + 2)

    # anonymous prospects who never become customers (in this window)
    m = max(n // 2, 1)
    per_day = rng.poisson(m * 0.03 * cal.factor("web"))
    pdays = np.repeat(np.arange(cal.days), per_day)
    visitor = rng.integers(0, m, len(pdays))
    v_country = core.choice(rng, [c.weight for c in COUNTRIES], m)
    v_tz = np.array([c.tz[0] for c in COUNTRIES])[v_country][visitor]
    v_class = core.choice(rng, [0.35, 0.55, 0.1], m)[visitor]
    parts.append((np.full(len(pdays), -1), core.mix64((ctx.chunk << 40) + visitor, ctx.seed + 1),
                  _UA_FIRST[v_class] + visitor % _UA_COUNT[v_class], core.times_in_days(rng, cal, pdays, v_tz),
                  1 + rng.poisson(1.8, len(pdays)), np.full(len(pdays), NEVER),
                  core.choice(rng, _SOURCES, len(pdays)), np.zeros(len(pdays), np.int64), v_tz.astype(np.int8)))

    s_cust, s_anon, s_ua, s_start, s_hits, s_login, s_source, s_kind, s_tz = (np.concatenate(x) for x in zip(*parts))
    s = len(s_cust)
    # landing referrer and campaign tags by traffic source
    search = len(PAGE_URLS) + rng.integers(0, len(SEARCH_REFERRERS), s)
    social = len(PAGE_URLS) + len(SEARCH_REFERRERS) + rng.integers(0, len(SOCIAL_REFERRERS), s)
    other = len(PAGE_URLS) + len(SEARCH_REFERRERS) + len(SOCIAL_REFERRERS) + rng.integers(0, len(OTHER_REFERRERS), s)
    ref = np.select([np.isin(s_source, (1, 3)), np.isin(s_source, (2, 5)), s_source == 6], [search, social, other], -1)
    utm = np.full(s, -1)
    for src, channel in _UTM_BY_SOURCE.items():  # loop over traffic sources
        pool = np.array([i for i, c in enumerate(_UTM) if c.channel == channel])
        sel = s_source == src
        utm[sel] = _pick(rng, pool, sel.sum())
    utm[(s_source == 6) & (rng.random(s) < 0.5)] = -1

    # expand sessions into hits
    sidx = np.repeat(np.arange(s), s_hits)
    j = core.rank_in_group(sidx)
    gap = np.where(j == 0, 0, 5 + rng.exponential(75.0, len(sidx))).astype(np.int64)
    cum = np.cumsum(gap)
    cum -= np.repeat(cum[np.flatnonzero(j == 0)], s_hits)
    kind = s_kind[sidx]
    jj = np.minimum(j, 2)
    t = s_start[sidx] + np.where(kind == 0, cum, _SCRIPT_OFFSET[kind, jj])
    etype = np.where(j == 0, WEB_TYPES.index("page_view"), np.asarray(_HIT_TYPES)[core.choice(rng, _HIT_WEIGHTS, len(j))])
    etype = np.where(kind == 0, etype, _SCRIPT_TYPE[kind, jj])
    landing = np.select([rng.random(len(j)) < 0.3, rng.random(len(j)) < 0.6],
                        [_PAGE["/"], _pick(rng, _PRODUCT, len(j))], _pick(rng, np.concatenate([_BLOG, [_PAGE["/pricing"]]]), len(j)))
    browse = np.select([rng.random(len(j)) < 0.5, rng.random(len(j)) < 0.6],
                       [_pick(rng, _PRODUCT, len(j)), _pick(rng, _GENERAL, len(j))], _pick(rng, _BLOG, len(j)))
    page = np.where(j == 0, landing, browse)
    page = np.select(
        [etype == WEB_TYPES.index("add_to_cart"), etype == WEB_TYPES.index("form_submit"),
         etype == WEB_TYPES.index("newsletter_signup"), etype == WEB_TYPES.index("video_play")],
        [_pick(rng, _PRODUCT, len(j)), _PAGE["/contact"], _PAGE["/newsletter"], _PAGE["/blog/video-product-tour"]], page)
    scripted = _SCRIPT_PAGE[kind, jj]
    page = np.where(kind == 0, page, np.where(scripted >= 0, scripted, page))
    referrer = np.where(j == 0, ref[sidx], np.roll(page, 1))  # later hits come from the previous page
    customer = np.where((s_cust[sidx] >= 0) & (j >= s_login[sidx]), s_cust[sidx], -1)
    context = s_ua[sidx] * (1 + len(_UTM)) + utm[sidx] + 1

    keep = (t >= cal.t0) & (t < cal.t_end)
    sidx, t = sidx[keep], t[keep]
    frame = Frame(day=(t - cal.t0) // DAY, tz=s_tz[sidx], cols={
        "anonymous_id": core.hexid(s_anon[sidx]),
        "customer_id": cust.ids(customer[keep]),
        "event_type": core.cat(etype[keep], WEB_TYPES),
        "page_url": core.cat(page[keep], PAGE_URLS),
        "referrer_url": core.cat(referrer[keep], REFERRERS),
        "occurred_at": core.ts(t),
        "context": core.cat(context[keep], CONTEXTS),
    }).sort(t)
    frame.cols = {"event_id": ctx.ids(np.arange(len(frame)), "W"), **frame.cols}
    sample = (s_kind == 0) & (s_login == 0) & (s_cust >= 0) & (rng.random(s) < 0.01)
    return frame, s_cust[sample], s_start[sample]


# ---- app: properties are JSON objects, one dictionary entry per distinct object
def _props(**values) -> str:
    return json.dumps(values, ensure_ascii=False, separators=(",", ":"))


_PROPS = {
    "install": [_props(source=s) for s in INSTALL_SOURCES],
    "app_open": [_props(screen=s, cold_start=c) for s in APP_SCREENS for c in (True, False)],
    "feature_used": [_props(feature=f) for f in APP_FEATURES],
    "message_sent": [_props(has_media=m, length=k) for m in (True, False) for k in ("short", "medium", "long")],
    "invite_sent": [_props(channel=c) for c in INVITE_CHANNELS],
    "video_call": [_props(duration_s=d) for d in range(30, 3630, 30)],
}
PROPERTIES = tuple(p for props in _PROPS.values() for p in props)
_PROP_FIRST = {k: sum(len(v) for v in list(_PROPS.values())[:i]) for i, k in enumerate(_PROPS)}
_RELEASE_DAYS = 14
APP_VERSIONS = tuple(f"5.{k}.{k % 3}" for k in range(60))


def app_events(ctx: ChunkContext) -> tuple[Frame, np.ndarray, np.ndarray]:
    """Install, opens followed by feature use, and uninstalls of app users; returns the frame
    and (customer, time) of a sample of app opens."""
    rng, cust, cal = ctx.rng("app"), ctx.cust, ctx.cal
    n = cust.n
    users = np.flatnonzero(rng.random(n) < 0.12 + 0.5 * cust.propensity)
    android = rng.random(len(users)) < np.array([c.android_share for c in COUNTRIES])[cust.country[users]]
    platform = np.where(android, APP_PLATFORMS.index("android"), APP_PLATFORMS.index("ios"))
    device = core.mix64(cust.gidx[users], ctx.seed + 7)
    lag = rng.integers(0, 3, len(users))  # releases a device is behind
    k = len(users)
    # most existing customers installed before the window; new ones install within days of signup
    preinstalled = (cust.signup[users] < cal.t0) & (rng.random(k) > 0.12)
    install = np.where(cust.signup[users] >= cal.t0,
                       cust.signup[users] + (rng.exponential(2.0, k) * DAY).astype(np.int64),
                       cal.t0 + (rng.uniform(0, cal.days, k) * DAY).astype(np.int64))
    churn = cust.churn[users]
    installed = preinstalled | (install < churn)
    begin = np.where(preinstalled, cust.signup[users], install)
    install = np.where(preinstalled | ~installed, NAT, install)
    # some uninstall during the window, half of the churners a few days after churning
    quit_t = np.where(rng.random(k) < 0.07, np.maximum(begin, cal.t0) + (rng.uniform(1, cal.days, k) * DAY).astype(np.int64),
                      np.where(rng.random(k) < 0.5, churn + (rng.exponential(3.0, k) * DAY).astype(np.int64), NAT))
    quit_t = np.where(installed, quit_t, NAT)
    end = np.where(installed, np.where(quit_t == NAT, churn, np.minimum(quit_t, churn)), begin)

    ui, di = core.daily_draws(rng, APP_OPENS_PER_DAY * cust.activity[users], cal.factor("app"),
                              core.exposure(cal, begin, end))
    open_t = core.times_in_days(rng, cal, di, cust.tz[users[ui]])
    ok = (open_t >= begin[ui]) & (open_t < end[ui])
    ui, open_t = ui[ok], open_t[ok]
    follow = rng.poisson(1.2, len(ui))
    oidx = np.repeat(np.arange(len(ui)), 1 + follow)
    j = core.rank_in_group(oidx)
    gap = np.where(j == 0, 0, 3 + rng.exponential(40.0, len(oidx))).astype(np.int64)
    cum = np.cumsum(gap)
    cum -= np.repeat(cum[np.flatnonzero(j == 0)], 1 + follow)
    kinds = [APP_TYPES.index(k) for k in ("feature_used", "message_sent", "invite_sent", "video_call")]
    etype = np.where(j == 0, APP_TYPES.index("app_open"), np.asarray(kinds)[core.choice(rng, [0.6, 0.25, 0.05, 0.1], len(j))])

    has_install, has_quit = install != NAT, quit_t != NAT
    user = np.concatenate([ui[oidx], np.flatnonzero(has_install), np.flatnonzero(has_quit)])
    t = np.concatenate([open_t[oidx] + cum, install[has_install], quit_t[has_quit]])
    etype = np.concatenate([etype, np.full(has_install.sum(), APP_TYPES.index("install")),
                            np.full(has_quit.sum(), APP_TYPES.index("uninstall"))])
    keep = (t >= cal.t0) & (t < cal.t_end)
    user, t, etype = user[keep], t[keep], etype[keep]
    prop = np.full(len(t), -1)
    for name, props in _PROPS.items():  # loop over event types
        sel = etype == APP_TYPES.index(name)
        prop[sel] = _PROP_FIRST[name] + rng.integers(0, len(props), sel.sum())
    logged_in = (etype != APP_TYPES.index("install")) & (rng.random(len(t)) > 0.06)
    release = (t - (cal.t0 - 120 * DAY)) // (_RELEASE_DAYS * DAY)
    version = np.clip(release - lag[user], 0, len(APP_VERSIONS) - 1)
    ci = users[user]
    frame = Frame(day=(t - cal.t0) // DAY, tz=cust.row_tz(rng, ci), cols={
        "customer_id": cust.ids(np.where(logged_in, ci, -1)),
        "device_id": core.hexid(device[user]),
        "platform": core.cat(platform[user], APP_PLATFORMS),
        "event_type": core.cat(etype, APP_TYPES),
        "app_version": core.cat(version, APP_VERSIONS),
        "occurred_at": core.ts(t),
        "properties": core.cat(prop, PROPERTIES),
    }).sort(t)
    frame.cols = {"event_id": ctx.ids(np.arange(len(frame)), "AE"), **frame.cols}
    sample = rng.random(len(ui)) < 0.005
    return frame, users[ui[sample]], open_t[sample]


# ---- e-mail
_OPEN = {"newsletter": 0.22, "promo": 0.18, "onboarding": 0.45, "transactional": 0.55}
_CLICK = {"newsletter": 0.12, "promo": 0.16, "onboarding": 0.22, "transactional": 0.18}
ONBOARDING = (("onboarding-welcome", 600), ("onboarding-tips", 2 * DAY), ("onboarding-offer", 7 * DAY))


def email_events(ctx: ChunkContext, info: Orders) -> Frame:
    """Weekly newsletters and promos to opted-in customers (in date order, so unsubscribes
    stop later sends), onboarding series after signup, order confirmations. Every send
    is a sent -> delivered/bounce -> open -> click chain; churned customers stop opening."""
    rng, cust, cal = ctx.rng("email"), ctx.cust, ctx.cal
    n = cust.n
    bad_address = rng.random(n) < 0.03
    unsub = np.full(n, NAT, dtype=np.int64)
    names: list[str] = []
    parts = []  # (customer, campaign, email type, send time)

    def campaign(name: str) -> int:
        names.append(name)
        return len(names) - 1

    weekday = (cal.day0 + np.arange(cal.days) + 3) % 7
    sends = [(d, "newsletter") for d in np.flatnonzero(weekday == 1)]
    sends += [(d, "promo") for d in np.flatnonzero(weekday == 3)[::2]]
    events = []
    for d, etype in sorted(sends):  # loop over campaigns in date order
        when = cal.t0 + int(d) * DAY
        local_ten = (10 * 3600 - core.TZ_OFFSET[cust.tz]) % DAY + rng.integers(0, 3600, n)
        t = when + local_ten
        to = np.flatnonzero((cust.signup < t) & cust.opted_in(np.arange(n), t) & ((unsub == NAT) | (unsub > t)))
        cid = campaign(f"{'nl' if etype == 'newsletter' else 'promo'}-{cal.date(int(d)):%Y-%m-%d}")
        chain = _chain(rng, ctx, to, t[to], EMAIL_TYPES.index(etype), cid, bad_address)
        events.append(chain)
        quit_rows = chain[3] == EMAIL_EVENTS.index("unsubscribe")
        unsub[chain[0][quit_rows]] = chain[2][quit_rows]
    newc = np.flatnonzero(cust.signup >= cal.t0 - 7 * DAY)
    for name, delay in ONBOARDING:
        parts.append((newc, campaign(name), EMAIL_TYPES.index("onboarding"), cust.signup[newc] + delay))
    parts.append((info.cust, campaign("txn-order-confirmation"), EMAIL_TYPES.index("transactional"), info.t + 60))
    for ci, cid, etype, t in parts:
        events.append(_chain(rng, ctx, ci, t, etype, cid, bad_address))
    ci, camp, t, ev, etype = (np.concatenate(x) for x in zip(*events))
    keep = (t >= cal.t0) & (t < cal.t_end)
    ci, camp, t, ev, etype = ci[keep], camp[keep], t[keep], ev[keep], etype[keep]
    frame = Frame(day=(t - cal.t0) // DAY, tz=cust.row_tz(rng, ci), cols={
        "customer_id": cust.ids(ci),
        "campaign_id": core.cat(camp, names),
        "email_type": core.cat(etype, EMAIL_TYPES),
        "event_type": core.cat(ev, EMAIL_EVENTS),
        "occurred_at": core.ts(t),
    }).sort(t)
    frame.cols = {"event_id": ctx.ids(np.arange(len(frame)), "EM"), **frame.cols}
    return frame


def _chain(rng, ctx: ChunkContext, ci: np.ndarray, t: np.ndarray, etype: int, cid: int, bad_address: np.ndarray):
    """Events of one send to customers ci at times t: (customer, campaign, time, event, email type)."""
    cust = ctx.cust
    k = len(ci)
    p = cust.propensity[ci]
    name = EMAIL_TYPES[etype]
    marketing = name in ("newsletter", "promo")
    bounce = bad_address[ci] | (rng.random(k) < 0.005)
    delivered = t + rng.integers(1, 90, k)
    open_t = delivered + (rng.exponential(5.0, k) * 3600).astype(np.int64)
    opened = ~bounce & (rng.random(k) < np.clip(_OPEN[name] * (0.35 + 1.6 * p), 0, 0.95)) & (open_t < cust.churn[ci])
    click_t = open_t + 5 + (rng.exponential(60.0, k)).astype(np.int64)
    clicked = opened & (rng.random(k) < _CLICK[name] * (0.5 + p))
    unsub_t = np.where(opened, open_t, delivered + (rng.exponential(1.0, k) * DAY).astype(np.int64)) + 30
    unsubscribed = marketing & ~bounce & (rng.random(k) < 0.004 * (1.6 - p))
    spam_t = delivered + (rng.exponential(1.0, k) * DAY).astype(np.int64)
    spam = marketing & ~bounce & (rng.random(k) < 0.0008 * (1.6 - p))
    steps = [(np.ones(k, bool), t, "sent"), (bounce, t + rng.integers(5, 120, k), "bounce"),
             (~bounce, delivered, "delivered"), (opened, open_t, "open"), (clicked, click_t, "click"),
             (unsubscribed, unsub_t, "unsubscribe"), (spam, spam_t, "spam_report")]
    ci_all = np.concatenate([ci[m] for m, _, _ in steps])
    t_all = np.concatenate([when[m] for m, when, _ in steps])
    ev = np.concatenate([np.full(m.sum(), EMAIL_EVENTS.index(e)) for m, _, e in steps])
    return ci_all, np.full(len(ci_all), cid), t_all, ev, np.full(len(ci_all), etype)


# ---- social
_INTERACTION_WEIGHTS = {"impression": 0.72, "like": 0.1, "comment": 0.03, "share": 0.02, "repost": 0.02,
                        "mention": 0.02, "reply": 0.015, "follow": 0.03, "unfollow": 0.008, "dm": 0.007}


def social_interactions(ctx: ChunkContext) -> Frame:
    """Interactions with recent posts; a minority matched to an active customer of the chunk."""
    rng, cust, cal, posts = ctx.rng("social"), ctx.cust, ctx.cal, ctx.posts
    n = cust.n
    di = np.repeat(np.arange(cal.days), rng.poisson(n * SOCIAL_PER_CUSTOMER_DAY * cal.factor("social")))
    k = len(di)
    plat = core.choice(rng, [PLATFORM_WEIGHT[p] for p in PLATFORMS], k)
    itype = core.choice(rng, [_INTERACTION_WEIGHTS[t] for t in INTERACTIONS], k)
    # a post of the last week; days without posts fall back to the latest earlier post
    has = posts.counts > 0
    last = np.maximum.accumulate(np.where(has, np.arange(has.shape[1])[None, :], 0), axis=1)
    pday = last[plat, POST_LOOKBACK + di - np.minimum(rng.geometric(0.45, k) - 1, POST_LOOKBACK - 1)]
    post = posts.first_id[plat, pday] + (rng.random(k) * posts.counts[plat, pday]).astype(np.int64)
    matched = rng.random(k) < np.where(itype == INTERACTIONS.index("impression"), 0.03, 0.25)
    cand = core.choice(rng, cust.activity, k)
    ci = np.where(matched & (cust.expo[cand, di] > 0), cand, -1)
    tz = np.where(ci >= 0, cust.tz[np.maximum(ci, 0)], TZ_UTC).astype(np.int8)
    t = core.times_in_days(rng, cal, di, np.where(ci >= 0, tz, 3))  # unmatched users follow the home market's clock
    frame = Frame(day=di, tz=tz, cols={
        "platform": core.cat(plat, PLATFORMS),
        "post_id": core.cat(post, posts.ids),
        "customer_id": cust.ids(ci),
        "interaction_type": core.cat(itype, INTERACTIONS),
        "occurred_at": core.ts(t),
    }).sort(t)
    frame.cols = {"interaction_id": ctx.ids(np.arange(len(frame)), "SI"), **frame.cols}
    return frame
