from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from contact_center.health import healthz, readyz
from contact_center.metrics import metrics

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    # Prometheus; closed unless METRICS_TOKEN or METRICS_ALLOWED_NETWORKS is set (contact_center.metrics).
    path("metrics", metrics, name="metrics"),
    path("admin/", admin.site.urls),
    # set_language: supervisors and administrators pick the interface language (LocaleMiddleware keeps it).
    path("i18n/", include("django.conf.urls.i18n")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("kpi/", include("kpi.urls")),
    path("api/supervisor/", include("kpi.api_urls")),
    path("", include("channels_app.urls")),
]

# JSON errors under /api/ and /webhooks/, and 503 (not 500) when the database is down: see contact_center.errors.
handler404 = "contact_center.errors.not_found"
handler500 = "contact_center.errors.server_error"
