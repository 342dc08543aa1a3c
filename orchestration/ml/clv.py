"""Customer lifetime value: the simple formula and BG/NBD + Gamma-Gamma, as of a run date.

Input: completed orders (``staging.stg_shop__orders``: net of discount, reporting currency) with
``ordered_date`` on or before the as-of date, read with SQL; RFM is computed vectorised
(``clv_models.rfm_from_transactions``). Output tables:

``ml.customer_clv`` (one row per CRM customer)
    simple CLV = ``avg_order_value x purchase_frequency_per_year x expected_lifespan_years x
    gross_margin_share`` with each factor stored:

    * average order value: the customer's revenue / completed orders;
    * purchase frequency: orders x 365.25 / observed days (signup or first order, whichever is
      earlier, to the as-of date, both counted; at least 30 days), as in ``dim_customers``;
    * expected lifespan: 1 / yearly churn rate of the customer base, capped at
      ``CEW_CLV_MAX_LIFESPAN_YEARS``. The churn rate is the spec's: of the customers active on
      ``as_of - lag`` (paid subscription or a completed order in the active window), the share
      not active on ``as_of``, with ``lag`` = the active window (90 days) when the history is long
      enough, else the longest lag the history allows (at least 28 days); annualised as
      ``1 - (1 - q)^(365.25 / lag)``. Without 28 days of history, or with no churn observed, the
      lifespan is the cap. One number for the base (stored in ``clv_model_runs``, model
      ``simple``): per-customer churn rates are not observable from a customer's own history;
    * gross margin share: (revenue - cost) / revenue over all completed orders with a cost, for
      the base (per-order costs are too sparse per customer), clipped to [0, 1].

    BG/NBD + Gamma-Gamma (weeks; purchases on one calendar day = one transaction; frequency =
    repeat transactions; Gamma-Gamma on customers with a repeat transaction, on the mean of their
    repeat transactions), fitted on all history up to the as-of date: expected purchases in the
    next 52 weeks, P(alive), expected average spend (of a future transaction) and the 12-month
    CLV = expected gross margin of those 52 weeks, discounted monthly at
    ``CEW_CLV_ANNUAL_DISCOUNT_RATE`` (``clv_models.expected_clv``); ``expected_revenue_12m`` is the
    undiscounted revenue (expected purchases x expected spend) the holdout check judges. When the
    Gamma-Gamma fit has q <= 1 (a spend distribution with an infinite mean: seen on short
    histories) the expected spend of one-time buyers is infinite and stored as null, as are their
    revenue and CLV: no number is better than an invented one.

``ml.clv_segments`` (one row per segment: ``all``, country, acquisition channel, persona, age
band, income band, gender, current plan): the segment's simple CLV per customer (mean) and total,
its factors (average order value = revenue / orders of the segment; the others as means), the
12-month CLV per buyer and in total, mean P(alive).

``ml.clv_model_runs`` (one row per run date and model: ``simple``, ``bgnbd``, ``gamma_gamma``)
    parameter names and values (JSON), log-likelihood, customers fitted, converged, and the
    holdout check: the same models fitted on the history up to a cut-off at 75% of the observed
    period (first order day .. as-of date), predicting each calibration customer's repeat
    purchases (``bgnbd``) and spend (``gamma_gamma``: expected purchases x expected spend) in the
    held-out 25%, against what they did: total error (% of actual), MAE, Pearson correlation.

Customers without a completed order have null model columns and a simple CLV of 0. A fit is
not attempted (``converged`` null, message says why) with fewer than ``MIN_REPEAT_BUYERS``
customers with a repeat transaction: there is nothing to learn dropout or spend from.

Thin or degenerate data never fail the run (``fit_models``, ``_twelve_months``): a maximum-
likelihood fit that is not usable (at the search bound, not converged, no finite standard
errors, or Gamma-Gamma with q <= 1) is refitted with a weak normal prior on its log-parameters
(``PRIOR_SD``); when that is not usable either, the customers fall back. ``model_status`` per
customer (``CLV_STATUSES``): ``bgnbd_gamma_gamma``, ``regularised``, ``simple_spend`` (BG/NBD
purchases x the customer's own average order value), ``simple`` (the simple formula's purchase
rate over the 52 weeks x average order value x margin, discounted monthly as the model;
``p_alive`` null), ``no_orders``. ``clv_model_runs.model_status`` per fit: ``mle``,
``regularised``, ``failed``, ``not_fitted``. Every buyer gets a finite 12-month CLV.
"""

