"""Errors the write path raises; adapters turn them into error frames / 4xx responses."""


class CoCareError(Exception):
    code = "error"
    status = 400

    def __init__(self, message: str, *, code: str | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code


class Invalid(CoCareError):
    code = "invalid"
    status = 422


class Forbidden(CoCareError):
    code = "forbidden"
    status = 403


class NotFound(CoCareError):
    code = "not_found"
    status = 404


class Conflict(CoCareError):
    code = "conflict"
    status = 409


class RateLimited(CoCareError):
    code = "rate_limited"
    status = 429
