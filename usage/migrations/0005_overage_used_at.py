from django.db import migrations, models


def fill_used_at(apps, schema_editor):
    """Rows queued before this release: their calls were counted when the row was written."""
    OverageToReport = apps.get_model("usage", "OverageToReport")
    OverageToReport.objects.filter(used_at__isnull=True).update(used_at=models.F("created_at"))


class Migration(migrations.Migration):
    dependencies = [
        ("usage", "0004_logcursor_host"),
    ]

    operations = [
        migrations.AddField(
            model_name="overagetoreport",
            name="used_at",
            field=models.DateTimeField(null=True),
        ),
        migrations.RunPython(fill_used_at, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="overagetoreport",
            name="used_at",
            field=models.DateTimeField(),
        ),
    ]
