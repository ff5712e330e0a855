"""Form boundaries of the set-up pages: every field typed and bounded (the actions check
again). Django's FloatField refuses NaN and infinities; dates are not taken here."""

from __future__ import annotations

from decimal import Decimal

from django import forms

from rooms.models import Role

ROLE_LABELS = dict(Role.choices)


def role_choices(roles) -> list[tuple[str, str]]:
    return sorted(((r, ROLE_LABELS[r]) for r in roles), key=lambda c: c[1])


class StaffInviteForm(forms.Form):
    display_name = forms.CharField(label="Their name", max_length=120)
    email = forms.EmailField(label="Email (offered as their username)", required=False)
    role = forms.ChoiceField(label="Role")
    days = forms.IntegerField(label="Link valid for (days)", min_value=1, max_value=30, initial=7)

    def __init__(self, *args, roles, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = role_choices(roles)


class RoleForm(forms.Form):
    role = forms.ChoiceField(label="New role")

    def __init__(self, *args, roles, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = role_choices(roles)


class ServiceUserDetailsForm(forms.Form):
    full_name = forms.CharField(label="Full name", max_length=200)
    preferred_name = forms.CharField(label="Preferred name", max_length=100, required=False)
    home_lat = forms.FloatField(label="Home latitude", min_value=-90, max_value=90, required=False)
    home_lon = forms.FloatField(
        label="Home longitude", min_value=-180, max_value=180, required=False
    )
    checkin_radius_m = forms.IntegerField(
        label="Check-in radius (metres)", min_value=10, max_value=5000, required=False
    )
    commissioned_hours_per_week = forms.DecimalField(
        label="Commissioned hours per week",
        min_value=Decimal(0),
        max_value=Decimal(168),
        max_digits=5,
        decimal_places=2,
        required=False,
    )


class ServiceUserCreateForm(ServiceUserDetailsForm):
    managers = forms.TypedMultipleChoiceField(
        label="Care managers (join both rooms)",
        coerce=int,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )

    def __init__(self, *args, managers, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["managers"].choices = [(m.id, m.display_name) for m in managers]


class OwnAccountForm(forms.Form):
    days = forms.IntegerField(label="Link valid for (days)", min_value=1, max_value=30, initial=7)


class AssignForm(forms.Form):
    person = forms.TypedChoiceField(label="Member of staff", coerce=int)

    def __init__(self, *args, staff, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["person"].choices = [
            (p.id, f"{p.display_name} ({p.get_role_display()})") for p in staff
        ]
