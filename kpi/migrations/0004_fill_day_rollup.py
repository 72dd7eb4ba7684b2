"""Fill the K3 day rollup from the response records recorded before it existed."""

from django.db import migrations


def fill(apps, schema_editor):
    # The one rebuild (kpi.rollup) rather than a copy of its SQL: it reads and writes only the tables
    # as of 0003 by their names, and keeps working if the rollup's arithmetic is ever corrected.
    from kpi.rollup import rebuild

    rebuild(from_day=None)


class Migration(migrations.Migration):
    dependencies = [("kpi", "0003_day_rollup")]

    operations = [migrations.RunPython(fill, migrations.RunPython.noop, elidable=True)]
