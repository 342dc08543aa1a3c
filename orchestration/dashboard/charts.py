"""Altair charts and number formats shared by the dashboard pages."""

from __future__ import annotations

import math

import altair as alt
import pandas as pd

BAND_ORDER = ["at_risk", "very_disengaged", "somewhat_engaged", "highly_engaged", "power_user"]
BAND_COLORS = ["#d62728", "#ff9f40", "#f2cf5b", "#7fbf7b", "#1a9850"]
SEVERITY_COLORS = alt.Scale(domain=["critical", "warning"], range=["#d62728", "#ff9f40"])


def fmt(value, unit: str, currency: str = "USD") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if unit == "percent":
        return f"{value:.1f} %"
    if unit == "currency":
        return f"{value:,.0f} {currency}" if abs(value) >= 100 else f"{value:,.2f} {currency}"
    if unit == "seconds":
        return f"{value / 60:.1f} min" if value >= 120 else f"{value:.0f} s"
    if unit in ("score", "ratio", "pages", "points"):
        return f"{value:.2f}" if abs(value) < 10 else f"{value:.1f}"
    return f"{value:,.0f}"


def fmt_change(change, unit: str, currency: str = "USD") -> str | None:
    if change is None or (isinstance(change, float) and math.isnan(change)):
        return None
    if unit == "percent":
        return f"{change:+.1f} pts".replace("−", "-")
    # an ASCII minus: Streamlit's st.metric reads the sign (arrow and colour) from it
    return ("+" if change >= 0 else "-") + fmt(abs(change), unit, currency)


def trend_with_band(
    frame: pd.DataFrame, title: str = "", color: str | None = None, height: int = 220, y_title: str | None = "value",
    color_title: str | None = None,
) -> alt.Chart:
    """Line of ``value`` over ``period_start`` with its 95% interval (ci_low..ci_high) as a band."""
    frame = frame[frame["value"].notna()].copy()  # a period with nothing to measure has no point
    frame["period_start"] = pd.to_datetime(frame["period_start"])
    if color and frame[color].nunique() <= 1:
        color = None  # one line needs no legend
    base = alt.Chart(frame).encode(x=alt.X("period_start:T", title=None))
    # full-opacity legend symbols: the band's 0.18 would make them too pale to match the lines
    enc_color = {"color": alt.Color(f"{color}:N", legend=alt.Legend(title=color_title, symbolOpacity=1))} if color else {}
    tooltip = [alt.Tooltip("period_start:T", title="period"), alt.Tooltip("value:Q", format=",.2f"),
               alt.Tooltip("ci_low:Q", format=",.2f", title="95% low"),
               alt.Tooltip("ci_high:Q", format=",.2f", title="95% high"),
               alt.Tooltip("sample_size:Q", title="n")]
    if color:
        tooltip.insert(0, alt.Tooltip(f"{color}:N"))
    layers = []
    if frame["ci_low"].notna().any():
        layers.append(
            base.mark_area(opacity=0.18).encode(y="ci_low:Q", y2="ci_high:Q", **enc_color)
        )
    layers.append(base.mark_line(point=alt.OverlayMarkDef(size=28)).encode(
        y=alt.Y("value:Q", title=y_title, scale=alt.Scale(zero=False)), tooltip=tooltip, **enc_color))
    chart = alt.layer(*layers).properties(height=height)
    return chart.properties(title=title) if title else chart


def dots_with_ci(frame: pd.DataFrame, category: str, title: str = "", height: int = 260) -> alt.Chart:
    """A dot per category at ``value`` with its 95% interval as a whisker (a value of 0 still shows)."""
    base = alt.Chart(frame).encode(y=alt.Y(f"{category}:N", sort="-x", title=None, axis=alt.Axis(labelLimit=220)))
    tooltip = [alt.Tooltip(f"{category}:N"), alt.Tooltip("value:Q", format=",.2f"),
               alt.Tooltip("ci_low:Q", format=",.2f", title="95% low"),
               alt.Tooltip("ci_high:Q", format=",.2f", title="95% high"), alt.Tooltip("sample_size:Q", title="n")]
    layers = []
    if frame["ci_low"].notna().any():
        layers.append(base.mark_rule(color="#4c78a8", strokeWidth=2, opacity=0.5).encode(x="ci_low:Q", x2="ci_high:Q"))
    layers.append(base.mark_point(filled=True, size=90, color="#4c78a8", opacity=1).encode(
        x=alt.X("value:Q", title="value", scale=alt.Scale(zero=False), axis=alt.Axis(format="~g")), tooltip=tooltip))
    chart = alt.layer(*layers).properties(height=max(height, 28 * len(frame)))
    return chart.properties(title=title) if title else chart


def grouped_bars(frame: pd.DataFrame, height: int = 240) -> alt.Chart:
    """Bars of ``value`` per period (labelled by its first day) side by side per ``metric_name``."""
    frame = frame.assign(period=pd.to_datetime(frame["period_start"]).dt.strftime("%Y-%m-%d"))
    return (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X("period:O", title=None, axis=alt.Axis(labelAngle=-45)),
            xOffset="metric_name:N",
            y=alt.Y("value:Q", title="customers"),
            color=alt.Color("metric_name:N", title=None),
            tooltip=["metric_name", "period", alt.Tooltip("value:Q", format=",.0f")],
        )
        .properties(height=height)
    )


def band_area(frame: pd.DataFrame, height: int = 300) -> alt.Chart:
    """Stacked shares of the engagement bands per week (long frame: week_start, band, pct)."""
    return (
        alt.Chart(frame)
        .mark_area()
        .encode(
            x=alt.X("week_start:T", title=None),
            y=alt.Y("pct:Q", stack="normalize", title="share of customers", axis=alt.Axis(format="%")),
            color=alt.Color("band:N", sort=BAND_ORDER, scale=alt.Scale(domain=BAND_ORDER, range=BAND_COLORS)),
            order=alt.Order("band_rank:Q"),
            tooltip=[alt.Tooltip("week_start:T", title="week"), "band:N", alt.Tooltip("pct:Q", format=".1f", title="%")],
        )
        .properties(height=height)
    )


def heatmap(frame: pd.DataFrame, x: str, y: str, value: str, title: str = "", fmt_value: str = ".0f",
            x_sort=None, y_sort=None, height: int = 300, scheme: str = "blues") -> alt.Chart:
    base = alt.Chart(frame).encode(
        x=alt.X(f"{x}:O", sort=x_sort, axis=alt.Axis(labelAngle=0, labelLimit=160, orient="top")),
        y=alt.Y(f"{y}:O", sort=y_sort, axis=alt.Axis(labelLimit=200)),
        tooltip=[alt.Tooltip(f"{c}") for c in frame.columns],
    )
    rect = base.mark_rect().encode(color=alt.Color(f"{value}:Q", scale=alt.Scale(scheme=scheme), title=value))
    text = base.mark_text(fontSize=10).encode(
        text=alt.Text(f"{value}:Q", format=fmt_value),
        color=alt.condition(f"datum.{value} > {frame[value].max() * 0.6 if len(frame) else 0}",
                            alt.value("white"), alt.value("black")),
    )
    chart = (rect + text).properties(height=height)
    return chart.properties(title=title) if title else chart
