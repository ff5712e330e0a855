from django.contrib import admin
from django.urls import include, path

from bots.api import router as visits_router
from bridge.api import router as bridge_router
from careplan.api import router as careplan_router
from escalation.api import router as alerts_router
from rooms.api import api
from rooms.language_api import router as language_router
from rooms.record_reads_api import router as record_reads_router
from sensors.api import router as sensors_router

api.add_router("/alerts", alerts_router)  # before api.urls is used
api.add_router("/visits", visits_router)
api.add_router("/bridge", bridge_router)
api.add_router("/sensors", sensors_router)
api.add_router("/", record_reads_router)
api.add_router("/careplan", careplan_router)
api.add_router("/", language_router)

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", api.urls),
    path("careplan/", include("careplan.urls")),
    path("", include("bridge.urls")),
    path("", include("web.urls")),
]
