"""The invitee's side of a family invitation: a clear page for every state of the link.

Every answer carries ``Referrer-Policy: same-origin`` (docs/security.md "Invitation
links"): the token in the URL is never sent to another site, while the browser still sends
a real ``Origin`` on the form's own POST. ``no-referrer`` made Chromium send
``Origin: null``, which Django's CSRF check rightly refused.
"""

from __future__ import annotations

from django.contrib.auth import login
from django.shortcuts import redirect
from django.utils.translation import gettext, gettext_noop
from django.views.decorators.cache import never_cache

from cocare_chat import clock
from rooms.errors import Invalid, NotFound
from web.forms import AcceptInviteForm
from web.invitations import InvitationUnusable, find_invitation, redeem_invitation
from web.models import Invitation
from web.pages import page
from web.staff.views import accept_account

# The link carries the token: no other site may see it in a Referer. Not "no-referrer":
# with it Chromium sends the form's POST with ``Origin: null``, which Django's CSRF check
# refuses ("This page had gone stale"), so nobody could accept an invitation.
REFERRER_POLICY = "same-origin"
GONE = {
    "used": gettext_noop(
        "This invitation has already been used. If that was you, sign in instead."
    ),
    "expired": gettext_noop("This invitation has expired. Ask the care manager for a new link."),
    "cancelled": gettext_noop(
        "This invitation was withdrawn. Ask the care manager if you think this is a mistake."
    ),
    "withdrawn": gettext_noop(
        "Sharing with family is not currently recorded for this person, so the "
        "invitation cannot be used. Ask the care manager."
    ),
}


# The token is in the path: it may go back to us, never to anyone else.
REFERRER_POLICY = "same-origin"


def _gone(request, status: str):
    resp = page(
        request,
        "web/invite_gone.html",
        {"message": gettext(GONE[status]), "status": status},
        status=410,
    )
    resp["Referrer-Policy"] = REFERRER_POLICY
    return resp


@never_cache
def accept(request, token: str):
    inv = find_invitation(token)
    if inv is None:
        resp = page(
            request,
            "web/invite_gone.html",
            {
                "message": gettext(
                    "This invitation link is not valid. Check that you copied all of it."
                ),
                "status": "invalid",
            },
            status=404,
        )
        resp["Referrer-Policy"] = REFERRER_POLICY
        return resp
    status = inv.status(clock.now())
    if status != "pending":
        return _gone(request, status)
    if inv.kind != Invitation.Kind.FAMILY:  # staff or the service user's own account
        return accept_account(request, token, inv, _gone)
    form = AcceptInviteForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            person = redeem_invitation(
                token,
                username=form.cleaned_data["username"],
                password=form.cleaned_data["password"],
            )
        except InvitationUnusable as exc:
            return _gone(request, exc.status)
        except NotFound:
            return _gone(request, "used")
        except Invalid as exc:
            form.add_error(None, exc.message)
        else:
            login(request, person.user, backend="django.contrib.auth.backends.ModelBackend")
            return redirect("/")
    resp = page(
        request, "web/invite_accept.html", {"inv": inv, "name": inv.service_user.name, "form": form}
    )
    resp["Referrer-Policy"] = REFERRER_POLICY
    return resp
