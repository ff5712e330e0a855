"""The API docs page (/api/docs) with Swagger UI served from our own static files.

django-ninja's ``Swagger`` renders its CDN template unless ``ninja`` is an installed app;
this renders our template instead, which loads swagger-ui-dist from ``web/vendor/``
(copied from node_modules by scripts/vendor-static.sh) and a small init script of ours,
so the page works offline and names no other host.
"""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from ninja.openapi.docs import Swagger, _csrf_needed


class LocalSwagger(Swagger):
    template = "web/api_docs.html"

    def render_page(self, request: HttpRequest, api: Any, **kwargs: Any) -> HttpResponse:
        settings = dict(self.settings, url=self.get_openapi_url(api, kwargs))
        return render(
            request,
            self.template,
            {
                "swagger_settings": json.dumps(settings),
                "api": api,
                "add_csrf": _csrf_needed(api),
            },
        )
