"""Supervisor pages under /kpi/ (included from contact_center/urls.py)."""

from django.urls import path

from kpi import views

app_name = "kpi"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("live/", views.wallboard, name="wallboard"),
    path("export.csv", views.export_csv, name="export"),
    path("conversations/", views.conversation_list, name="conversations"),
    path("conversations/<int:conversation_id>/", views.conversation_detail, name="conversation"),
    path("notifications/", views.notification_list, name="notifications"),
]
