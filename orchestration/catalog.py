"""The landing-zone contract as data.

One declarative description per raw source (columns, types, enums, ranges, keys,
event-time column). It drives the loader and its quarantine rules, the raw DDL, dbt's
``sources.yml``, the user docs and the demo-data generator, so each fact about a
source is written exactly once: here. See ``../shared/spec/raw-sources.md``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

# Logical column types -> warehouse (DuckDB) types of the raw layer. Timestamps are
# stored as naive UTC TIMESTAMPs so that the raw tables copy to any engine unchanged.
WAREHOUSE_TYPES = {
    "string": "VARCHAR",
    "enum": "VARCHAR",
    "json": "VARCHAR",
    "timestamp": "TIMESTAMP",
    "date": "DATE",
    "integer": "BIGINT",
    "money": "DECIMAL(18,4)",
    "decimal": "DOUBLE",
    "boolean": "BOOLEAN",
}

# Quarantine reasons, in the order they are checked: a row gets the first that applies.
QUARANTINE_REASONS = {
    "malformed_record": "the line is not a JSON object (JSONL) or cannot be split into fields",
    "missing_key": "a primary-key column is empty",
    "missing_value": "a required (non-nullable) column is empty",
    "bad_timestamp": "a timestamp cannot be parsed as ISO 8601, or its UTC offset is no real one (beyond +-18:00 or not whole quarter hours)",
    "bad_date": "a date cannot be parsed as YYYY-MM-DD",
    "bad_number": "a number cannot be parsed (NaN and infinities included)",
    "bad_boolean": "a boolean is not one of true/false/1/0/yes/no/t/f",
    "unknown_enum": "a value is not in the column's accepted values",
    "out_of_range": "a number is outside its allowed range (e.g. NPS outside 0-10)",
    "negative_amount": "a money amount is negative",
    "future_timestamp": "a timestamp falls more than one day after the file's date",
}

# Raw-layer bookkeeping columns added to every raw table.
LINEAGE_COLUMNS = {
    "_partition_date": ("DATE", "Business day of the landing file the row came from (partition key)."),
    "_source_file": ("VARCHAR", "Landing file name the row came from."),
    "_source_line": ("BIGINT", "Where the row is in that file: JSONL line number; CSV record number (header not counted); Parquet row number; all 1-based."),
    "_loaded_at": ("TIMESTAMP", "UTC time the row was loaded."),
}


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    description: str
    nullable: bool = False
    values: tuple[str, ...] = ()  # accepted values for enums
    min: float | None = None
    max: float | None = None
    integer: bool = False  # a number that must be whole (scores, counts)
    pii: bool = False
    free_text: bool = False  # kept exactly as delivered (no trimming): comments
    # json columns: nested fields flattened into raw columns named <column>_<field>
    fields: tuple["Column", ...] = ()

    @property
    def warehouse_type(self) -> str:
        if self.type == "decimal" and self.integer:
            return "BIGINT"
        return WAREHOUSE_TYPES[self.type]


@dataclass(frozen=True)
class RangeByColumn:
    """A numeric range that depends on another column's value (survey scores)."""

    column: str
    by: str
    ranges: dict[str, tuple[float, float]]


@dataclass(frozen=True)
class Source:
    name: str  # landing folder and raw table name
    system: str  # the business system it comes from: dbt source name
    entity: str  # what one row is: staging model stg_<system>__<entity>
    grain: str
    description: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]
    event_time: str  # column freshness and partition sanity are measured on
    default_format: str = "csv"
    version_column: str | None = None  # entity versions: latest value wins
    range_by: tuple[RangeByColumn, ...] = ()
    freshness_warn_days: int = 2
    freshness_error_days: int = 4
    flatten_json: bool = True

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(f"{self.name} has no column {name!r}")

    @property
    def required_columns(self) -> list[str]:
        """Columns a file's header must have (nullable columns may be absent)."""
        return [c.name for c in self.columns if not c.nullable]

    @property
    def raw_table(self) -> str:
        return self.name

    @property
    def quarantine_table(self) -> str:
        return f"{self.name}__quarantine"

    @property
    def staging_model(self) -> str:
        return f"stg_{self.system}__{self.entity}"

    def raw_columns(self) -> list[tuple[str, str, str]]:
        """(name, warehouse type, description) of the raw table, lineage columns last."""
        out: list[tuple[str, str, str]] = []
        for col in self.columns:
            out.append((col.name, col.warehouse_type, col.description))
            for sub in col.fields:
                out.append(
                    (f"{col.name}_{sub.name}", sub.warehouse_type, f"{col.name}.{sub.name}: {sub.description}")
                )
        out.extend((name, typ, desc) for name, (typ, desc) in LINEAGE_COLUMNS.items())
        return out


