"""Your settings page: the language you read CoCare in (rooms.language)."""

from __future__ import annotations

from django import forms
from django.shortcuts import redirect
from django.utils.translation import gettext_lazy

from rooms.language import LANGUAGES, do_set_language
from web.pages import page, person_page


class LanguageForm(forms.Form):
    language = forms.ChoiceField(label=gettext_lazy("Language"), choices=LANGUAGES)


@person_page
def my_settings(request):
    person = request.person
    if request.method == "POST":
        form = LanguageForm(request.POST)
        if form.is_valid():
            do_set_language(person, form.cleaned_data["language"])
            return redirect("my_settings")
        return page(request, "web/settings.html", {"form": form}, active="settings", status=400)
    form = LanguageForm(initial={"language": person.language})
    return page(request, "web/settings.html", {"form": form}, active="settings")
