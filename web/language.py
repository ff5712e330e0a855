"""Each signed-in person sees the pages in their own language (``Person.language``);
everyone else sees English. Runs after AuthenticationMiddleware. One indexed query."""

from __future__ import annotations

from django.conf import settings
from django.utils import translation

from rooms.models import Person


class PersonLanguageMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        lang = settings.LANGUAGE_CODE
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            chosen = Person.objects.filter(user=user).values_list("language", flat=True).first()
            lang = chosen or lang
        translation.activate(lang)
        request.LANGUAGE_CODE = translation.get_language()
        response = self.get_response(request)
        response.headers.setdefault("Content-Language", request.LANGUAGE_CODE)
        translation.deactivate()
        return response
