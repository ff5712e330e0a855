from django.apps import AppConfig
from django.contrib.auth.signals import user_logged_out
from django.db.models.signals import post_save
from django.urls import register_converter

from rooms.bounds import IdConverter


class RoomsConfig(AppConfig):
    name = "rooms"
    verbose_name = "Care networks and rooms"

    def ready(self) -> None:
        # Before any URLconf is loaded: page routes take ids as <id:...> (rooms/bounds.py).
        register_converter(IdConverter, "id")

        from django.contrib.auth import get_user_model

        from cocare_chat import checks  # noqa: F401  (registers the deploy checks)
        from rooms import sessions  # needs the app registry (it imports models)

        # The only effect of these receivers is a hint to the person's own sockets
        # (rooms.sessions): a sign-out, password change or deactivation closes them.
        user_logged_out.connect(sessions.on_logged_out, dispatch_uid="rooms.sessions.logout")
        post_save.connect(
            sessions.on_user_saved,
            sender=get_user_model(),
            dispatch_uid="rooms.sessions.user_saved",
        )
