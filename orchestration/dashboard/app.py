"""The dashboard (Streamlit): `make dashboard`, or `streamlit run orchestration/dashboard/app.py`.

Reads only the published read-only copy of the marts (CEW_PUBLISHED_PATH), never the warehouse,
so it works while the nightly run writes.
"""

import pandas as pd
import streamlit as st

from orchestration.dashboard import data, views

st.set_page_config(page_title="Customer engagement", page_icon="📊", layout="wide")

PAGES = [
    st.Page(views.overview, title="Overview", icon=":material/dashboard:", url_path="overview", default=True),
    st.Page(views.cx_surveys, title="CX surveys", icon=":material/reviews:", url_path="surveys"),
    st.Page(views.retention, title="Retention and churn", icon=":material/group:", url_path="retention"),
    st.Page(views.digital, title="Digital channels", icon=":material/devices:", url_path="digital"),
    st.Page(views.engagement, title="Engagement bands", icon=":material/stacked_line_chart:", url_path="engagement"),
    st.Page(views.at_risk, title="At-risk customers", icon=":material/warning:", url_path="at-risk"),
    st.Page(views.alerts, title="Alerts", icon=":material/notifications:", url_path="alerts"),
]

page = st.navigation(PAGES)
if data.version() is None:
    st.title("Customer engagement")
    st.warning(f"Nothing published yet at `{data.published_path()}`: run the pipeline first (`make run`).")
    st.stop()
published = views.load("publication")
with st.sidebar:
    st.caption(
        f"Data as of **{pd.Timestamp(published['run_date']):%Y-%m-%d}** · published "
        f"{pd.Timestamp(published['published_at']):%Y-%m-%d %H:%M} UTC · run `{str(published['run_id'])[:8]}`"
    )
page.run()
