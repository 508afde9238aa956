"""The dashboard page in a real browser (headless Chromium) while the demo simulation runs.

Regenerate the screenshot in the docs with::

    DYNO_SCREENSHOT=docs/images/dashboard.png \
        .venv/bin/python -m pytest tests/test_dashboard_browser.py

Without ``DYNO_SCREENSHOT`` the screenshot goes to the test's temporary directory only.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from dyno.dashboard import DashboardServer, serve
from dyno.demo import PROFILES, Simulation
from tests.browser import chromium

WAIT = 30.0  # seconds any one DOM condition may take to appear
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def demo() -> Iterator[tuple[Simulation, DashboardServer]]:
    """The demo simulation running in-process (no scripted outage), behind a dashboard."""
    simulation = Simulation(6.0, seed=11, outages=False)
    with simulation, serve(services=simulation.services, interval=0.2) as dashboard:
        yield simulation, dashboard


def wait_for(driver: Any, condition: Callable[[Any], object], message: str) -> Any:
    """Wait (bounded) until *condition(driver)* is truthy and return it."""
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, WAIT, poll_frequency=0.05).until(condition, message)


def card_state(name: str) -> Callable[[Any], str | None]:
    """Return a condition reading the circuit state a service's card shows (None: no card)."""

    def read(driver: Any) -> str | None:
        state: str | None = driver.execute_script(
            "const card = document.querySelector("
            "  `section.service[data-service='${arguments[0]}']`);"
            "return card ? card.dataset.state : null;",
            name,
        )
        return state

    return read


def test_page_shows_each_service_and_its_circuit_opening_and_closing(
    demo: tuple[Simulation, DashboardServer], tmp_path: Path
) -> None:
    """Chromium renders a card per demo service; an outage turns one open, recovery closed."""
    from selenium.webdriver.common.by import By

    simulation, dashboard = demo
    names = [profile.name for profile in PROFILES]
    with chromium() as driver:
        driver.get(dashboard.url)
        wait_for(
            driver,
            lambda d: [card_state(name)(d) for name in names] == ["closed"] * len(names),
            "a closed card for every demo service",
        )
        cards = driver.find_elements(By.CSS_SELECTOR, "section.service")
        assert [card.get_attribute("data-service") for card in cards] == sorted(names)
        assert driver.find_element(By.ID, "connection").text == "live"
        assert driver.find_element(By.ID, "empty").is_displayed() is False
        # Let traffic draw some sparkline before the outage (bounded by points drawn).
        wait_for(
            driver,
            lambda d: (
                d.execute_script(
                    "return document.querySelector(`section[data-service='catalog'] "
                    "polyline.errors`).points.length"
                )
                >= 15
            ),
            "a sparkline of 15 points",
        )
        catalog = driver.find_element(By.CSS_SELECTOR, "section[data-service='catalog']")
        shown = {
            cls: catalog.find_element(By.CSS_SELECTOR, f".{cls}").text
            for cls in ("request-rate", "error-pct", "error-rate", "p50", "p90", "p99", "in-flight")
        }
        assert float(shown["request-rate"]) > 0
        assert shown["error-pct"].endswith("%")
        assert 0 <= int(shown["error-pct"][:-1]) <= 100
        assert float(shown["error-rate"]) >= 0
        assert 0 < float(shown["p50"]) <= float(shown["p90"]) <= float(shown["p99"])
        assert int(shown["in-flight"]) >= 0

        simulation.dependencies["recommendations"].down = True
        wait_for(driver, lambda d: card_state("recommendations")(d) == "open", "an open circuit")
        card = driver.find_element(By.CSS_SELECTOR, "section[data-service='recommendations']")
        assert card.find_element(By.CSS_SELECTOR, ".state").text == "OPEN"  # CSS upper-cases
        assert driver.find_element(By.ID, "summary").text == "4 services · 1 open"
        assert driver.title == "dyno dashboard (1 open)"
        short = card.find_element(By.CSS_SELECTOR, ".short-circuited")
        wait_for(driver, lambda d: int(short.text or 0) >= 40, "calls short-circuited")
        shot = tmp_path / "dashboard.png"
        driver.find_element(By.TAG_NAME, "body").screenshot(str(shot))
        assert shot.read_bytes().startswith(PNG)
        target = os.environ.get("DYNO_SCREENSHOT")
        if target:
            Path(target).write_bytes(shot.read_bytes())

        simulation.dependencies["recommendations"].down = False
        wait_for(
            driver, lambda d: card_state("recommendations")(d) == "closed", "the circuit closed"
        )
        assert driver.find_element(By.ID, "summary").text == "4 services · 0 open"
        severe = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
        assert severe == []


def test_page_shows_forced_states_and_a_dropped_server(tmp_path: Path) -> None:
    """Forcing a breaker shows at once; when the server goes away the page says so."""
    from selenium.webdriver.common.by import By

    simulation = Simulation(6.0, seed=12, outages=False)
    dashboard = serve(services=simulation.services, interval=0.2)
    try:
        with chromium() as driver:
            driver.get(dashboard.url)
            wait_for(driver, lambda d: card_state("payments")(d) == "closed", "a payments card")
            simulation.wired[2].breaker.force_closed()
            wait_for(driver, lambda d: card_state("payments")(d) == "forced_closed", "forced")
            simulation.wired[2].breaker.release()
            wait_for(driver, lambda d: card_state("payments")(d) == "closed", "released")
            dashboard.close()
            wait_for(
                driver,
                lambda d: d.find_element(By.ID, "connection").text == "reconnecting…",
                "the page to notice the server is gone",
            )
    finally:
        dashboard.close()
