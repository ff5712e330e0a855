from django.contrib import admin

from rooms.models import (
    AuditEvent,
    ConsumerCursor,
    ConsumerFailure,
    FamilyBasis,
    Membership,
    Organisation,
    Person,
    Room,
    ServiceUser,
)


@admin.register(Organisation)
class OrganisationAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "commissioned_by")
    list_filter = ("kind",)


@admin.register(Person)
class PersonAdmin(admin.ModelAdmin):
    list_display = ("display_name", "role", "organisation", "matrix_id")
    list_filter = ("role",)
    search_fields = ("display_name", "matrix_id")
    # Linked only by proof of ownership, from the app (bridge.linking; docs/matrix.md).
    readonly_fields = ("matrix_id",)


class FamilyBasisInline(admin.TabularInline):
    model = FamilyBasis
    extra = 0
    fk_name = "service_user"


@admin.register(ServiceUser)
class ServiceUserAdmin(admin.ModelAdmin):
    list_display = ("full_name", "provider", "council", "location_exempt")
    list_filter = ("provider", "council")
    search_fields = ("full_name", "preferred_name")
    inlines = [FamilyBasisInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    """Read-mostly: add and remove members through the app so notices and audit happen."""

    list_display = ("room", "person", "joined_at", "removed_at")
    list_filter = ("room__kind", "removed_at")
    raw_id_fields = ("room", "person", "removed_by")


@admin.register(Room)
class RoomAdmin(admin.ModelAdmin):
    list_display = ("service_user", "kind", "last_seq")
    readonly_fields = ("last_seq",)


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ("at", "actor", "action", "service_user", "room", "target")
    list_filter = ("action",)

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


admin.site.register(ConsumerCursor)
admin.site.register(ConsumerFailure)