from __future__ import annotations

import time
import uuid
import warnings
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

import numpy as np
import pandas as pd

from orchestration.ml import clv_models as cm
from orchestration.ml.common import finite_or_none, params_json

HORIZON_WEEKS = 52.0
HOLDOUT_SHARE = 0.25
MIN_REPEAT_BUYERS = 20
MIN_CHURN_LAG_DAYS = 28

CUSTOMER_CLV_COLUMNS = {
    "customer_id": "VARCHAR",
    "as_of_date": "DATE",
    "orders_count": "BIGINT",
    "revenue": "DOUBLE",
    "first_order_date": "DATE",
    "last_order_date": "DATE",
    "avg_order_value": "DOUBLE",
    "purchase_frequency_per_year": "DOUBLE",
    "expected_lifespan_years": "DOUBLE",
    "gross_margin_share": "DOUBLE",
    "simple_clv": "DOUBLE",
    "frequency": "BIGINT",
    "recency_weeks": "DOUBLE",
    "t_weeks": "DOUBLE",
    "monetary_value": "DOUBLE",
    "expected_purchases_12m": "DOUBLE",
    "p_alive": "DOUBLE",
    "expected_avg_spend": "DOUBLE",
    "expected_revenue_12m": "DOUBLE",
    "clv_12m": "DOUBLE",
    "model_status": "VARCHAR",
    "run_id": "VARCHAR",
}

# ml.customer_clv.model_status: where a customer's 12-month columns come from (README "CLV and churn")
STATUS_FITTED = "bgnbd_gamma_gamma"  # maximum-likelihood BG/NBD and Gamma-Gamma
STATUS_REGULARISED = "regularised"  # BG/NBD and/or Gamma-Gamma from the regularised fallback fit
STATUS_SIMPLE_SPEND = "simple_spend"  # BG/NBD purchases x the customer's own average order value
STATUS_SIMPLE = "simple"  # no usable BG/NBD: the simple formula's rate, 12 months; p_alive null
STATUS_NO_ORDERS = "no_orders"  # no completed order: model columns null, simple CLV 0
CLV_STATUSES = (STATUS_FITTED, STATUS_REGULARISED, STATUS_SIMPLE_SPEND, STATUS_SIMPLE, STATUS_NO_ORDERS)
DEGRADED_STATUSES = (STATUS_REGULARISED, STATUS_SIMPLE_SPEND, STATUS_SIMPLE)
# ml.clv_model_runs.model_status of the bgnbd and gamma_gamma rows
FIT_MLE, FIT_REGULARISED, FIT_NOT_FITTED, FIT_FAILED = "mle", "regularised", "not_fitted", "failed"
# sd of the normal prior on each log-parameter of the regularised fallback: e^(2 x 2) ~ x55 either
# side of the centre, wide enough not to move a fit the data determine
PRIOR_SD = 2.0

CLV_MODEL_RUNS_COLUMNS = {
    "run_id": "VARCHAR",
    "run_date": "DATE",
    "computed_at": "TIMESTAMP",
    "model": "VARCHAR",
    "parameters": "JSON",
    "log_likelihood": "DOUBLE",
    "customers_fitted": "BIGINT",
    "converged": "BOOLEAN",
    "message": "VARCHAR",
    "model_status": "VARCHAR",
    "fit_seconds": "DOUBLE",
    "holdout_cutoff_date": "DATE",
    "holdout_weeks": "DOUBLE",
    "holdout_customers": "BIGINT",
    "holdout_target": "VARCHAR",
    "holdout_predicted_total": "DOUBLE",
    "holdout_actual_total": "DOUBLE",
    "holdout_total_error_pct": "DOUBLE",
    "holdout_mae": "DOUBLE",
    "holdout_correlation": "DOUBLE",
}

SEGMENTS = ("country", "acquisition_channel", "persona", "age_band", "income_band", "gender", "current_plan")

