"""Fixtures for the visit-record tests: the module-scoped Chromium for the browser test."""

from tests.web.browser import browser  # noqa: F401
