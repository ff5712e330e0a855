"""``{{ code|label:"concern" }}``: the human words for a stored code (web.dashboards.labels)."""

from __future__ import annotations

from django import template

from web.dashboards import labels

register = template.Library()


@register.filter(name="label")
def label(code: str | None, kind: str) -> str:
    return labels.label(code, kind)