# Simple CLV per segment (spec: "per customer and segment"): the segment's customers' mean of
# each factor and of the CLV (a mean of per-customer CLVs = the segment's value per customer).
SEGMENTS_SQL = """
CREATE OR REPLACE TABLE ml.clv_segments AS
WITH joined AS (
    SELECT k.*, {segment_columns}
    FROM ml.customer_clv AS k
    JOIN marts.dim_customers AS d USING (customer_id)
),
unpivoted AS (
    SELECT 'all' AS segment_name, 'all' AS segment_value, * FROM joined
    {segment_unions}
)
SELECT
    as_of_date, segment_name, segment_value,
    count(*) AS customers,
    count(*) FILTER (WHERE orders_count > 0) AS buyers,
    sum(revenue) / nullif(sum(orders_count), 0) AS avg_order_value,
    avg(purchase_frequency_per_year) AS purchase_frequency_per_year,
    avg(expected_lifespan_years) AS expected_lifespan_years,
    avg(gross_margin_share) AS gross_margin_share,
    avg(simple_clv) AS simple_clv_per_customer,
    sum(simple_clv) AS simple_clv_total,
    avg(clv_12m) AS clv_12m_per_buyer,
    sum(clv_12m) AS clv_12m_total,
    avg(p_alive) AS p_alive_mean,
    run_id
FROM unpivoted
GROUP BY as_of_date, segment_name, segment_value, run_id
ORDER BY segment_name, segment_value
"""


def write_segments(con) -> int:
    """``ml.clv_segments`` from ``ml.customer_clv`` and the customers' current attributes."""
    cols = ", ".join(f"d.{s} AS seg_{s}" for s in SEGMENTS)
    unions = "\n    ".join(
        f"UNION ALL SELECT '{s}', coalesce(CAST(seg_{s} AS VARCHAR), 'unknown'), * FROM joined" for s in SEGMENTS
    )
    con.execute(SEGMENTS_SQL.format(segment_columns=cols, segment_unions=unions))
    return con.execute("SELECT count(*) FROM ml.clv_segments").fetchall()[0][0]


ORDERS_SQL = """
SELECT customer_id, ordered_date, net_amount_reporting AS amount
FROM staging.stg_shop__orders
WHERE status = 'completed' AND ordered_date <= ? AND customer_id IS NOT NULL
  AND net_amount_reporting IS NOT NULL
"""

CUSTOMERS_SQL = """
SELECT customer_id, signup_date
FROM marts.dim_customers
WHERE NOT is_unknown_member
"""

CUSTOMERS_COUNT_SQL = "SELECT count(*) FROM marts.dim_customers WHERE NOT is_unknown_member"

# Active on day d (spec): paid subscription on d, or a completed order in the window ending on d.
ACTIVE_ON_SQL = """
WITH days AS (SELECT CAST(? AS DATE) AS d UNION ALL SELECT CAST(? AS DATE))
SELECT days.d, c.customer_id,
       coalesce(bool_or(p.is_paid), false) OR count(o.customer_id) > 0 AS active
FROM days
CROSS JOIN (SELECT customer_id FROM marts.dim_customers WHERE NOT is_unknown_member) AS c
LEFT JOIN intermediate.int_subscriptions__plan_periods AS p
  ON p.customer_id = c.customer_id AND p.from_date <= days.d AND days.d < p.to_date
LEFT JOIN (SELECT DISTINCT customer_id, ordered_date FROM staging.stg_shop__orders WHERE status = 'completed') AS o
  ON o.customer_id = c.customer_id AND o.ordered_date <= days.d AND o.ordered_date > days.d - ?
GROUP BY days.d, c.customer_id
"""

MARGIN_SQL = """
SELECT sum(net_amount_reporting) FILTER (WHERE cost_amount_reporting IS NOT NULL) AS revenue,
       sum(cost_amount_reporting) AS cost
FROM staging.stg_shop__orders
WHERE status = 'completed' AND ordered_date <= ?
"""


@dataclass
class CLVResult:
    customers: pd.DataFrame
    runs: pd.DataFrame
    bgnbd: cm.BGNBDFit | None = None
    gamma_gamma: cm.GammaGammaFit | None = None
    seconds: dict[str, float] = field(default_factory=dict)

    def run_row(self, model: str) -> dict:
        rows = self.runs[self.runs["model"] == model]
        return rows.iloc[0].to_dict() if len(rows) else {}


