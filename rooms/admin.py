"""Django admin: an operator's window, never a second write path (docs/security.md "Admin").

Anything with an action in ``rooms.network`` goes through it, so the admin writes the same
audit events, notices and ``access.changed`` hints as the app:

- service users are created by ``do_create_service_user`` (both rooms, audited); their key
  information stays editable, their provider, council and own account do not;
- the lawful basis for family sharing is revoked by an admin action calling
  ``do_revoke_family_basis``; it is recorded through the app (inviting family);
- memberships, rooms, the audit log and the consumers' cursors and failures are read-only
  (members are added and removed in the app, where ``rooms.access.may_join`` decides);
- a person's role, organisation and login are fixed once created (changing them would
  change access without an event): make a new person instead.

Organisations are set-up data without an action; they stay editable.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from rooms.errors import CoCareError
from rooms.models import (
    AuditEvent,
    ConsumerCursor,
    ConsumerFailure,
    FamilyBasis,
    Membership,
    Organisation,
    Person,
    Role,
    Room,
    ServiceUser,
)
from rooms.network import (
    do_create_service_user,
    do_revoke_family_basis,
    do_update_service_user,
)


def acting_person(request: HttpRequest) -> Person | None:
    """The signed-in operator's Person, if their account has one (audit events' actor)."""
    return Person.objects.filter(user_id=request.user.pk).first()


class ReadOnlyAdmin(admin.ModelAdmin):
    """Viewable, never added, changed or deleted here."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Organisation)
class OrganisationAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "commissioned_by")
    list_filter = ("kind",)
    filter_horizontal = ("partner_providers",)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Person)
class PersonAdmin(admin.ModelAdmin):
    list_display = ("display_name", "role", "organisation", "matrix_id")
    list_filter = ("role",)
    search_fields = ("display_name", "matrix_id")
    # Linked only by proof of ownership, from the app (bridge.linking; docs/matrix.md).
    # The language is the person's own choice (their settings page; rooms.language).
    readonly_fields = ("matrix_id", "language")

    def get_readonly_fields(self, request, obj=None):
        # Role, organisation and login decide access: fixed once the person exists.
        fixed = ("role", "organisation", "user", "system_key") if obj is not None else ()
        return (*self.readonly_fields, *fixed)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class FamilyBasisInline(ReadOnlyInline):
    model = FamilyBasis
    fk_name = "service_user"
    fields = (
        "person",
        "basis",
        "recorded_by",
        "recorded_at",
        "review_on",
        "notes",
        "revoked_at",
        "revoked_by",
    )
    readonly_fields = fields


CREATE_ONLY = ("provider", "council", "person")


@admin.register(ServiceUser)
class ServiceUserAdmin(admin.ModelAdmin):
    list_display = ("full_name", "provider", "council", "location_exempt")
    list_filter = ("provider", "council")
    search_fields = ("full_name", "preferred_name")
    exclude = ("created_at", "key_info_updated_at")
    inlines = [FamilyBasisInline]

    def get_readonly_fields(self, request, obj=None):
        return CREATE_ONLY if obj is not None else ()

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        # Only choices the action accepts, so a bad pick is a form error, never a 500.
        if db_field.name == "provider":
            kwargs["queryset"] = Organisation.objects.filter(kind=Organisation.Kind.PROVIDER)
        elif db_field.name == "council":
            kwargs["queryset"] = Organisation.objects.filter(kind=Organisation.Kind.COUNCIL)
        elif db_field.name == "person":
            kwargs["queryset"] = Person.objects.filter(
                role=Role.SERVICE_USER, service_user_record__isnull=True
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj: ServiceUser, form, change: bool) -> None:
        if change:
            # Through the action: audited, and key-information changes are dated.
            fresh = ServiceUser.objects.get(pk=obj.pk)
            do_update_service_user(
                fresh,
                by=acting_person(request),
                **{f: form.cleaned_data[f] for f in form.changed_data},
            )
            return
        # New: through the action, so both rooms and the audit event exist.
        data = dict(form.cleaned_data)
        su = do_create_service_user(
            full_name=data.pop("full_name"),
            provider=data.pop("provider"),
            council=data.pop("council"),
            created_by=acting_person(request),
            **data,
        )
        obj.pk = su.pk
        obj.created_at = su.created_at
        obj.key_info_updated_at = su.key_info_updated_at
        obj._state.adding = False


@admin.register(FamilyBasis)
class FamilyBasisAdmin(ReadOnlyAdmin):
    list_display = ("service_user", "person", "basis", "recorded_at", "review_on", "revoked_at")
    list_filter = ("basis",)
    actions = ["revoke"]

    def has_revoke_permission(self, request) -> bool:
        return request.user.has_perm("rooms.change_familybasis")

    @admin.action(
        description="Revoke the lawful basis (that family member loses access now)",
        permissions=["revoke"],
    )
    def revoke(self, request: HttpRequest, queryset: QuerySet[FamilyBasis]) -> None:
        by = acting_person(request)
        done = 0
        for fb in queryset.filter(revoked_at__isnull=True).select_related("service_user", "person"):
            try:
                do_revoke_family_basis(fb.service_user, fb.person, by=by)
            except CoCareError as exc:
                self.message_user(request, exc.message, messages.WARNING)
            else:
                done += 1
        self.message_user(request, f"Revoked {done} lawful basis record(s).")


@admin.register(Membership)
class MembershipAdmin(ReadOnlyAdmin):
    """Add and remove members in the app: the tenancy rule, notices and audit apply there."""

    list_display = ("room", "person", "joined_at", "removed_at")
    list_filter = ("room__kind", "removed_at")


@admin.register(Room)
class RoomAdmin(ReadOnlyAdmin):
    list_display = ("service_user", "kind", "last_seq")


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ("at", "actor", "action", "service_user", "room", "target")
    list_filter = ("action",)


@admin.register(ConsumerCursor)
class ConsumerCursorAdmin(ReadOnlyAdmin):
    list_display = ("name", "position", "updated_at")


@admin.register(ConsumerFailure)
class ConsumerFailureAdmin(ReadOnlyAdmin):
    list_display = ("consumer", "message", "attempts", "error", "skipped", "last_at")
    list_filter = ("consumer", "skipped")
