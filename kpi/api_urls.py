"""The supervisor's actions API under /api/supervisor/ (included from contact_center/urls.py): see kpi.api."""

from django.urls import path

from kpi import api

app_name = "supervisor-api"

urlpatterns = [
    path("conversations/<int:conversation_id>/take-over/", api.TakeOverView.as_view(), name="take-over"),
    path("conversations/<int:conversation_id>/reassign/", api.ReassignView.as_view(), name="reassign"),
    path("conversations/<int:conversation_id>/close/", api.CloseView.as_view(), name="close"),
    path("conversations/<int:conversation_id>/notes/", api.NotesView.as_view(), name="notes"),
]
