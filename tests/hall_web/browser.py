"""Chromium for the tests: Debian's /usr/bin/chromium driven by Playwright (no download)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from hall_web.shots import CHROMIUM_ARGS

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = CHROMIUM_ARGS


@pytest.fixture
def chromium() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()
