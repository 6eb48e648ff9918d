from django.db import migrations, models


def stop_caching_system_balances(apps, schema_editor):
    # Holds, spent and mint balances are now summed from their transfers (the ledger rows
    # themselves are untouched); the cached column of those accounts is no longer kept.
    Account = apps.get_model("studio", "Account")
    Account.objects.filter(kind__in=["holds", "spent", "mint"]).update(balance=0)


class Migration(migrations.Migration):
    dependencies = [
        ("studio", "0003_team_admin"),
    ]

    operations = [
        migrations.AddField(
            model_name="job",
            name="lease_expires_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.RunPython(stop_caching_system_balances, migrations.RunPython.noop),
    ]
