"""The "Your concerns" page: what the person who raised a concern hears back
(``escalation.concerns``; the API twin is ``GET /api/alerts/mine``)."""

from __future__ import annotations

from escalation.concerns import my_concerns
from web.pages import page, person_page


@person_page
def my_concerns_page(request):
    return page(
        request, "web/concerns.html", {"concerns": my_concerns(request.person)}, active="home"
    )
