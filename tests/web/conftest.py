"""Fixtures for the web tests: the module-scoped Chromium for the browser tests."""

from tests.web.browser import browser  # noqa: F401