def dropout_at_bound_only(message: str) -> bool:
    """BG/NBD whose only bound is on the dropout Beta (a and/or b at the search bound): the history
    shows no detectable dropout, the Beta degenerates at p = a / (a + b) and the predictions are
    those of that limit. A boundary optimum, not a failed optimisation."""
    marker = "parameter(s) at the search bound: "
    if marker not in (message or ""):
        return False
    hit = {p.strip() for p in message.split(marker, 1)[1].split(",")}
    return bool(hit) and hit <= {"a", "b"} and "ABNORMAL" not in message.upper()


@dataclass
class Fits:
    """The BG/NBD and Gamma-Gamma fits to use (None: none usable) and how each was obtained."""

    bg: cm.BGNBDFit | None
    gg: cm.GammaGammaFit | None
    bg_status: str
    gg_status: str
    bg_message: str
    gg_message: str
    bg_tried: cm.BGNBDFit | None = None  # the last fit attempted (reported even when not usable)
    gg_tried: cm.GammaGammaFit | None = None


def _determined(fit) -> bool:
    """Finite standard errors: the optimum is a proper maximum, not a flat ridge the optimiser
    stopped on (seen on identical customers: BG/NBD "converged" at r = 6e4, alpha = 9e5)."""
    return all(np.isfinite(v) for v in fit.stderr.values())


def _bg_usable(fit) -> bool:
    return (fit.converged and _determined(fit)) or dropout_at_bound_only(fit.message)


def _gg_usable(fit) -> bool:
    # q <= 1: the mean spend of one-time buyers is infinite
    return fit.converged and _determined(fit) and fit.q > 1.0


def _fit_with_fallback(fit_fn, usable, *args):
    """Maximum likelihood; when it is not usable (a search bound, no convergence), the regularised
    fit; when neither is, none. A fit that raises (degenerate input) counts as failed, never
    fails the run. Returns (fit | None, status, message, last fit tried | None)."""
    tried, messages = None, []
    for prior_sd, status in ((None, FIT_MLE), (PRIOR_SD, FIT_REGULARISED)):
        try:
            fit = fit_fn(*args, prior_sd=prior_sd)
        except (ValueError, FloatingPointError, ArithmeticError, np.linalg.LinAlgError) as exc:
            messages.append(f"{status} fit raised {type(exc).__name__}: {exc}")
            continue
        tried = fit
        if usable(fit):
            note = "" if status == FIT_MLE else f"maximum likelihood not usable ({'; '.join(messages)}); "
            return fit, status, note + fit.message, fit
        q = getattr(fit, "q", None)
        why = (" (standard errors not finite: a flat optimum)" if fit.converged and not _determined(fit) else "")
        why += f" (q = {q:.3g} <= 1)" if q is not None and q <= 1 else ""
        messages.append(f"{status}: {fit.message}{why}")
    return None, FIT_FAILED, "no usable fit: " + "; ".join(messages), tried


def fit_models(rfm: cm.RFM) -> Fits:
    """BG/NBD and Gamma-Gamma with their fallbacks; neither is attempted with fewer than
    ``MIN_REPEAT_BUYERS`` repeat buyers (Gamma-Gamma: with positive spend)."""
    repeat = int((rfm.frequency > 0).sum()) if len(rfm) else 0
    if repeat < MIN_REPEAT_BUYERS:
        why = f"not fitted: {repeat} customers with a repeat transaction (< {MIN_REPEAT_BUYERS})"
        return Fits(None, None, FIT_NOT_FITTED, FIT_NOT_FITTED, why, why)
    bg, bg_status, bg_message, bg_tried = _fit_with_fallback(
        cm.fit_bgnbd, _bg_usable, rfm.frequency, rfm.recency_weeks, rfm.T_weeks)
    gg_rows = (rfm.frequency > 0) & (rfm.monetary_value > 0)
    if gg_rows.sum() < MIN_REPEAT_BUYERS:
        gg, gg_status, gg_tried = None, FIT_NOT_FITTED, None
        gg_message = f"not fitted: fewer than {MIN_REPEAT_BUYERS} repeat buyers with positive spend"
    else:
        gg, gg_status, gg_message, gg_tried = _fit_with_fallback(
            cm.fit_gamma_gamma, _gg_usable, rfm.frequency, rfm.monetary_value)
    return Fits(bg, gg, bg_status, gg_status, bg_message, gg_message, bg_tried, gg_tried)


