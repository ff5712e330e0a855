"""Each signed-in person sees the pages in their own language (``Person.language``).
Anyone not signed in (the sign-in and invitation pages, the error pages) gets the
browser's preferred language among ours (``Accept-Language``), else English: an invited
Welsh-speaking daughter reads her invitation in Welsh before she has an account.
Runs after AuthenticationMiddleware. One indexed query for a signed-in person."""

from __future__ import annotations

from django.conf import settings
from django.utils import translation
from django.utils.cache import patch_vary_headers

from rooms.models import Person


class PersonLanguageMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        lang = settings.LANGUAGE_CODE
        user = getattr(request, "user", None)
        signed_in = user is not None and user.is_authenticated
        if signed_in:
            chosen = Person.objects.filter(user=user).values_list("language", flat=True).first()
            lang = chosen or lang
        else:
            lang = translation.get_language_from_request(request)
        translation.activate(lang)
        request.LANGUAGE_CODE = translation.get_language()
        response = self.get_response(request)
        response.headers.setdefault("Content-Language", request.LANGUAGE_CODE)
        if not signed_in:
            patch_vary_headers(response, ("Accept-Language",))
        translation.deactivate()
        return response
