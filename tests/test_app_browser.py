"""The app in a real headless Chromium (Debian's, never a downloaded browser), driven by Selenium.

Starts ``streamlit run app/main.py`` on a free localhost port, waits for the
overview's headline metric, clicks to the Annotators and Export pages and
checks their text. Screenshots go to tests/artifacts/ (gitignored).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "tests" / "artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
SERVER_START_SECONDS = 60
# the first page audits the bundled sample (about 15 s on an idle 2-core machine; allow for a busy CI)
FIRST_AUDIT_SECONDS = 240
PAGE_SECONDS = 90
WINDOW = (1440, 900)  # a laptop screen

pytestmark = pytest.mark.browser


def _missing_browser() -> str | None:
    for path in (CHROMIUM, CHROMEDRIVER):
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            return (f"{path} is not installed; install Debian's chromium and chromium-driver "
                    "(`apt-get install chromium chromium-driver`, as .ci/run does) to run the browser test")
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def app_url(tmp_path):
    """A running ``streamlit run app/main.py``; always terminated."""
    pytest.importorskip("streamlit")
    port = _free_port()
    log = (tmp_path / "streamlit.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app/main.py", "--server.headless", "true",
         "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"],
        cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_SECONDS
        while True:
            if proc.poll() is not None:
                pytest.fail(f"streamlit exited with {proc.returncode}: {(tmp_path / 'streamlit.log').read_text()}")
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"streamlit did not answer on {url} within {SERVER_START_SECONDS} s")
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()


@pytest.fixture
def browser(tmp_path):
    reason = _missing_browser()
    if reason:
        pytest.skip(reason)
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                f"--user-data-dir={tmp_path / 'chromium-profile'}", f"--window-size={WINDOW[0]},{WINDOW[1]}"):
        options.add_argument(arg)
    # explicit driver path: Selenium Manager never looks for (or downloads) a browser or driver
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def _wait_text(driver, text: str, timeout: float) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, timeout).until(ec.text_to_be_present_in_element((By.TAG_NAME, "body"), text))


def _no_exception(driver) -> None:
    from selenium.webdriver.common.by import By

    errors = driver.find_elements(By.CSS_SELECTOR, "[data-testid='stException']")
    assert not errors, errors[0].text


def _click_nav(driver, title: str) -> None:
    from selenium.webdriver.common.by import By

    links = driver.find_elements(By.CSS_SELECTOR, "[data-testid='stSidebarNavLink']")
    match = [a for a in links if a.text.strip().endswith(title)]
    assert match, f"no navigation link {title!r} among {[a.text for a in links]}"
    match[0].click()


def test_overview_annotators_export_in_chromium(app_url, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    browser.get(app_url)
    # the overview's headline metric appears once the sample is audited
    WebDriverWait(browser, FIRST_AUDIT_SECONDS).until(ec.presence_of_element_located(
        (By.XPATH, "//*[@data-testid='stMetricLabel'][contains(., 'Krippendorff alpha')]")))
    _wait_text(browser, "Findings", PAGE_SECONDS)
    _no_exception(browser)
    browser.save_screenshot(str(ARTIFACTS / "app_overview.png"))

    _click_nav(browser, "Annotators")
    _wait_text(browser, "Agreement against position bias", PAGE_SECONDS)
    _wait_text(browser, "Flagged", PAGE_SECONDS)
    _no_exception(browser)
    browser.save_screenshot(str(ARTIFACTS / "app_annotators.png"))

    _click_nav(browser, "Export")
    _wait_text(browser, "Kept pairs", PAGE_SECONDS)
    _wait_text(browser, "dpo.jsonl", PAGE_SECONDS)
    _no_exception(browser)
    assert "Traceback" not in browser.find_element(By.TAG_NAME, "body").text
    browser.save_screenshot(str(ARTIFACTS / "app_export.png"))
    assert (ARTIFACTS / "app_export.png").stat().st_size > 10_000
