from django.urls import path

from rooms.socket import RoomsSocket

websocket_urlpatterns = [path("ws/", RoomsSocket.as_asgi())]
