"""HTML form boundaries: every field declared, every error shown next to its field.

Django forms ignore undeclared POST fields (browsers send CSRF tokens and buttons), so the
strictness lives in the declared types and lengths; the actions behind them validate again
(``bots.schedule.PlannedVisitIn``, ``web.invitations``).
"""

from __future__ import annotations

import datetime as dt

from django import forms
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError

from escalation.schemas import CONCERNS
from rooms.bounds import date_in_range
from rooms.models import FamilyBasis


def bounded_date(value: dt.date) -> None:
    """The boundary rule's date range (rooms/bounds.py) as a Django form validator."""
    try:
        date_in_range(value)
    except ValueError as exc:
        raise ValidationError(str(exc)) from None


class InviteForm(forms.Form):
    display_name = forms.CharField(label="Their name", max_length=120)
    relationship = forms.CharField(
        label="Relationship (for example: daughter)", max_length=60, required=False
    )
    days = forms.IntegerField(label="Link valid for (days)", min_value=1, max_value=30, initial=7)
    basis = forms.ChoiceField(
        label="Lawful basis for sharing with family",
        choices=[("", "— choose —"), *FamilyBasis.Basis.choices],
        required=False,
    )
    basis_notes = forms.CharField(
        label="Basis notes (who agreed, when)", max_length=500, required=False
    )

    def __init__(self, *args, basis_needed: bool, **kwargs):
        super().__init__(*args, **kwargs)
        self.basis_needed = basis_needed
        if not basis_needed:
            del self.fields["basis"]
            del self.fields["basis_notes"]
        else:
            self.fields["basis"].required = True


class AcceptInviteForm(forms.Form):
    username = forms.CharField(
        label="Choose a username", max_length=150, validators=[UnicodeUsernameValidator()]
    )
    password = forms.CharField(
        label="Choose a password", widget=forms.PasswordInput, max_length=128, strip=False
    )
    password2 = forms.CharField(
        label="Type the password again", widget=forms.PasswordInput, max_length=128, strip=False
    )

    def clean(self):
        data = super().clean()
        if data.get("password") and data.get("password") != data.get("password2"):
            self.add_error("password2", "The two passwords are different.")
        return data


class PlannedVisitForm(forms.Form):
    worker = forms.TypedChoiceField(label="Care worker", coerce=int)
    date = forms.DateField(
        label="Date", widget=forms.DateInput(attrs={"type": "date"}), validators=[bounded_date]
    )
    start = forms.TimeField(label="From", widget=forms.TimeInput(attrs={"type": "time"}))
    end = forms.TimeField(label="To", widget=forms.TimeInput(attrs={"type": "time"}))
    notes = forms.CharField(label="Notes", max_length=300, required=False)

    def __init__(self, *args, workers, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["worker"].choices = [(w.id, w.display_name) for w in workers]


class ResolveForm(forms.Form):
    outcome = forms.CharField(
        label="Outcome", max_length=4000, widget=forms.Textarea(attrs={"rows": 3})
    )
    raiser_outcome = forms.CharField(
        label="What the person who raised it is told (no clinical detail)",
        max_length=1000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class ReopenForm(forms.Form):
    reason = forms.CharField(
        label="Why reopen?", max_length=2000, widget=forms.Textarea(attrs={"rows": 2})
    )


CONCERN_CHOICES = [(c, c.replace("_", " ")) for c in CONCERNS]
