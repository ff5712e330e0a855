"""The fixed persona cast (DESIGN.md §9), built through the real actions.

Two councils, three providers: Peggy's provider (Brightwater) and a second provider
(Elsewhere) under Northshire; a third provider (Riverside) under a second council
(Southvale) with its own service user (Reg), staff, family, health partner and bot — so
every access test can also ask across tenants.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password

from bots.runner import bot_for
from rooms.models import Organisation, Person, Role, Room, ServiceUser
from rooms.network import do_add_member, do_create_service_user, do_record_family_basis

PASSWORD = "test-pass-Xy9!"
T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


@dataclass
class Cast:
    council: Organisation
    provider: Organisation
    other_provider: Organisation
    health: Organisation
    peggy: ServiceUser  # the service user
    team: Room  # Peggy's professional room
    family: Room  # Peggy's family room
    margaret: Person  # Peggy's own account
    anna: Person  # assigned care worker
    nadia: Person  # district nurse
    tom: Person  # physio
    carol: Person  # care manager (Peggy's provider)
    debbie: Person  # daughter, with a recorded basis
    colin: Person  # council duty officer / commissioner
    bot: Person
    outsider_worker: Person  # a care worker not assigned to Peggy
    other_manager: Person  # a care manager of another provider
    # Across tenants: the second provider's care worker; a second council with its own
    # provider, health partner and service user.
    other_worker: Person  # Elsewhere (same council) care worker
    other_council: Organisation  # Southvale
    far_provider: Organisation  # Riverside, commissioned by Southvale
    far_health: Organisation  # Southvale Community Health, partnered with Riverside
    reg: ServiceUser  # Riverside's service user
    reg_team: Room
    reg_family: Room
    reg_person: Person  # Reg's own account
    far_manager: Person  # Riverside care manager
    far_worker: Person  # Riverside care worker
    far_nurse: Person  # Southvale district nurse
    rita: Person  # Reg's daughter, with a recorded basis for Reg
    far_commissioner: Person  # Southvale commissioner
    far_bot: Person  # Riverside's visit bot

    def everyone(self) -> dict[str, Person]:
        return {
            "service_user": self.margaret,
            "care_worker": self.anna,
            "nurse": self.nadia,
            "therapist": self.tom,
            "care_manager": self.carol,
            "family": self.debbie,
            "commissioner": self.colin,
            "bot": self.bot,
            "unassigned_worker": self.outsider_worker,
            "other_provider_manager": self.other_manager,
            "other_provider_worker": self.other_worker,
            "other_council_manager": self.far_manager,
            "other_council_worker": self.far_worker,
            "other_council_nurse": self.far_nurse,
            "other_council_commissioner": self.far_commissioner,
            "other_council_service_user": self.reg_person,
            "other_council_family": self.rita,
        }


@functools.cache
def password_hash() -> str:
    """One real Argon2 hash of PASSWORD, reused: hashing per user made every test ~1 s."""
    return make_password(PASSWORD)


def person(username: str | None, name: str, role: str, org: Organisation | None) -> Person:
    user = None
    if username:
        user = get_user_model().objects.create(username=username, password=password_hash())
    return Person.objects.create(user=user, display_name=name, role=role, organisation=org)


def build_cast(now: dt.datetime = T0) -> Cast:
    council = Organisation.objects.create(name="Northshire Council", kind="council")
    provider = Organisation.objects.create(
        name="Brightwater", kind="provider", commissioned_by=council
    )
    other = Organisation.objects.create(
        name="Elsewhere Care", kind="provider", commissioned_by=council
    )
    health = Organisation.objects.create(name="Community Health", kind="health")
    health.partner_providers.add(provider)
    margaret = person("margaret", "Margaret Hughes", Role.SERVICE_USER, None)
    anna = person("anna", "Anna Kowalski", Role.CARE_WORKER, provider)
    nadia = person("nadia", "Nadia Rahman", Role.NURSE, health)
    tom = person("tom", "Tom Reid", Role.THERAPIST, health)
    carol = person("carol", "Carol Evans", Role.CARE_MANAGER, provider)
    debbie = person("debbie", "Debbie Hughes", Role.FAMILY, None)
    colin = person("colin", "Colin Price", Role.COMMISSIONER, council)
    bot = bot_for(provider)
    outsider = person("olly", "Olly Unassigned", Role.CARE_WORKER, provider)
    other_manager = person("oscar", "Oscar Other", Role.CARE_MANAGER, other)
    peggy = do_create_service_user(
        full_name="Margaret Hughes",
        preferred_name="Peggy",
        provider=provider,
        council=council,
        person=margaret,
        created_by=carol,
        now=now,
        home_lat=53.4808,
        home_lon=-2.2426,
        access_notes="Key safe code 4411",
        preferences="Tea, one sugar",
    )
    team = Room.objects.get(service_user=peggy, kind="professional")
    family = Room.objects.get(service_user=peggy, kind="family")
    do_record_family_basis(peggy, debbie, "consent", by=carol, now=now)
    for p in (carol, anna, bot):
        do_add_member(team, p, by=carol, now=now, notify=False)
        do_add_member(family, p, by=carol, now=now, notify=False)
    for p in (nadia, tom):
        do_add_member(team, p, by=carol, now=now, notify=False)
    for p in (debbie, margaret):
        do_add_member(family, p, by=carol, now=now, notify=False)
    other_worker = person("erin", "Erin Elsewhere", Role.CARE_WORKER, other)
    # The second council's world.
    south = Organisation.objects.create(name="Southvale Council", kind="council")
    riverside = Organisation.objects.create(
        name="Riverside Care", kind="provider", commissioned_by=south
    )
    far_health = Organisation.objects.create(name="Southvale Community Health", kind="health")
    far_health.partner_providers.add(riverside)
    reg_person = person("reg", "Reginald Turner", Role.SERVICE_USER, None)
    fiona = person("fiona", "Fiona Shaw", Role.CARE_MANAGER, riverside)
    wes = person("wes", "Wes Hall", Role.CARE_WORKER, riverside)
    nell = person("nell", "Nell Okoro", Role.NURSE, far_health)
    rita = person("rita", "Rita Turner", Role.FAMILY, None)
    sofia = person("sofia", "Sofia Green", Role.COMMISSIONER, south)
    far_bot = bot_for(riverside)
    reg = do_create_service_user(
        full_name="Reginald Turner",
        preferred_name="Reg",
        provider=riverside,
        council=south,
        person=reg_person,
        created_by=fiona,
        now=now,
        home_lat=50.72,
        home_lon=-1.88,
        access_notes="Key under the blue pot",
    )
    reg_team = Room.objects.get(service_user=reg, kind="professional")
    reg_family = Room.objects.get(service_user=reg, kind="family")
    do_record_family_basis(reg, rita, "lpa", by=fiona, lpa_reference="LPA-7001", now=now)
    for p in (fiona, wes, far_bot):
        do_add_member(reg_team, p, by=fiona, now=now, notify=False)
        do_add_member(reg_family, p, by=fiona, now=now, notify=False)
    do_add_member(reg_team, nell, by=fiona, now=now, notify=False)
    for p in (rita, reg_person):
        do_add_member(reg_family, p, by=fiona, now=now, notify=False)
    return Cast(
        council,
        provider,
        other,
        health,
        peggy,
        team,
        family,
        margaret,
        anna,
        nadia,
        tom,
        carol,
        debbie,
        colin,
        bot,
        outsider,
        other_manager,
        other_worker,
        south,
        riverside,
        far_health,
        reg,
        reg_team,
        reg_family,
        reg_person,
        fiona,
        wes,
        nell,
        rita,
        sofia,
        far_bot,
    )
