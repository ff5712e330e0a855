from django.contrib import admin
from django.urls import include, path

from bots.api import router as visits_router
from bots.goals_api import router as goals_router
from bots.planning_api import router as planning_router
from bridge.api import router as bridge_router
from careplan.api import router as careplan_router
from escalation.api import router as alerts_router
from escalation.api_push import router as push_router
from escalation.setup_api import router as escalation_setup_router
from rooms.api import api
from rooms.attachments_api import router as attachments_router
from rooms.audit_api import router as audit_router
from rooms.family_api import router as family_router
from rooms.keyinfo_api import router as keyinfo_router
from rooms.language_api import router as language_router
from rooms.record_reads_api import router as record_reads_router
from rooms.retention_api import router as retention_router
from sensors.api import router as sensors_router
from web.apidocs import LocalSwagger
from web.invitations_api import router as invitations_router
from web.staff.api import router as org_router

api.add_router("/alerts", alerts_router)  # before api.urls is used
api.add_router("/visits", visits_router)
api.add_router("/bridge", bridge_router)
api.add_router("/sensors", sensors_router)
api.add_router("/", record_reads_router)
api.add_router("/careplan", careplan_router)
api.add_router("/", attachments_router)
api.add_router("/", family_router)
api.add_router("/", keyinfo_router)
api.add_router("/", goals_router)
api.add_router("/escalation", escalation_setup_router)
api.add_router("/", invitations_router)
api.add_router("/", org_router)
api.add_router("/push", push_router)
api.docs = LocalSwagger()  # assets from our own static files, not a CDN
api.add_router("/planning", planning_router)
api.add_router("/audit", audit_router)
api.add_router("/retention", retention_router)
api.add_router("/", language_router)

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", api.urls),
    path("careplan/", include("careplan.urls")),
    path("", include("rooms.attachments_api")),
    path("", include("bridge.urls")),
    path("", include("web.urls")),
]
