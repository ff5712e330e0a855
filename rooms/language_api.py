"""``GET/PUT /api/me/language``: the signed-in person's language (rooms.language)."""

from __future__ import annotations

from ninja import Router

from rooms.api import ErrorOut, me
from rooms.language import LanguageIn, do_set_language

router = Router(tags=["me"])


@router.get("/me/language", response={200: dict, 404: ErrorOut})
def get_language(request):
    return {"language": me(request).language}


@router.put("/me/language", response={200: dict, 404: ErrorOut, 422: ErrorOut})
def put_language(request, body: LanguageIn):
    person = me(request)
    do_set_language(person, body.language)
    return {"language": person.language}
