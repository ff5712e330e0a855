"""Administrators for the organisation set-up tests, next to the persona cast.

Brightwater (Peggy's provider), Elsewhere (same council) and Riverside (the other
council's provider) each get a provider administrator; Northshire and Southvale each a
council administrator; Northshire an assessor too.
"""

from __future__ import annotations

from dataclasses import dataclass

from rooms.models import Person, Role
from tests.support.cast import Cast, person


@dataclass
class Admins:
    pam: Person  # Brightwater provider administrator
    eddie: Person  # Elsewhere provider administrator
    rhea: Person  # Riverside provider administrator (other council)
    nora: Person  # Northshire council administrator
    sam: Person  # Southvale council administrator
    ash: Person  # Northshire assessor


def build_admins(cast: Cast) -> Admins:
    return Admins(
        pam=person("pam", "Pam Admin", Role.PROVIDER_ADMIN, cast.provider),
        eddie=person("eddie", "Eddie Admin", Role.PROVIDER_ADMIN, cast.other_provider),
        rhea=person("rhea", "Rhea Admin", Role.PROVIDER_ADMIN, cast.far_provider),
        nora=person("nora", "Nora Admin", Role.COUNCIL_ADMIN, cast.council),
        sam=person("sammy", "Sam Admin", Role.COUNCIL_ADMIN, cast.other_council),
        ash=person("ash", "Ash Assessor", Role.ASSESSOR, cast.council),
    )
