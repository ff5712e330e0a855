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
from django.utils.translation import gettext_lazy
from pydantic import ValidationError as PydanticError

from escalation.schemas import CONCERNS
from rooms.bounds import date_in_range
from rooms.models import FamilyBasis
from rooms.network import FamilyBasisIn


def bounded_date(value: dt.date) -> None:
    """The boundary rule's date range (rooms/bounds.py) as a Django form validator."""
    try:
        date_in_range(value)
    except ValueError as exc:
        raise ValidationError(str(exc)) from None


class BasisFields(forms.Form):
    """The lawful basis for one family member (checked again by ``FamilyBasisIn``)."""

    basis = forms.ChoiceField(
        label="Lawful basis for sharing with them",
        choices=[("", "— choose —"), *FamilyBasis.Basis.choices],
    )
    basis_notes = forms.CharField(
        label="Notes (for consent: who agreed, when)", max_length=500, required=False
    )
    decision = forms.CharField(
        label="Best-interests decision (who decided, what, why)",
        max_length=2000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    lpa_reference = forms.CharField(
        label="Lasting power of attorney reference", max_length=100, required=False
    )
    review_on = forms.DateField(
        label="Review by",
        widget=forms.DateInput(attrs={"type": "date"}),
        validators=[bounded_date],
    )

    def basis_in(self) -> FamilyBasisIn | None:
        """The cleaned fields as ``rooms.network.FamilyBasisIn``; errors land on the form."""
        d = self.cleaned_data
        try:
            return FamilyBasisIn(
                basis=d["basis"],
                notes=d.get("basis_notes", ""),
                decision=d.get("decision", ""),
                lpa_reference=d.get("lpa_reference", ""),
                review_on=d["review_on"],
            )
        except PydanticError as exc:
            for e in exc.errors():
                self.add_error(None, e["msg"].removeprefix("Value error, "))
            return None


class InviteForm(BasisFields):
    display_name = forms.CharField(label="Their name", max_length=120)
    relationship = forms.CharField(
        label="Relationship (for example: daughter)", max_length=60, required=False
    )
    days = forms.IntegerField(label="Link valid for (days)", min_value=1, max_value=30, initial=7)
    history_before_join = forms.BooleanField(
        label="The person agrees they see messages from before they joined", required=False
    )

    field_order = [
        "display_name",
        "relationship",
        "days",
        "basis",
        "basis_notes",
        "decision",
        "lpa_reference",
        "review_on",
        "history_before_join",
    ]


class ReviewForm(forms.Form):
    review_on = forms.DateField(
        label="Next review by",
        widget=forms.DateInput(attrs={"type": "date"}),
        validators=[bounded_date],
    )


class AcceptInviteForm(forms.Form):
    username = forms.CharField(
        label=gettext_lazy("Choose a username"),
        max_length=150,
        validators=[UnicodeUsernameValidator()],
    )
    password = forms.CharField(
        label=gettext_lazy("Choose a password"),
        widget=forms.PasswordInput,
        max_length=128,
        strip=False,
    )
    password2 = forms.CharField(
        label=gettext_lazy("Type the password again"),
        widget=forms.PasswordInput,
        max_length=128,
        strip=False,
    )

    def clean(self):
        data = super().clean()
        if data.get("password") and data.get("password") != data.get("password2"):
            self.add_error("password2", gettext_lazy("The two passwords are different."))
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
