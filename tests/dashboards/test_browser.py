"""Headless Chromium opens every dashboard the way a person would, and reads a number off the screen."""

from __future__ import annotations

import re
import tempfile
import time

import pytest

from dashboards import publish
from tests.dashboards.conftest import DEMO_COUNTY

pytestmark = [pytest.mark.slow, pytest.mark.browser]

CHROMIUM_FLAGS = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
    "--window-size=1600,3000", "--lang=zh-CN",
)
LOADING = "[data-test=loading-indicator], .loading, [aria-label=loading]"


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    with tempfile.TemporaryDirectory(prefix="shuyun-chromium-") as profile:
        for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
            options.add_argument(flag)
        driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
        driver.set_page_load_timeout(120)
        yield driver
        driver.quit()


def login(driver, url: str, username: str, password: str) -> None:
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    driver.delete_all_cookies()
    # The login page is rendered by React: keys typed before it settles can be lost (seen once under CI load,
    # the page stayed on /login). Try the form up to three times before giving up.
    for attempt in range(3):
        driver.get(f"{url}/login/")
        field = WebDriverWait(driver, 60).until(ec.presence_of_element_located((By.ID, "username")))
        field.clear()
        field.send_keys(username)
        secret = driver.find_element(By.ID, "password")
        secret.clear()
        secret.send_keys(password)
        driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        try:
            WebDriverWait(driver, 30).until(lambda d: "/login" not in d.current_url)
            return
        except TimeoutException:
            if attempt == 2:
                raise


def open_dashboard(driver, url: str, slug: str, charts: int, timeout: float = 180) -> float:
    """Open a dashboard; wait until every chart has rendered and nothing is loading. Returns seconds taken."""
    from selenium.webdriver.common.by import By

    t0 = time.monotonic()
    driver.get(f"{url}/superset/dashboard/{slug}/?standalone=1")
    deadline = t0 + timeout
    while time.monotonic() < deadline:
        rendered = driver.find_elements(By.CSS_SELECTOR, "[data-test=chart-container], [role=alert]")
        if len(rendered) >= charts and not driver.find_elements(By.CSS_SELECTOR, LOADING):
            time.sleep(1.0)  # echarts animates in; let the last frame land before the screenshot
            return time.monotonic() - t0
        time.sleep(0.5)
    raise AssertionError(f"{slug}: {charts} charts did not render within {timeout:.0f} s")


def error_alerts(driver) -> list[str]:
    from selenium.webdriver.common.by import By

    return [e.text for e in driver.find_elements(By.CSS_SELECTOR, "[role=alert], .alert-danger") if e.text.strip()]


def big_number(driver, title_prefix: str) -> int:
    """The value a big-number chart shows, found by the start of its title."""
    from selenium.webdriver.common.by import By

    for holder in driver.find_elements(By.CSS_SELECTOR, "[data-test=dashboard-component-chart-holder]"):
        headers = holder.find_elements(By.CSS_SELECTOR, "[data-test=slice-header]")
        if headers and headers[0].text.strip().startswith(title_prefix):
            text = holder.find_element(By.CSS_SELECTOR, ".header-line").text
            return int(re.sub(r"[^\d]", "", text))
    raise AssertionError(f"no big number titled {title_prefix!r} on the page")


def dashboard_charts() -> dict[str, int]:
    assets = publish.load_assets()
    return {
        doc["slug"]: sum(1 for n in doc["position"].values() if isinstance(n, dict) and n.get("type") == "CHART")
        for doc in assets.of("dashboards").values()
    }


@pytest.mark.parametrize("slug", ["province-overview", "county-scorecard", "assessment-indicators"])
def test_analyst_opens_each_dashboard_without_errors(superset_instance, superset_logins, browser, slug):
    # given the demo analyst logged in
    inst, status, _result = superset_instance
    login(browser, status.url, publish.DEMO_ANALYST, superset_logins[publish.DEMO_ANALYST])
    # when the dashboard opens and every chart renders
    seconds = open_dashboard(browser, status.url, slug, dashboard_charts()[slug])
    # then no chart shows an error, and a screenshot is kept for a person to look at
    assert error_alerts(browser) == []
    shot = inst.state_dir / "screens" / f"{slug}.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 50_000
    print(f"{slug}: rendered in {seconds:.1f} s → {shot}")


def test_overview_numbers_match_the_marts(superset_instance, superset_logins, browser, pg):
    _inst, status, _result = superset_instance
    login(browser, status.url, publish.DEMO_ANALYST, superset_logins[publish.DEMO_ANALYST])
    open_dashboard(browser, status.url, "province-overview", dashboard_charts()["province-overview"])
    loans, visits = pg.execute("select sum(loans), sum(visits) from marts.fct_library_daily").fetchone()
    assert big_number(browser, "外借册次") == loans
    assert big_number(browser, "到馆人次") == visits


def test_county_director_sees_their_county_on_screen(superset_instance, superset_logins, browser, pg):
    _inst, status, _result = superset_instance
    director = publish.demo_director(DEMO_COUNTY)
    login(browser, status.url, director, superset_logins[director])
    open_dashboard(browser, status.url, "county-scorecard", dashboard_charts()["county-scorecard"])
    assert error_alerts(browser) == []
    # the big number is the mart's value for the latest quarter (the 期别 filter's default), their county only
    loans = pg.execute("select value from marts.mart_county_scorecard where county_code = %s and indicator_id = 'loans'"
                       " and period_type = 'quarter' and period_start = '2025-10-01'", (DEMO_COUNTY,)).fetchone()[0]
    assert big_number(browser, "外借册次") == loans
