"""Word pools of the demo data: countries, names, cities, pages, campaigns, free text.

Enum values are never listed here: they come from :mod:`orchestration.catalog`. These
pools hold only the free values of string columns (names, URLs, comments, ...).
"""

from __future__ import annotations

from dataclasses import dataclass

# Timestamp offsets rendered per row. GB exports use both spellings of UTC; "" is a naive
# timestamp (meaning UTC), written for a small share of rows.
TZ_SUFFIXES = ("Z", "+00:00", "+01:00", "+03:00", "-05:00", "")
TZ_OFFSETS_S = (0, 0, 3600, 10800, -18000, 0)
TZ_NAIVE = 5
TZ_UTC = 0

CURRENCIES = ("USD", "EUR", "GBP", "TRY")


@dataclass(frozen=True)
class Country:
    code: str
    weight: float
    currency: str
    tz: tuple[int, ...]  # candidate TZ_SUFFIXES indexes (one is drawn per customer)
    phone: str  # phone prefix; digits follow
    first_names: tuple[str, ...]
    last_names: tuple[str, ...]
    cities: tuple[str, ...]
    email_domains: tuple[str, ...]
    android_share: float


_TR_FIRST = ("Ayşe", "Fatma", "Zeynep", "Elif", "Şule", "Gökçe", "Özge", "Çağla", "Büşra", "İrem", "Mehmet",
             "Mustafa", "Ahmet", "Emre", "Oğuz", "Burak", "Çağrı", "Şükrü", "İbrahim", "Gürkan", "Barış", "Ümit")
_TR_LAST = ("Yılmaz", "Kaya", "Demir", "Şahin", "Çelik", "Yıldız", "Yıldırım", "Öztürk", "Aydın", "Özdemir",
            "Arslan", "Doğan", "Kılıç", "Çetin", "Koç", "Kurt", "Özkan", "Şimşek", "Güneş", "Erdoğan")
_EN_FIRST = ("James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David", "Elizabeth",
             "Olivia", "Liam", "Emma", "Noah", "Amelia", "Oliver", "Sophie", "Harry", "Isla", "Jack")
_EN_LAST = ("Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Wilson", "Taylor",
            "O'Brien", "Evans", "Thomas", "Roberts", "Walker", "Wright", "Hughes", "Green")
_DE_FIRST = ("Lukas", "Jürgen", "Sophie", "Marie", "Maximilian", "Lena", "Felix", "Hannah", "Jonas", "Leonie",
             "Günter", "Jörg", "Anna", "Paul")
_DE_LAST = ("Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Schulz",
            "Hoffmann", "Schäfer", "Koch", "Bauer", "Richter", "Schröder", "Neumann")
_NL_FIRST = ("Daan", "Sem", "Emma", "Julia", "Lieke", "Bram", "Sanne", "Thijs")
_NL_LAST = ("de Jong", "Jansen", "de Vries", "van den Berg", "van Dijk", "Bakker", "Visser")
_FR_FIRST = ("Léa", "Chloé", "Hugo", "Louis", "Camille", "Théo", "Manon", "Jules")
_FR_LAST = ("Martin", "Bernard", "Dubois", "Thomas", "Robert", "Lefèvre", "Girard", "Rousseau")
_COMMON_DOMAINS = ("gmail.com", "outlook.com", "yahoo.com", "icloud.com", "hotmail.com")

COUNTRIES: tuple[Country, ...] = (
    Country("TR", 0.40, "TRY", (3,), "+90 5", _TR_FIRST, _TR_LAST,
            ("İstanbul", "Ankara", "İzmir", "Bursa", "Antalya", "Eskişehir", "Muğla", "Çanakkale"),
            _COMMON_DOMAINS + ("yandex.com.tr",), 0.75),
    Country("US", 0.22, "USD", (4,), "+1 2", _EN_FIRST, _EN_LAST,
            ("New York", "Chicago", "Austin", "Boston", "Atlanta", "Miami"), _COMMON_DOMAINS, 0.4),
    Country("DE", 0.14, "EUR", (2,), "+49 1", _DE_FIRST, _DE_LAST,
            ("Berlin", "München", "Hamburg", "Köln", "Düsseldorf"), _COMMON_DOMAINS + ("gmx.de", "web.de"), 0.6),
    Country("GB", 0.10, "GBP", (0, 1), "+44 7", _EN_FIRST, _EN_LAST,
            ("London", "Manchester", "Birmingham", "Leeds", "Edinburgh"), _COMMON_DOMAINS, 0.45),
    Country("NL", 0.07, "EUR", (2,), "+31 6", _NL_FIRST, _NL_LAST,
            ("Amsterdam", "Rotterdam", "Utrecht", "Den Haag"), _COMMON_DOMAINS, 0.55),
    Country("FR", 0.07, "EUR", (2,), "+33 6", _FR_FIRST, _FR_LAST,
            ("Paris", "Lyon", "Marseille", "Bordeaux"), _COMMON_DOMAINS + ("orange.fr",), 0.6),
)

