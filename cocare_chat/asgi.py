"""ASGI entry point: Django over HTTP, the rooms socket over websockets.

Websockets require a session (rooms.wsauth.auth_stack) and an Origin matching ALLOWED_HOSTS,
which refuses cross-site websocket hijacking.
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cocare_chat.settings")

from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402
from django.core.asgi import get_asgi_application  # noqa: E402

# Static files are served by the app itself (finders, no collectstatic step): the pages
# are small and this keeps one process type. A CDN or proxy may sit in front.
django_asgi_app = ASGIStaticFilesHandler(get_asgi_application())

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from cocare_chat.routing import websocket_urlpatterns  # noqa: E402
from rooms.wsauth import auth_stack  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(auth_stack(URLRouter(websocket_urlpatterns))),
    }
)
