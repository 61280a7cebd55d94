"""The report as a person sees it: rendered by a real Chromium (Debian's, headless).

`make test` installs chromium and chromium-driver when it runs as root; elsewhere these tests
skip and say which is missing. The page is opened from a file, offline, as from a download.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.report.page import render_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER),
    reason="needs Debian's chromium and chromium-driver (make test installs them as root)",
)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--window-size=1280,1600",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium')}",
    ):  # fmt: skip
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def open_report(browser, tmp_path: Path, html: str):  # type: ignore[no-untyped-def]
    page = tmp_path / "report.html"
    page.write_text(html, encoding="utf-8")
    browser.get(page.as_uri())
    return browser


def test_a_reader_sees_the_status_the_change_and_one_point_per_run(
    browser, tmp_path: Path, build_report
) -> None:
    from selenium.webdriver.common.by import By

    summary, history, comparison = build_report(every=3)
    html = render_report(summary, status=comparison.verdict, history=history, comparison=comparison)
    page = open_report(browser, tmp_path, html)

    status = page.find_element(By.ID, "status")
    assert status.is_displayed() and status.text == "REGRESSION"
    delta = page.find_element(By.ID, "delta")
    assert delta.is_displayed() and delta.text == f"{100 * comparison.delta:+.2f} pts"
    points = page.find_elements(By.CSS_SELECTOR, "svg.trend circle.point")
    assert len(points) == 4 and all(p.is_displayed() for p in points)
    xs = [p.rect["x"] for p in points]
    assert xs == sorted(xs) and len(set(xs)) == 4  # left to right, oldest first
    assert "REGRESSION" in page.title


def test_a_long_alignment_scrolls_instead_of_wrapping(
    browser, tmp_path: Path, build_report
) -> None:
    from selenium.webdriver.common.by import By

    summary, history, _ = build_report()
    page = open_report(browser, tmp_path, render_report(summary, status="OK", history=history))
    tables = page.find_elements(By.CSS_SELECTOR, "table.align")
    long = max(tables, key=lambda t: len(t.find_elements(By.CSS_SELECTOR, "tr:first-child td")))
    # Every cell of a row on one line: the same top, so REF and HYP stay in their columns (read
    # in one script: a WebDriver call per cell took 4 s for the 360 words).
    tops = page.execute_script(
        "return Array.from(arguments[0].querySelectorAll('tr:first-child td'),"
        " cell => cell.getBoundingClientRect().top)",
        long,
    )
    assert len(tops) > 300 and len(set(tops)) == 1
    scroller = long.find_element(By.XPATH, "..")
    width, visible = page.execute_script(
        "return [arguments[0].scrollWidth, arguments[0].clientWidth]", scroller
    )
    assert width > 3 * visible
