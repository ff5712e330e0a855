"""Deployment checks (``manage.py check --deploy``) for the secrets production needs.

Production (``COCARE_PRODUCTION=true``) refuses to start with a public or weak secret
(cocare_chat.config); these report the same rule as errors when an operator checks a
configuration before switching production on.
"""

from __future__ import annotations

from django.core.checks import Error, Tags, register

from cocare_chat.config import get_config, production_secret_problems


@register(Tags.security, deploy=True)
def secrets_are_real(app_configs=None, **kwargs) -> list[Error]:
    return [
        Error(
            f"{problem}.",
            id="cocare.E001",
            hint="Set a long random secret, e.g. python -c 'import secrets; "
            "print(secrets.token_urlsafe(64))'.",
        )
        for problem in production_secret_problems(get_config())
    ]