# e-mail local parts are ASCII: fold the names' letters
ASCII_FOLD = str.maketrans({
    "ç": "c", "ğ": "g", "ı": "i", "ö": "o", "ş": "s", "ü": "u", "Ç": "c", "Ğ": "g", "İ": "i", "Ö": "o",
    "Ş": "s", "Ü": "u", "ä": "a", "ß": "ss", "é": "e", "è": "e", "ë": "e", "'": "", " ": "",
})

# latent persona -> (propensity shift, churn hazard multiplier)
PERSONAS = {
    "bargain_hunter": (0.0, 1.2),
    "loyal_regular": (0.2, 0.6),
    "explorer": (0.05, 1.0),
    "busy_professional": (-0.05, 0.9),
    "casual_browser": (-0.2, 1.4),
}
# income band -> mean order value (USD) scale
INCOME_ORDER_VALUE = {"low": 38.0, "mid": 62.0, "high": 115.0}

# subscription plan -> monthly price per currency (price lists, not FX conversions)
PLAN_PRICES = {
    "free": {"USD": 0.0, "EUR": 0.0, "GBP": 0.0, "TRY": 0.0},
    "basic": {"USD": 9.99, "EUR": 9.49, "GBP": 7.99, "TRY": 299.0},
    "pro": {"USD": 29.99, "EUR": 27.99, "GBP": 24.99, "TRY": 899.0},
    "enterprise": {"USD": 99.0, "EUR": 92.0, "GBP": 79.0, "TRY": 2999.0},
}
CANCEL_REASONS = ("too_expensive", "not_using_enough", "switched_to_competitor", "missing_features",
                  "technical_issues", "temporary_pause", "other")

SITE = "https://shop.example.com"
PRODUCT_SLUGS = ("kadin-ceket", "erkek-sneaker", "wireless-earbuds", "espresso-machine", "yoga-mat", "backpack-30l",
                 "smart-watch", "linen-shirt", "coffee-beans-1kg", "desk-lamp", "running-shorts", "phone-case",
                 "ceramic-mug", "winter-boots", "sunglasses", "bluetooth-speaker")
BLOG_SLUGS = ("how-to-choose-running-shoes", "kahve-demleme-rehberi", "spring-style-guide", "home-office-setup",
              "sustainability-report", "video-product-tour")
PAGES_GENERAL = ("/", "/pricing", "/products", "/cart", "/checkout", "/signup", "/login", "/account", "/contact",
                 "/help/returns", "/help/shipping", "/newsletter")
PAGES = PAGES_GENERAL + tuple(f"/products/{s}" for s in PRODUCT_SLUGS) + tuple(f"/blog/{s}" for s in BLOG_SLUGS)
SEARCH_REFERRERS = ("https://www.google.com/", "https://www.google.com.tr/", "https://www.bing.com/",
                    "https://yandex.com.tr/", "https://duckduckgo.com/")
SOCIAL_REFERRERS = ("https://t.co/", "https://www.facebook.com/", "https://l.instagram.com/",
                    "https://www.linkedin.com/", "https://www.tiktok.com/")
OTHER_REFERRERS = ("https://www.reddit.com/r/deals/", "https://news.ycombinator.com/", "https://www.donanimhaber.com/forum",
                   "https://medium.com/@shopper/best-gifts-2026", "https://www.hepsiburada.com/blog")
USER_AGENTS = {
    "desktop": ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36",
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15",
                "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0"),
    "mobile": ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
               "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Mobile Safari/537.36"),
    "tablet": ("Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",),
}


@dataclass(frozen=True)
class Campaign:
    campaign_id: str
    channel: str  # an acquisition channel of the catalog
    currency: str
    daily_usd_per_1k_customers: float
    first_day: int  # days from the window start; negative = running before it
    last_day: int | None  # None = running through the window
    utm_source: str
    utm_medium: str


