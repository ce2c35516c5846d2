"""The identity material's data-sharing check names the resource and the question that answer it
(``<resource key>.<question key>``), no longer a bare word."""

from typing import Any

from django.db import migrations

OLD = "identity"
NEW = "household.identity_match"


def forwards(apps: Any, schema_editor: Any) -> None:
    spec = apps.get_model("catalog", "MaterialSpec")
    spec.objects.filter(datashare_check=OLD).update(datashare_check=NEW)


def backwards(apps: Any, schema_editor: Any) -> None:
    spec = apps.get_model("catalog", "MaterialSpec")
    spec.objects.filter(datashare_check=NEW).update(datashare_check=OLD)


class Migration(migrations.Migration):
    dependencies = [("catalog", "0002_item_min_real_name_level")]

    operations = [migrations.RunPython(forwards, backwards)]