def _base_churn(con, as_of: date, first_day: date | None, active_window_days: int, cap_years: float) -> dict:
    history_days = (as_of - first_day).days if first_day else 0
    lag = min(active_window_days, history_days)
    out = {"lag_days": lag, "cap_years": cap_years, "base_customers": 0, "churned_customers": 0,
           "period_churn_rate": None, "yearly_churn_rate": None}
    if lag < MIN_CHURN_LAG_DAYS:
        out.update(lifespan_years=cap_years, method=f"cap: history of {history_days} days < {MIN_CHURN_LAG_DAYS}")
        return out
    start = as_of - timedelta(days=lag)
    rows = con.execute(ACTIVE_ON_SQL, [start, as_of, active_window_days]).df()
    wide = rows.pivot(index="customer_id", columns="d", values="active").fillna(False)
    wide.columns = [pd.Timestamp(c).date() for c in wide.columns]
    base = wide[start] if start in wide.columns else pd.Series(dtype=bool)
    n_base = int(base.sum())
    churned = int((base & ~wide[as_of]).sum()) if n_base else 0
    out.update(base_customers=n_base, churned_customers=churned)
    if n_base == 0 or churned == 0:
        out.update(lifespan_years=cap_years, method="cap: no churn observed" if n_base else "cap: nobody active")
        return out
    q = churned / n_base
    yearly = 1.0 - (1.0 - q) ** (365.25 / lag)
    out.update(period_churn_rate=q, yearly_churn_rate=yearly, lifespan_years=min(cap_years, 1.0 / yearly),
               method="1 / yearly churn rate of the active base, capped")
    return out


def _metrics_row(m: cm.HoldoutMetrics | None) -> dict:
    if m is None:
        return {}
    # infinite / NaN (e.g. Gamma-Gamma q <= 1: infinite mean spend of one-time buyers) -> null
    return {
        "holdout_predicted_total": finite_or_none(m.predicted_total),
        "holdout_actual_total": finite_or_none(m.actual_total),
        "holdout_total_error_pct": finite_or_none(m.total_error_pct),
        "holdout_mae": finite_or_none(m.mae),
        "holdout_correlation": finite_or_none(m.correlation),
    }


