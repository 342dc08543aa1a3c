"""Load every dashboard page in headless Chromium (Debian's) and report what rendered.

Used by tests/test_serving.py; by hand: ``python tests/support/dashboard_browser.py URL OUT_DIR``
against a running `make dashboard` (screenshots go to OUT_DIR).
"""

from __future__ import annotations

import colorsys
import io
import sys
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
PAGES = ["",  # overview: the default page, at /
         "surveys", "retention", "digital", "engagement", "at-risk", "alerts"]
# a page without these rendered has failed, whatever else it shows
ERROR_SELECTORS = ['[data-testid="stException"]', '[data-testid="stAlertContentError"]']


def colored_pixels(png: bytes) -> int:
    """Pixels of clear colour (not white, grey or black): the marks of a chart, not its axes."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    count = 0
    for r, g, b in image.get_flattened_data():
        _h, s, v = colorsys.rgb_to_hsv(r / 255, g / 255, b / 255)
        count += s > 0.25 and v > 0.25
    return count


def visit(base_url: str, out_dir: Path, pages: list[str] = PAGES, timeout_ms: int = 60_000) -> dict[str, dict]:
    """Per page: charts, charts without coloured marks, metrics, tables, error texts, seconds."""
    import time

    from playwright.sync_api import sync_playwright

    out_dir.mkdir(parents=True, exist_ok=True)
    report: dict[str, dict] = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1440, "height": 1000})
        # failed requests and script errors; Streamlit's frontend first probes <page>/_stcore/health and
        # host-config relative to the page (404 at a server without a path prefix) before the root
        problems: list[str] = []
        page.on("pageerror", lambda e: problems.append(f"script error: {e}"))
        page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url} {r.failure}"))
        page.on("response", lambda r: problems.append(f"HTTP {r.status}: {r.url}")
                if r.status >= 400 and "/_stcore/" not in r.url else None)
        for name in pages:
            problems.clear()
            started = time.perf_counter()
            page.goto(f"{base_url}/{name}", wait_until="domcontentloaded")
            # the script ran to its end (Streamlit marks the app root) and the charts were drawn
            page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]', timeout=timeout_ms)
            page.wait_for_selector('[data-testid="stMain"] h1', timeout=timeout_ms)
            page.wait_for_timeout(1500)  # vega draws after the script's last message
            charts = page.locator('[data-testid="stVegaLiteChart"]')
            blank = []
            for i in range(charts.count()):
                chart = charts.nth(i)
                chart.scroll_into_view_if_needed()
                if colored_pixels(chart.screenshot()) < 40:  # a single dot of a dot plot has ~80
                    blank.append(i)
            errors = [
                page.locator(sel).nth(i).inner_text()
                for sel in ERROR_SELECTORS for i in range(page.locator(sel).count())
            ]
            text = page.locator('[data-testid="stMain"]').inner_text()
            errors += [line for line in text.splitlines() if "Traceback" in line or "Error:" in line]
            # the main pane scrolls inside the window: make the window as tall as the page to capture all of it
            height = page.evaluate('document.querySelector(\'[data-testid="stMain"]\').scrollHeight')
            page.set_viewport_size({"width": 1440, "height": min(max(height, 900), 8000)})
            page.wait_for_timeout(500)
            page.screenshot(path=str(out_dir / f"{name or 'overview'}.png"))
            page.set_viewport_size({"width": 1440, "height": 1000})
            report[name or "overview"] = {
                "title": page.locator('[data-testid="stMain"] h1').first.inner_text(),
                "charts": charts.count(),
                "blank_charts": blank,
                "metrics": page.locator('[data-testid="stMetric"]').count(),
                "tables": page.locator('[data-testid="stDataFrame"]').count(),
                "errors": errors,
                "text": text,
                "problems": list(problems),
                "seconds": round(time.perf_counter() - started, 2),
            }
        browser.close()
    return report


if __name__ == "__main__":
    import json

    print(json.dumps(visit(sys.argv[1].rstrip("/"), Path(sys.argv[2])), indent=1))
