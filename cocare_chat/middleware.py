"""HTTP middleware that belongs to no one app."""

from __future__ import annotations

import logging

from django.db import InterfaceError, OperationalError
from django.http import JsonResponse

log = logging.getLogger(__name__)


class DatabaseUnavailableMiddleware:
    """A lost database connection answers 503 with Retry-After, not a 500.

    Requests that fail this way wrote nothing (the transaction is rolled back), so the
    client's retry — with the same client id for sends — is safe.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, OperationalError | InterfaceError):
            return None
        log.warning("database unavailable during %s: %s", request.method, type(exception).__name__)
        response = JsonResponse(
            {"error": "unavailable", "message": "The record is briefly unavailable; retry."},
            status=503,
        )
        response["Retry-After"] = "2"
        return response