CAMPAIGNS = (
    Campaign("gs-brand-tr", "paid_search", "TRY", 6.0, -60, None, "google", "cpc"),
    Campaign("gs-generic-us", "paid_search", "USD", 5.0, -30, None, "google", "cpc"),
    Campaign("bing-brand-us", "paid_search", "USD", 1.2, 10, None, "bing", "cpc"),
    Campaign("meta-prospecting-tr", "social", "TRY", 4.5, -45, None, "facebook", "paid_social"),
    Campaign("meta-retargeting", "social", "USD", 2.5, -10, 60, "instagram", "paid_social"),
    Campaign("tiktok-spring-awareness", "social", "EUR", 3.0, 20, 75, "tiktok", "paid_social"),
    Campaign("nl-weekly", "email", "USD", 0.4, -365, None, "newsletter", "email"),
    Campaign("promo-blast", "email", "USD", 0.3, -365, None, "newsletter", "email"),
    Campaign("partner-affiliates", "partner", "EUR", 1.8, -90, None, "awin", "affiliate"),
    Campaign("partner-influencer-tr", "partner", "TRY", 2.2, 5, 50, "influencer", "affiliate"),
    Campaign("ooh-istanbul-metro", "offline", "TRY", 3.5, 0, 30, "ooh", "offline"),
    Campaign("podcast-us", "offline", "USD", 1.5, -20, None, "podcast", "audio"),
    Campaign("referral-rewards", "referral", "USD", 0.8, -365, None, "referral", "referral"),
)

TICKET_CATEGORIES = ("billing", "delivery", "returns", "technical", "account", "product_question", "complaint")

# survey comments by (language, sentiment); they carry commas, quotes, newlines and Turkish letters
COMMENTS = {
    ("en", "pos"): ("Great service, fast delivery. Would buy again!",
                    'Loved it, the "express" option really is express.',
                    "Support was friendly,\nand the refund was quick.",
                    "Easy checkout, clear prices, no surprises."),
    ("en", "neu"): ("OK overall, but the app is a bit slow.",
                    'Delivery took 4 days, "standard" shipping I guess.',
                    "Fine.\nNothing special."),
    ("en", "neg"): ("Package arrived late, and the box was damaged.",
                    'I was told "it will be fixed tomorrow", it was not.',
                    "Too many emails,\ntoo few answers.",
                    "Checkout failed twice, I had to call, then wait 40 minutes."),
    ("tr", "pos"): ("Kargo çok hızlıydı, teşekkürler!",
                    'Ürün "tam" beklediğim gibi, kalitesi harika.',
                    "Müşteri hizmetleri çok ilgiliydi,\nsorunum aynı gün çözüldü.",
                    "Fiyat/performans gayet iyi, tavsiye ederim."),
    ("tr", "neu"): ("Fena değil, ama teslimat biraz gecikti.",
                    'Uygulama güzel, "sepet" ekranı yavaş açılıyor.',
                    "İdare eder.\nDaha iyi olabilir."),
    ("tr", "neg"): ("Sipariş iki kez iptal oldu, kimse dönüş yapmadı.",
                    "Ürün hasarlı geldi, iade süreci çok uzun sürdü.",
                    'Çağrı merkezinde 30 dakika bekledim, "yoğunluk var" dediler.\nÇok kötü.',
                    "İşlem sırasında hata aldım, ödeme iki kez çekildi!"),
}

# brand events: (name template, event_type); names hold commas, quotes and Turkish letters
EVENT_NAMES = (
    ('Webinar: "Retention, Churn & LTV" #{n}', "webinar"),
    ("Müşteri Deneyimi Buluşması, İstanbul #{n}", "meetup"),
    ("Workshop: Veri Odaklı Pazarlama #{n}", "workshop"),
    ("Customer Success Conference, Berlin #{n}", "conference"),
    ('Ürün Lansmanı: "Işık" Serisi #{n}', "launch"),
    ('Webinar: "Abonelik Ekonomisi" #{n}', "webinar"),
    ("Growth Meetup, İzmir #{n}", "meetup"),
)

# app feature names and invite channels used in app event properties
APP_FEATURES = ("search", "filters", "wishlist", "scan_barcode", "order_tracking", "loyalty_card", "chat_support")
APP_SCREENS = ("home", "feed", "product", "cart", "profile")
INVITE_CHANNELS = ("whatsapp", "sms", "email", "link")
INSTALL_SOURCES = ("app_store", "play_store", "campaign", "organic")

# bad values injected by the messiness option; none parses as a timestamp or a number
BAD_TIMESTAMPS = ("2026-13-45T99:00", "31/02/2026 25:61", "2026-02-30T10:00:00", "not a date",
                  "2026-03-01T24:61:00+03:00", "yesterday 10am")
BAD_NUMBERS = ("12,5x", "1.234,56€", "12..5", "1O5", "≈40", "--3")