def compute_clv(con, as_of: date, *, active_window_days: int = 90, max_lifespan_years: float = 10.0,
                annual_discount_rate: float = 0.1, run_id: str | None = None) -> CLVResult:
    run_id = run_id or uuid.uuid4().hex[:12]
    computed_at = datetime.now(timezone.utc).replace(tzinfo=None)
    seconds: dict[str, float] = {}
    orders = con.execute(ORDERS_SQL, [as_of]).df()
    customers = con.execute(CUSTOMERS_SQL).df()
    first_day = orders["ordered_date"].min() if len(orders) else None
    first_day = pd.Timestamp(first_day).date() if first_day is not None and not pd.isna(first_day) else None

    # --- simple CLV -------------------------------------------------------------------------
    per = orders.groupby("customer_id").agg(
        orders_count=("amount", "size"), revenue=("amount", "sum"),
        first_order_date=("ordered_date", "min"), last_order_date=("ordered_date", "max"),
    )
    frame = customers.set_index("customer_id").join(per, how="left")
    frame["orders_count"] = frame["orders_count"].fillna(0).astype("int64")
    frame["revenue"] = frame["revenue"].fillna(0.0)
    as_of_ts = pd.Timestamp(as_of)
    observed_from = pd.concat(
        [pd.to_datetime(frame["signup_date"]), pd.to_datetime(frame["first_order_date"])], axis=1
    ).min(axis=1)
    observed_days = ((as_of_ts - observed_from).dt.days + 1).clip(lower=30)
    frame["avg_order_value"] = frame["revenue"] / frame["orders_count"].where(frame["orders_count"] > 0)
    frame["purchase_frequency_per_year"] = frame["orders_count"] * 365.25 / observed_days
    churn = _base_churn(con, as_of, first_day, active_window_days, max_lifespan_years)
    margin_rev, margin_cost = con.execute(MARGIN_SQL, [as_of]).fetchall()[0]
    margin = float(np.clip((margin_rev - margin_cost) / margin_rev, 0.0, 1.0)) if margin_rev else 1.0
    frame["expected_lifespan_years"] = churn["lifespan_years"]
    frame["gross_margin_share"] = margin
    frame["simple_clv"] = (
        frame["avg_order_value"].fillna(0.0) * frame["purchase_frequency_per_year"].fillna(0.0)
        * churn["lifespan_years"] * margin
    )
    runs = [{
        "model": "simple", "parameters": params_json({**churn, "gross_margin_share": margin}),
        "customers_fitted": int(len(frame)), "converged": None, "message": churn["method"],
    }]

    # --- BG/NBD + Gamma-Gamma, all history up to as_of -----------------------------------------
    fits = None
    if len(orders):
        started = time.perf_counter()
        rfm = cm.rfm_from_transactions(orders["customer_id"].to_numpy(), orders["ordered_date"].to_numpy(),
                                       orders["amount"].to_numpy(), as_of)
        seconds["rfm"] = time.perf_counter() - started
        started = time.perf_counter()
        fits = fit_models(rfm)
        seconds["fit"] = time.perf_counter() - started
        bg, gg = fits.bg, fits.gg
        model_cols = pd.DataFrame({
            "frequency": rfm.frequency, "recency_weeks": rfm.recency_weeks, "t_weeks": rfm.T_weeks,
            "monetary_value": rfm.monetary_value,
        }, index=pd.Index(rfm.customer_id, name="customer_id"))
        if bg is not None:
            model_cols["expected_purchases_12m"] = cm.bgnbd_expected_purchases(
                bg, HORIZON_WEEKS, rfm.frequency, rfm.recency_weeks, rfm.T_weeks)
            model_cols["p_alive"] = cm.bgnbd_p_alive(bg, rfm.frequency, rfm.recency_weeks, rfm.T_weeks)
            model_cols["_discounted_purchases"] = cm.discounted_purchases(
                bg, rfm.frequency, rfm.recency_weeks, rfm.T_weeks, horizon_weeks=HORIZON_WEEKS,
                annual_discount_rate=annual_discount_rate)
        if bg is not None and gg is not None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # q <= 1 cannot reach here (not usable)
                model_cols["expected_avg_spend"] = cm.gamma_gamma_expected_spend(gg, rfm.frequency, rfm.monetary_value)
        frame = frame.join(model_cols, how="left")
        holdout = _holdout(orders, first_day, as_of)
        for model, fit, status, message in (("bgnbd", fits.bg_tried, fits.bg_status, fits.bg_message),
                                            ("gamma_gamma", fits.gg_tried, fits.gg_status, fits.gg_message)):
            row = {"model": model, "customers_fitted": 0, "converged": None, "message": message,
                   "model_status": status}
            if fit is not None:
                row.update(parameters=params_json({**fit.params, **{f"{k}_se": v for k, v in fit.stderr.items()},
                                                    **({"annual_discount_rate": annual_discount_rate,
                                                        "horizon_weeks": HORIZON_WEEKS} if model == "bgnbd" else {})}),
                           log_likelihood=fit.log_likelihood, customers_fitted=int(fit.n_customers),
                           converged=bool(fit.converged), fit_seconds=fit.fit_seconds)
            row.update(holdout.get(model, {}))
            runs.append(row)
    else:
        runs += [{"model": m, "customers_fitted": 0, "message": "not fitted: no completed orders",
                  "model_status": FIT_NOT_FITTED} for m in ("bgnbd", "gamma_gamma")]
    for col in CUSTOMER_CLV_COLUMNS:
        if col not in frame.columns and col not in ("customer_id", "as_of_date", "run_id"):
            frame[col] = np.nan
    frame = _twelve_months(frame, fits, margin, annual_discount_rate)
    frame = frame.reset_index()
    frame["as_of_date"] = as_of
    frame["run_id"] = run_id
    runs_frame = pd.DataFrame(runs)
    for col in CLV_MODEL_RUNS_COLUMNS:
        if col not in runs_frame.columns:
            runs_frame[col] = None
    runs_frame["run_id"] = run_id
    runs_frame["run_date"] = as_of
    runs_frame["computed_at"] = computed_at
    runs_frame = runs_frame.astype(object).where(runs_frame.notna(), None)
    return CLVResult(frame, runs_frame, fits.bg if fits else None, fits.gg if fits else None, seconds)


