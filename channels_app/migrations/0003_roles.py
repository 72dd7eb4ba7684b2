"""O4: the roles Administrators, Supervisors and Operators as groups with their permissions.

Permissions are normally created after ``migrate`` finishes; this migration
creates them first so the groups can be filled on a fresh database.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

from channels_app.engine.roles import ADMINISTRATORS, OPERATORS, SUPERVISORS, apply_roles


def create_roles(apps, schema_editor):
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    apply_roles(apps.get_model("auth", "Group"), apps.get_model("auth", "Permission"))


def remove_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=[ADMINISTRATORS, SUPERVISORS, OPERATORS]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("channels_app", "0002_initial"),
        ("crm", "0001_initial"),
        ("kpi", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_roles, remove_roles)]
