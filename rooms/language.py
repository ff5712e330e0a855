"""The language a person reads CoCare in: English (en-gb) or Welsh (cy).

``do_set_language`` is the one write path (the settings page and ``PUT /api/me/language``
both call it). Idempotent: setting the language a person already has writes nothing.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from rooms.models import Person

Language = Literal["en-gb", "cy"]
LANGUAGES: list[tuple[str, str]] = [("en-gb", "English"), ("cy", "Cymraeg")]


class LanguageIn(BaseModel):
    """``{"language": "cy"}``: one of LANGUAGES' codes; anything else is a 422."""

    model_config = ConfigDict(extra="forbid", strict=True)
    language: Language


def do_set_language(person: Person, language: Language) -> bool:
    """Store ``language`` for ``person``; True if it changed."""
    changed = (
        Person.objects.filter(pk=person.pk).exclude(language=language).update(language=language)
    )
    person.language = language
    return bool(changed)
