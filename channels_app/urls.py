"""HTTP routes of the channels app (console, widget, webhooks are added by their issues)."""

urlpatterns: list = []
