"""Formerly filled the K3 day rollup; 0006 does it now, with the columns it added (the rebuild writes them)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("kpi", "0003_day_rollup")]

    operations: list = []