def _c(name: str, type_: str, description: str, **kw) -> Column:
    if "values" in kw:
        kw["values"] = tuple(kw["values"])
    if "fields" in kw:
        kw["fields"] = tuple(kw["fields"])
    return Column(name=name, type=type_, description=description, **kw)


def _enum(name: str, values: Iterable[str], description: str, **kw) -> Column:
    return _c(name, "enum", description, values=tuple(values), **kw)


def _count(name: str, description: str, **kw) -> Column:
    return _c(name, "decimal", description, integer=True, min=0, **kw)


ACQUISITION_CHANNELS = ("organic", "paid_search", "social", "email", "referral", "partner", "offline")
PLANS = ("free", "basic", "pro", "enterprise")
SURVEY_SCORE_RANGES = {"nps": (0.0, 10.0), "csat": (1.0, 5.0), "ces": (1.0, 5.0)}
CURRENCY = _c("currency", "string", "ISO 4217 currency code of the row's money columns.")

SOURCES: tuple[Source, ...] = (
    Source(
        name="crm_customers",
        system="crm",
        entity="customers",
        grain="one row per customer version (new or changed customers of that day)",
        description="Customer master data from the CRM. Latest `updated_at` wins.",
        primary_key=("customer_id",),
        event_time="updated_at",
        version_column="updated_at",
        columns=(
            _c("customer_id", "string", "Customer identifier in the CRM."),
            _c("email", "string", "E-mail address (PII).", pii=True),
            _c("full_name", "string", "Full name (PII).", pii=True),
            _c("phone", "string", "Phone number (PII).", nullable=True, pii=True),
            _c("signup_at", "timestamp", "When the customer signed up."),
            _c("country", "string", "ISO 3166-1 alpha-2 country code."),
            _c("city", "string", "City.", nullable=True),
            _c("birth_year", "decimal", "Year of birth.", nullable=True, integer=True, min=1900, max=2030),
            _enum("gender", ("female", "male", "other"), "Gender.", nullable=True),
            _enum("income_band", ("low", "mid", "high"), "Income band.", nullable=True),
            _c("persona", "string", "Marketing persona.", nullable=True),
            _enum("acquisition_channel", ACQUISITION_CHANNELS, "Channel that acquired the customer."),
            _c("marketing_opt_in", "boolean", "Consent to marketing messages."),
            _c("updated_at", "timestamp", "When this version of the customer was written."),
        ),
    ),
    Source(
        name="orders",
        system="shop",
        entity="orders",
        grain="one row per order",
        description="Orders from the shop, web, app, store and phone channels.",
        primary_key=("order_id",),
        event_time="ordered_at",
        columns=(
            _c("order_id", "string", "Order identifier."),
            _c("customer_id", "string", "Customer who placed the order."),
            _c("ordered_at", "timestamp", "When the order was placed."),
            _enum("status", ("completed", "returned", "cancelled"), "Order status."),
            _enum("channel", ("web", "app", "store", "phone"), "Sales channel."),
            CURRENCY,
            _c("gross_amount", "money", "Order amount before discount."),
            _c("discount_amount", "money", "Discount granted."),
            _c("cost_amount", "money", "Cost of goods sold, for margin."),
            _c("referral_code", "string", "Referral code when the order came through a referral.", nullable=True),
        ),
    ),
    Source(
        name="subscription_events",
        system="billing",
        entity="subscription_events",
        grain="one row per subscription lifecycle event",
        description="Subscription lifecycle: trials, subscriptions, plan changes, renewals, cancellations.",
        primary_key=("event_id",),
        event_time="occurred_at",
        columns=(
            _c("event_id", "string", "Event identifier."),
            _c("subscription_id", "string", "Subscription identifier."),
            _c("customer_id", "string", "Subscriber."),
            _enum(
                "event_type",
                ("trial_started", "trial_converted", "trial_expired", "subscribed", "upgraded", "downgraded",
                 "renewed", "cancelled"),
                "Lifecycle event.",
            ),
            _enum("plan", PLANS, "Plan after the event."),
            _c("mrr", "money", "Monthly recurring revenue after the event, in `currency`."),
            CURRENCY,
            _c("occurred_at", "timestamp", "When the event happened."),
            _c("cancel_reason", "string", "Why the subscription was cancelled.", nullable=True),
        ),
    ),
    Source(
        name="web_events",
        system="web",
        entity="events",
        grain="one row per web hit",
        description="Web analytics hits.",
        primary_key=("event_id",),
        event_time="occurred_at",
        default_format="jsonl",
        columns=(
            _c("event_id", "string", "Hit identifier."),
            _c("anonymous_id", "string", "Browser (cookie) identifier."),
            _c("customer_id", "string", "Customer, once logged in.", nullable=True),
            _enum(
                "event_type",
                ("page_view", "click", "form_submit", "signup", "add_to_cart", "purchase", "newsletter_signup",
                 "video_play"),
                "Kind of hit.",
            ),
            _c("page_url", "string", "URL of the page."),
            _c("referrer_url", "string", "Referrer URL.", nullable=True),
            _c("occurred_at", "timestamp", "When the hit happened."),
            _c(
                "context",
                "json",
                "Hit context (JSON object).",
                fields=(
                    _enum("device", ("desktop", "mobile", "tablet"), "Device class."),
                    _c("utm_source", "string", "UTM source.", nullable=True),
                    _c("utm_medium", "string", "UTM medium.", nullable=True),
                    _c("utm_campaign", "string", "UTM campaign.", nullable=True),
                    _c("user_agent", "string", "Browser user agent.", nullable=True),
                ),
            ),
        ),
    ),
    Source(
        name="app_events",
        system="app",
        entity="events",
        grain="one row per app event",
        description="Mobile app analytics events.",
        primary_key=("event_id",),
        event_time="occurred_at",
        default_format="jsonl",
        columns=(
            _c("event_id", "string", "Event identifier."),
            _c("customer_id", "string", "Customer, when logged in.", nullable=True),
            _c("device_id", "string", "Device identifier."),
            _enum("platform", ("ios", "android"), "Mobile platform."),
            _enum(
                "event_type",
                ("install", "uninstall", "app_open", "feature_used", "message_sent", "invite_sent", "video_call"),
                "Kind of app event.",
            ),
            _c("app_version", "string", "App version."),
            _c("occurred_at", "timestamp", "When the event happened."),
            _c("properties", "json", "Free-form event properties (JSON object).", nullable=True),
        ),
    ),
    Source(
        name="email_events",
        system="email",
        entity="events",
        grain="one row per email event",
        description="E-mail platform events.",
        primary_key=("event_id",),
        event_time="occurred_at",
        columns=(
            _c("event_id", "string", "Event identifier."),
            _c("customer_id", "string", "Recipient."),
            _c("campaign_id", "string", "Campaign (one send)."),
            _enum("email_type", ("newsletter", "promo", "onboarding", "transactional"), "Kind of e-mail."),
            _enum(
                "event_type",
                ("sent", "delivered", "open", "click", "bounce", "unsubscribe", "spam_report"),
                "Kind of event.",
            ),
            _c("occurred_at", "timestamp", "When the event happened."),
        ),
    ),
    Source(
        name="social_interactions",
        system="social",
        entity="interactions",
        grain="one row per interaction on the brand's accounts",
        description="Interactions with the brand's social media accounts.",
        primary_key=("interaction_id",),
        event_time="occurred_at",
        columns=(
            _c("interaction_id", "string", "Interaction identifier."),
            _enum("platform", ("x", "facebook", "linkedin", "instagram", "tiktok"), "Social network."),
            _c("post_id", "string", "Post interacted with."),
            _c("customer_id", "string", "Customer matched to the handle.", nullable=True),
            _enum(
                "interaction_type",
                ("impression", "like", "comment", "share", "repost", "mention", "reply", "follow", "unfollow", "dm"),
                "Kind of interaction.",
            ),
            _c("occurred_at", "timestamp", "When the interaction happened."),
        ),
    ),
    Source(
        name="social_account_daily",
        system="social",
        entity="account_daily",
        grain="one row per platform per day",
        description="Daily follower and posting figures of the brand's social accounts.",
        primary_key=("platform", "date"),
        event_time="date",
        columns=(
            _enum("platform", ("x", "facebook", "linkedin", "instagram", "tiktok"), "Social network."),
            _c("date", "date", "Day."),
            _count("followers", "Followers at the end of the day."),
            _count("posts_published", "Posts published that day."),
        ),
    ),
    Source(
        name="support_tickets",
        system="helpdesk",
        entity="tickets",
        grain="one row per ticket version (updates re-sent with a later updated_at)",
        description="Help-desk tickets. Latest `updated_at` wins.",
        primary_key=("ticket_id",),
        event_time="updated_at",
        version_column="updated_at",
        columns=(
            _c("ticket_id", "string", "Ticket identifier."),
            _c("customer_id", "string", "Customer who contacted support."),
            _enum("channel", ("phone", "email", "chat", "whatsapp", "social"), "Contact channel."),
            _c("category", "string", "Ticket category."),
            _c("agent_id", "string", "Agent handling the ticket."),
            _c("opened_at", "timestamp", "When the ticket was opened."),
            _c("first_response_at", "timestamp", "First agent response.", nullable=True),
            _c("resolved_at", "timestamp", "When the ticket was resolved.", nullable=True),
            _count("handle_time_seconds", "Agent working time on the ticket, seconds.", nullable=True),
            _count("contacts_count", "Customer contacts until resolution."),
            _c("reopened", "boolean", "Whether the ticket was reopened."),
            _enum("status", ("open", "pending", "resolved", "closed", "spam", "duplicate"), "Ticket status."),
            _c("updated_at", "timestamp", "When this version was written."),
        ),
    ),
    Source(
        name="survey_responses",
        system="surveys",
        entity="responses",
        grain="one row per survey invitation",
        description="Survey invitations and their answers (NPS, CSAT, CES).",
        primary_key=("invitation_id",),
        event_time="sent_at",
        range_by=(RangeByColumn("score", "survey_type", SURVEY_SCORE_RANGES),),
        columns=(
            _c("invitation_id", "string", "Invitation identifier."),
            _c("customer_id", "string", "Customer invited."),
            _enum("survey_type", ("nps", "csat", "ces"), "Survey kind."),
            _enum(
                "touchpoint",
                ("post_purchase", "support_contact", "onboarding", "website", "app", "periodic"),
                "Moment of the journey the survey asks about.",
            ),
            _enum("channel", ("email", "sms", "in_app", "web_popup", "chat", "whatsapp"), "Channel of the invitation."),
            _c("sent_at", "timestamp", "When the invitation was sent."),
            _c("responded_at", "timestamp", "When the customer answered (null = no answer).", nullable=True),
            _c(
                "score",
                "decimal",
                "Score: NPS 0-10, CSAT 1-5, CES 1-5 (5 = strongly agree it was easy).",
                nullable=True,
                integer=True,
            ),
            _c("comment", "string", "Free-text comment, any language.", nullable=True, free_text=True),
        ),
    ),
    Source(
        name="referrals",
        system="referrals",
        entity="referrals",
        grain="one row per referral",
        description="Referral programme: codes shared and friends who signed up.",
        primary_key=("referral_id",),
        event_time="created_at",
        columns=(
            _c("referral_id", "string", "Referral identifier."),
            _c("referral_code", "string", "Code the referrer shared."),
            _c("referrer_customer_id", "string", "Customer who referred."),
            _c("referred_customer_id", "string", "Friend, once signed up.", nullable=True),
            _c("created_at", "timestamp", "When the referral was created."),
            _c("signed_up_at", "timestamp", "When the friend signed up.", nullable=True),
            _c("first_order_id", "string", "The friend's first order.", nullable=True),
        ),
    ),
    Source(
        name="event_registrations",
        system="events",
        entity="registrations",
        grain="one row per registration to a brand event",
        description="Registrations to the brand's webinars, meetups, conferences, workshops and launches.",
        primary_key=("registration_id",),
        event_time="registered_at",
        columns=(
            _c("registration_id", "string", "Registration identifier."),
            _c("event_id", "string", "Event identifier."),
            _c("event_name", "string", "Event name."),
            _enum("event_type", ("webinar", "meetup", "conference", "workshop", "launch"), "Kind of event."),
            _c("event_date", "date", "Day the event is held."),
            _count("capacity", "Seats available at the event."),
            _c("customer_id", "string", "Registrant."),
            _c("registered_at", "timestamp", "When the customer registered."),
            _c("attended", "boolean", "Attended (null until the event is held).", nullable=True),
            _c("cancelled", "boolean", "Registration cancelled."),
        ),
    ),
    Source(
        name="marketing_spend",
        system="marketing",
        entity="spend",
        grain="one row per channel and campaign per day",
        description="Advertising and marketing spend.",
        primary_key=("date", "channel", "campaign_id"),
        event_time="date",
        columns=(
            _c("date", "date", "Day of the spend."),
            _enum("channel", ACQUISITION_CHANNELS, "Acquisition channel."),
            _c("campaign_id", "string", "Campaign identifier."),
            CURRENCY,
            _c("spend_amount", "money", "Amount spent."),
        ),
    ),
    Source(
        name="fx_rates",
        system="finance",
        entity="fx_rates",
        grain="one row per currency per day",
        description="Exchange rates to USD; the latest earlier rate applies on days without one.",
        primary_key=("date", "currency"),
        event_time="date",
        freshness_warn_days=3,
        freshness_error_days=7,
        columns=(
            _c("date", "date", "Day of the rate."),
            CURRENCY,
            _c("rate_to_usd", "decimal", "USD per one unit of `currency`.", min=0),
        ),
    ),
)

SOURCES_BY_NAME: dict[str, Source] = {s.name: s for s in SOURCES}
FORMATS = ("csv", "jsonl", "parquet")


def get_source(name: str) -> Source:
    try:
        return SOURCES_BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown source {name!r}; known: {', '.join(SOURCES_BY_NAME)}") from None
