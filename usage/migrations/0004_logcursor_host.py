"""Collector cursors per (host, path): gateway hosts share the database, not their log files.

The cursors of the release before were written by the one host that ran the collector; they
become this host's (GATEWAY_HOST_ID when migrating), so it goes on where it stopped.
"""

from django.conf import settings
from django.db import migrations, models


def cursors_to_this_host(apps, schema_editor):
    LogCursor = apps.get_model("usage", "LogCursor")
    LogCursor.objects.update(host=settings.GATEWAY_HOST_ID)


class Migration(migrations.Migration):
    dependencies = [("usage", "0003_usage_summaries")]

    operations = [
        migrations.AddField(
            model_name="logcursor",
            name="host",
            field=models.CharField(default="", max_length=255),
            preserve_default=False,
        ),
        migrations.RunPython(cursors_to_this_host, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="logcursor", name="path", field=models.CharField(max_length=500)
        ),
        migrations.AddConstraint(
            model_name="logcursor",
            constraint=models.UniqueConstraint(
                fields=["host", "path"], name="usage_logcursor_host_path"
            ),
        ),
    ]
