"""The dashboard's pages: one function each, reading the published marts through ``data``."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import streamlit as st

from orchestration.dashboard import charts, data
from orchestration.settings import load_settings

CURRENCY = load_settings().reporting_currency
GRAINS = ["week", "month", "day"]
OVERVIEW_METRICS = [
    "nps", "csat", "ces", "churn_rate", "customer_retention_rate", "mau", "stickiness",
    "revenue", "engagement_score_mean", "pct_at_risk", "conversion_rate", "email_open_rate",
]
SURVEY_METRICS = ["nps", "csat", "csat_mean", "dsat", "ces", "survey_response_rate"]
LABELS = {
    "nps": "NPS", "csat": "CSAT (% satisfied)", "csat_mean": "CSAT mean", "dsat": "DSAT (% dissatisfied)",
    "ces": "CES", "survey_response_rate": "Survey response rate", "churn_rate": "Churn rate",
    "customer_retention_rate": "Retention rate (CRR)", "mau": "Monthly active (MAU)", "stickiness": "Stickiness",
    "revenue": "Revenue", "engagement_score_mean": "Engagement score", "pct_at_risk": "At-risk share",
    "conversion_rate": "Web conversion", "email_open_rate": "E-mail open rate",
}
RETENTION_METRICS = ["customer_retention_rate", "churn_rate", "active_customers", "new_customers", "churned_customers"]


@st.cache_data(show_spinner=False, max_entries=512)
def _cached(name: str, version, *args):
    """``data.<name>(*args)``, cached per published file version (a new run shows at once)."""
    return getattr(data, name)(*args)


def load(name: str, *args):
    return _cached(name, data.version(), *args)


def units() -> dict[str, str]:
    return dict(zip(*load("metric_catalog")[["metric_name", "unit"]].T.values))


def descriptions() -> dict[str, str]:
    return dict(zip(*load("metric_catalog")[["metric_name", "description"]].T.values))


def run_date():
    return pd.Timestamp(load("publication")["run_date"]).date()


def _grain(key: str, default: str = "week") -> str:
    return st.segmented_control("Period", GRAINS, default=default, key=key) or default


def overview() -> None:
    st.title("Overview")
    grain = _grain("overview_grain")
    series = load("metric_series", OVERVIEW_METRICS, grain, "all")
    pop = data.period_over_period(series, run_date())
    unit, desc = units(), descriptions()
    latest = pd.Timestamp(pop["period_start"].max()) if len(pop) else None
    st.caption(f"Latest complete {grain}" + (f" (starting {latest:%Y-%m-%d})" if latest is not None else "")
               + " against the one before, all customers; the band around each trend is the 95% interval where "
               "the metric has one. Hover a card's ? for the definition.")
    by_metric = {r.metric_name: r for r in pop.itertuples()}
    present = [m for m in OVERVIEW_METRICS if m in by_metric]
    for row_start in range(0, len(present), 4):
        cols = st.columns(4, border=True)
        for col, metric in zip(cols, present[row_start:row_start + 4]):
            r = by_metric[metric]
            u = unit.get(metric, "")
            ci = f" · 95% CI {charts.fmt(r.ci_low, u, CURRENCY)} – {charts.fmt(r.ci_high, u, CURRENCY)}" \
                if pd.notna(r.ci_low) else ""
            with col:
                st.metric(
                    LABELS.get(metric, metric), charts.fmt(r.value, u, CURRENCY),
                    delta=charts.fmt_change(r.change, u, CURRENCY),
                    delta_color="inverse" if metric in data.LOWER_IS_BETTER else "normal",
                    help=f"`{metric}`, {grain} of {pd.Timestamp(r.period_start):%Y-%m-%d}: {desc.get(metric, '')}. "
                         f"n = {r.sample_size:,.0f}{ci}",
                )
                trend = series[series["metric_name"] == metric].tail(26)
                st.altair_chart(charts.trend_with_band(trend, height=110, y_title=None), width="stretch")


def cx_surveys() -> None:
    st.title("CX surveys")
    c1, c2 = st.columns([2, 5])
    with c1:
        grain = _grain("cx_grain")
    overall = load("metric_series", ["nps", "csat", "ces"], grain, "all")
    for col, metric in zip(st.columns(3), ["nps", "csat", "ces"]):
        with col:
            st.subheader(LABELS[metric])
            part = overall[overall["metric_name"] == metric]
            if part["value"].notna().any():
                st.altair_chart(charts.trend_with_band(part, height=200, y_title=None), width="stretch")
            else:
                st.info(f"No {metric} answers yet.")
    st.divider()
    st.subheader("Per segment")
    c1, c2 = st.columns(2)
    metric = c1.selectbox("Metric", SURVEY_METRICS, key="cx_metric", format_func=lambda m: LABELS.get(m, m))
    names = load("segment_names", SURVEY_METRICS)
    segment = c2.selectbox("Segment", names, key="cx_segment", index=names.index("touchpoint") if "touchpoint" in names else 0)
    st.caption(descriptions().get(metric, ""))
    series = load("metric_series", [metric], grain, segment)
    if series.empty or series["value"].isna().all():
        st.info(f"No {metric} values per {segment} yet.")
        return
    values = sorted(series["segment_value"].unique())
    shown = st.multiselect("Show", values, default=values[:6], key="cx_values")
    left, right = st.columns([3, 2])
    with left:
        st.markdown(f"**{LABELS.get(metric, metric)} per {grain}**")
        st.altair_chart(charts.trend_with_band(series[series["segment_value"].isin(shown)], color="segment_value",
                                               height=320, y_title=None), width="stretch")
    with right:
        complete = series[pd.to_datetime(series["period_end"]).dt.date <= run_date()]
        latest = (complete if len(complete) else series)["period_start"].max()
        last = series[(series["period_start"] == latest) & series["value"].notna()]
        st.markdown(f"**{grain} of {pd.Timestamp(latest):%Y-%m-%d}, with 95% intervals**")
        st.altair_chart(charts.dots_with_ci(last, "segment_value", height=280), width="stretch")
    with st.expander("Rows"):
        st.dataframe(series, hide_index=True, width="stretch")


def retention() -> None:
    st.title("Retention and churn")
    c1, c2 = st.columns([2, 3])
    with c1:
        grain = _grain("ret_grain")
    segment = c2.selectbox("Segment", load("segment_names", RETENTION_METRICS), key="ret_segment")
    series = load("metric_series", RETENTION_METRICS, grain, segment)
    left, right = st.columns(2)
    for col, metric in ((left, "customer_retention_rate"), (right, "churn_rate")):
        with col:
            st.subheader(LABELS[metric])
            st.altair_chart(charts.trend_with_band(series[series["metric_name"] == metric], color="segment_value",
                                                   height=260, y_title="%"), width="stretch")
    counts = series[series["metric_name"].isin(["active_customers", "new_customers", "churned_customers"])
                    & (series["segment_value"] == series["segment_value"].iloc[0] if len(series) else True)]
    # from the first period with active customers (signups reach back years before the history)
    observed = counts.loc[(counts["metric_name"] == "active_customers") & (counts["value"] > 0), "period_start"]
    if len(observed):
        counts = counts[counts["period_start"] >= observed.min()]
    st.subheader("Customers: active at the period end, new, churned" + (f" ({counts['segment_value'].iloc[0]})"
                                                                        if segment != "all" and len(counts) else ""))
    st.altair_chart(charts.grouped_bars(counts), width="stretch")
    st.subheader("Signup cohorts: share active in each week since signup")
    cohorts = load("activity_cohorts")
    if cohorts.empty:
        st.info("No complete week of activity yet.")
        return
    cohorts = cohorts.assign(cohort=pd.to_datetime(cohorts["cohort_week"]).dt.strftime("%Y-%m-%d")
                             + " (" + cohorts["cohort_size"].astype(str) + ")")
    cohorts = cohorts[cohorts["weeks_since_signup"] <= 16]
    st.altair_chart(
        charts.heatmap(cohorts[["cohort", "weeks_since_signup", "pct_active", "active"]], "weeks_since_signup",
                       "cohort", "pct_active", height=max(220, 24 * cohorts["cohort"].nunique())),
        width="stretch",
    )
    st.caption("Cohort = customers who signed up in that ISO week (size in brackets); active = any activity "
               "event (web, app, e-mail open/click, social, survey answer, order, support contact).")


def digital() -> None:
    st.title("Digital engagement per channel")
    rows = load("channel_metrics")
    grain = _grain("dig_grain")
    rows = rows[rows["period_grain"] == grain]
    sections = [
        ("Sessions (web / app)", "sessions"), ("Average session length (s)", "avg_session_seconds"),
        ("E-mail open rate per e-mail type", "email_open_rate"), ("E-mail click rate per e-mail type", "email_click_rate"),
        ("Social interactions per platform", "social_interactions"),
        ("Social engagement rate per platform", "social_engagement_rate"),
        ("App installs per platform", "app_installs"), ("App uninstall rate per platform", "app_uninstall_rate"),
    ]
    for row_start in range(0, len(sections), 2):
        cols = st.columns(2)
        for col, (title, metric) in zip(cols, sections[row_start:row_start + 2]):
            with col:
                st.subheader(title)
                part = rows[rows["metric_name"] == metric].rename(columns={"channel": "segment_value"})
                if part.empty or part["value"].isna().all():
                    st.info(f"No {metric} per channel yet.")
                else:
                    st.altair_chart(charts.trend_with_band(part, color="segment_value", height=220, y_title=metric),
                                    width="stretch")
    st.subheader("Active customers")
    active = load("metric_series", ["dau", "wau", "mau"], grain, "all")
    st.altair_chart(charts.trend_with_band(active.rename(columns={"metric_name": "metric"}), color="metric",
                                           height=220, y_title="customers"), width="stretch")
    st.subheader("Web funnel, last 28 days")
    funnel = load("web_funnel", run_date() - timedelta(days=27)).iloc[0]
    steps = pd.DataFrame({
        "step": ["1 sessions", "2 more than one page", "3 purchase"],
        "sessions": [funnel["sessions"], funnel["multi_page"], funnel["purchased"]],
    })
    steps["share"] = steps["sessions"] / max(int(funnel["sessions"]), 1)
    st.altair_chart(
        charts.alt.Chart(steps).mark_bar(color="#4c78a8").encode(
            y=charts.alt.Y("step:N", title=None, axis=charts.alt.Axis(labelLimit=220)), x=charts.alt.X("sessions:Q"),
            tooltip=["step", "sessions", charts.alt.Tooltip("share:Q", format=".1%")],
        ).properties(height=140),
        width="stretch",
    )


def engagement() -> None:
    st.title("Engagement bands over time")
    segment = st.selectbox("Segment", load("engagement_segment_names"), key="eng_segment")
    bands = load("engagement_bands", segment)
    if bands.empty:
        st.info("No engagement scores yet.")
        return
    values = sorted(bands["segment_value"].unique())
    value = st.selectbox("Value", values, key="eng_value") if segment != "all" else "all"
    bands = bands[bands["segment_value"] == value]
    long = bands.melt(id_vars=["week_start"], value_vars=[f"pct_{b}" if b != "power_user" else "pct_power_user"
                                                          for b in charts.BAND_ORDER], var_name="band", value_name="pct")
    long["band"] = long["band"].str.removeprefix("pct_")
    long["band_rank"] = long["band"].map({b: i for i, b in enumerate(charts.BAND_ORDER)})
    long["week_start"] = pd.to_datetime(long["week_start"])
    left, right = st.columns([3, 2])
    with left:
        st.subheader("Band shares per week")
        st.altair_chart(charts.band_area(long), width="stretch")
    with right:
        st.subheader("Score per week")
        score = bands.assign(week_start=pd.to_datetime(bands["week_start"])).melt(
            id_vars=["week_start"], value_vars=["score_mean", "score_median"], var_name="statistic")
        st.altair_chart(
            charts.alt.Chart(score).mark_line(point=True).encode(
                x=charts.alt.X("week_start:T", title=None), y=charts.alt.Y("value:Q", title="score"),
                color="statistic:N", tooltip=["statistic", charts.alt.Tooltip("week_start:T"), "value"],
            ).properties(height=300),
            width="stretch",
        )
    st.subheader("Band movement over the last 4 weeks (all customers scored on both days)")
    move = load("band_movement", 28)
    if move.empty:
        st.info("Less than 4 weeks of scores yet.")
    else:
        st.altair_chart(charts.heatmap(move[["band_before", "band_now", "customers"]], "band_now", "band_before",
                                       "customers", x_sort=charts.BAND_ORDER, y_sort=charts.BAND_ORDER, height=320,
                                       scheme="greens"), width="stretch")


def at_risk() -> None:
    st.title("At-risk customers")
    customers = load("at_risk_customers")
    scored = customers["churn_probability"].notna().any()
    if not scored:
        st.info("No churn model yet (it needs 90 days of history plus two snapshots and 1,000 labelled rows): "
                "customers are ranked by their engagement instead: score-drop alerts first, then the lowest "
                "engagement band, then the largest fall of the score over 30 days.")
    customers = customers.assign(
        risk=customers["churn_probability"] if scored else 1 - customers["p_alive"],
        band_rank=customers["engagement_band"].map({b: i for i, b in enumerate(charts.BAND_ORDER)}),
        score_drop_alert=customers["score_drop_alert"].fillna(False).astype(bool),
        drivers=customers[["churn_driver_1", "churn_driver_2", "churn_driver_3"]]
        .apply(lambda r: ", ".join(x for x in r if isinstance(x, str)), axis=1),
    )
    f1, f2, f3, f4, f5 = st.columns([3, 2, 2, 3, 2])
    bands = f1.multiselect("Churn risk band", ["high", "medium", "low"], default=["high", "medium"] if scored else [],
                           key="risk_band")
    country = f2.multiselect("Country", sorted(customers["country"].dropna().unique()), key="risk_country")
    plan = f3.multiselect("Plan", sorted(customers["current_plan"].dropna().unique()), key="risk_plan")
    engagement_band = f4.multiselect("Engagement band", charts.BAND_ORDER, key="risk_eng")
    max_clv = float(customers["clv_12m"].max() or 0) if customers["clv_12m"].notna().any() else 0.0
    min_clv = f5.number_input(f"12-month CLV at least ({CURRENCY})", min_value=0.0, value=0.0, step=10.0,
                              key="risk_clv", help=f"largest: {max_clv:,.0f}")
    view = customers
    if bands:
        view = view[view["churn_risk_band"].isin(bands)]
    if country:
        view = view[view["country"].isin(country)]
    if plan:
        view = view[view["current_plan"].isin(plan)]
    if engagement_band:
        view = view[view["engagement_band"].isin(engagement_band)]
    if min_clv > 0:
        view = view[view["clv_12m"].fillna(0) >= min_clv]
    if scored:
        view = view.sort_values(["risk", "clv_12m"], ascending=[False, False], na_position="last")
    else:
        view = view.sort_values(["score_drop_alert", "band_rank", "score_change_30d"],
                                ascending=[False, True, True], na_position="last")
    k1, k2, k3, k4 = st.columns(4, border=True)
    k1.metric("Customers shown", f"{len(view):,}")
    if scored:
        k2.metric("Mean churn probability", f"{view['risk'].mean():.1%}" if view["risk"].notna().any() else "–")
        k3.metric("12-month CLV at stake", charts.fmt((view["clv_12m"] * view["risk"]).sum(), "currency", CURRENCY),
                  help="sum over the customers shown of clv_12m x churn probability")
    else:
        k2.metric("At risk or very disengaged", f"{int((view['band_rank'] <= 1).sum()):,}")
        k3.metric("12-month CLV of those", charts.fmt(view.loc[view["band_rank"] <= 1, "clv_12m"].sum(), "currency",
                                                      CURRENCY))
    k4.metric("Score drop alerts", f"{int(view['score_drop_alert'].sum()):,}")
    left, right = st.columns([3, 2])
    with left:
        st.subheader("Risk against value" if scored else "Engagement trend against value")
        x = (charts.alt.X("risk:Q", title="churn probability", axis=charts.alt.Axis(format="%")) if scored
             else charts.alt.X("score_change_30d:Q", title="engagement score change over 30 days"))
        st.altair_chart(
            charts.alt.Chart(view.dropna(subset=["risk" if scored else "score_change_30d"]).head(3000))
            .mark_circle(opacity=0.6).encode(
                x=x,
                y=charts.alt.Y("clv_12m:Q", title=f"12-month CLV ({CURRENCY})"),
                color=charts.alt.Color("engagement_band:N", sort=charts.BAND_ORDER,
                                       scale=charts.alt.Scale(domain=charts.BAND_ORDER, range=charts.BAND_COLORS)),
                tooltip=["customer_id", "country", "current_plan", "engagement_band",
                         charts.alt.Tooltip("risk:Q", format=".1%", title="churn prob." if scored else "1 − P(alive)"),
                         charts.alt.Tooltip("score_change_30d:Q", format=".1f"),
                         charts.alt.Tooltip("clv_12m:Q", format=",.0f"), "drivers"],
            ).properties(height=320),
            width="stretch",
        )
    # the recency-rule fallback (too little labelled history) scores without reasons
    has_reasons = scored and customers[["churn_driver_1", "churn_driver_2", "churn_driver_3"]].notna().any().any()
    with right:
        st.subheader("Top reasons" if has_reasons else "Engagement bands")
        if scored and not has_reasons:
            st.caption("Churn is scored by the recency rule (no trained model yet), which gives no reasons.")
        if has_reasons:
            reasons = view.melt(value_vars=["churn_driver_1", "churn_driver_2", "churn_driver_3"],
                                value_name="driver").dropna(subset=["driver"])
            counts = reasons.groupby("driver").size().reset_index(name="customers")
        else:
            counts = view.groupby("engagement_band").size().reset_index(name="customers").rename(
                columns={"engagement_band": "driver"})
            counts = counts[counts["customers"] > 0]
        st.altair_chart(
            charts.alt.Chart(counts.sort_values("customers", ascending=False).head(12)).mark_bar(color="#e45756").encode(
                y=charts.alt.Y("driver:N", sort="-x", title=None, axis=charts.alt.Axis(labelLimit=220)),
                x="customers:Q", tooltip=["driver", "customers"],
            ).properties(height=320),
            width="stretch",
        )
    st.subheader("Customers, riskiest first")
    st.dataframe(
        view[["customer_id", "risk", "churn_risk_band", "clv_12m", "simple_clv", "p_alive", "engagement_band",
              "engagement_score", "score_change_30d", "drivers", "country", "current_plan", "persona",
              "orders_count", "recency_days", "latest_nps_score"]].head(500),
        hide_index=True, width="stretch",
        column_config={
            "risk": st.column_config.ProgressColumn("churn prob." if scored else "1 − P(alive)", format="percent",
                                                   min_value=0.0, max_value=1.0),
            "p_alive": st.column_config.NumberColumn(format="%.2f"),
            "clv_12m": st.column_config.NumberColumn(f"CLV 12m ({CURRENCY})", format="%.0f"),
            "simple_clv": st.column_config.NumberColumn(f"simple CLV ({CURRENCY})", format="%.0f"),
            "engagement_score": st.column_config.NumberColumn(format="%.1f"),
            "score_change_30d": st.column_config.NumberColumn("score Δ 30d", format="%.1f"),
        },
    )


def alerts() -> None:
    st.title("Alerts")
    rows = load("alerts")
    if rows.empty:
        st.success("No metric breaches its alert rule (seeds/metric_alert_thresholds.csv).")
        return
    c1, c2, c3 = st.columns(3)
    severity = c1.multiselect("Severity", ["critical", "warning"], default=["critical", "warning"], key="al_sev")
    metrics = c2.multiselect("Metric", sorted(rows["metric_name"].unique()), key="al_metric")
    grains = c3.multiselect("Period", sorted(rows["period_grain"].unique()), key="al_grain")
    view = rows[rows["severity"].isin(severity)]
    if metrics:
        view = view[view["metric_name"].isin(metrics)]
    if grains:
        view = view[view["period_grain"].isin(grains)]
    k = st.columns(3, border=True)
    k[0].metric("Critical", f"{(view['severity'] == 'critical').sum():,}")
    k[1].metric("Warning", f"{(view['severity'] == 'warning').sum():,}")
    k[2].metric("Latest period", f"{pd.Timestamp(view['period_start'].max()):%Y-%m-%d}" if len(view) else "–")
    st.subheader("Breaches per period")
    st.altair_chart(
        charts.alt.Chart(view.assign(period_start=pd.to_datetime(view["period_start"]))).mark_bar().encode(
            x=charts.alt.X("period_start:T", title=None), y=charts.alt.Y("count():Q", title="alerts"),
            color=charts.alt.Color("severity:N", scale=charts.SEVERITY_COLORS),
            tooltip=["metric_name", "severity", charts.alt.Tooltip("count():Q", title="alerts")],
        ).properties(height=200),
        width="stretch",
    )
    st.dataframe(view, hide_index=True, width="stretch",
                 column_config={"value": st.column_config.NumberColumn(format="%.2f"),
                                "ci_low": st.column_config.NumberColumn(format="%.2f"),
                                "ci_high": st.column_config.NumberColumn(format="%.2f")})