def _twelve_months(frame: pd.DataFrame, fits: Fits | None, margin: float, annual_discount_rate: float) -> pd.DataFrame:
    """Spend, revenue and CLV of the next 12 months for every buyer, and ``model_status``: from the
    fits where they are usable, else the fallbacks (module docstring). No buyer is left null."""
    buyers = (frame["orders_count"] > 0).to_numpy()
    status = np.where(buyers, STATUS_FITTED, STATUS_NO_ORDERS).astype(object)
    aov = frame["avg_order_value"].astype(float)
    if fits is None or fits.bg is None:
        # the simple CLV's rate over the next 52 weeks, at the customer's average order value
        purchases = frame["purchase_frequency_per_year"].astype(float) * HORIZON_WEEKS * cm.DAYS_PER_WEEK / 365.25
        frame["expected_purchases_12m"] = purchases.where(buyers)
        frame["_discounted_purchases"] = purchases * cm.uniform_discount_factor(HORIZON_WEEKS, annual_discount_rate)
        frame["p_alive"] = np.nan
        spend = aov
        status[buyers] = STATUS_SIMPLE
    else:
        spend = frame["expected_avg_spend"].astype(float)
        own = buyers & ~np.isfinite(spend.to_numpy())
        spend = spend.where(~own, aov)
        uses_gg = buyers & ~own
        regularised = (fits.bg_status == FIT_REGULARISED) | (uses_gg & (fits.gg_status == FIT_REGULARISED))
        status[buyers & regularised] = STATUS_REGULARISED
        status[own] = STATUS_SIMPLE_SPEND
    frame["expected_avg_spend"] = spend.where(buyers)
    frame["expected_revenue_12m"] = (frame["expected_purchases_12m"] * frame["expected_avg_spend"]).where(buyers)
    frame["clv_12m"] = (frame["_discounted_purchases"] * frame["expected_avg_spend"] * margin).where(buyers)
    frame["model_status"] = status
    return frame.drop(columns=["_discounted_purchases"])


def _holdout(orders: pd.DataFrame, first_day: date | None, as_of: date) -> dict[str, dict]:
    """Fit on the first 75% of the observed period, predict the last 25% per calibration customer."""
    if first_day is None:
        return {}
    period = (as_of - first_day).days
    cutoff = first_day + timedelta(days=int(round(period * (1.0 - HOLDOUT_SHARE))))
    weeks = (as_of - cutoff).days / cm.DAYS_PER_WEEK
    base = {"holdout_cutoff_date": cutoff, "holdout_weeks": weeks}
    if weeks <= 0:
        return {}
    rfm, actual_n, actual_spend = cm.calibration_holdout_split(
        orders["customer_id"].to_numpy(), orders["ordered_date"].to_numpy(), orders["amount"].to_numpy(), cutoff, as_of)
    fits = fit_models(rfm)
    bg, gg, skipped = fits.bg, fits.gg, fits.bg_message
    if bg is None:
        return {"bgnbd": {**base, "holdout_target": skipped}, "gamma_gamma": {**base, "holdout_target": skipped}}
    check = cm.holdout_check(bg, rfm.frequency, rfm.recency_weeks, rfm.T_weeks, actual_n, weeks,
                             gg_fit=gg, monetary_value=rfm.monetary_value if gg is not None else None,
                             actual_spend=actual_spend if gg is not None else None)
    out = {"bgnbd": {**base, "holdout_customers": len(rfm),
                     "holdout_target": "repeat purchases per customer (distinct purchase days)",
                     **_metrics_row(check.purchases)}}
    if check.spend is not None:
        out["gamma_gamma"] = {**base, "holdout_customers": len(rfm),
                              "holdout_target": "spend per customer (expected purchases x expected spend)",
                              **_metrics_row(check.spend)}
    return out
