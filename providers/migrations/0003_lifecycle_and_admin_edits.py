"""Lifecycle data and per-field admin edits on catalogue rows; a provider's billing flag.

Until now sync_catalog treated price, enabled, family and remote_model as admin-owned on
every existing row. From here it leaves alone only the fields an admin really edited; the
rows whose admin-owned fields differ from the file as it last stood are marked as edited,
so no admin's change is lost by the first sync after this migration.
"""

from django.db import migrations, models

# What catalog.json said before this migration (admin-owned fields only), so a row that
# differs from it was edited by an admin and keeps its value on the next sync.
PREVIOUS_FILE = {
    'gpt-image-1-mini-low': ('openai', 'gpt-image-1-mini', 2, True),
    'gpt-image-1-mini-medium': ('openai', 'gpt-image-1-mini', 8, True),
    'gpt-image-1-mini-high': ('openai', 'gpt-image-1-mini', 20, True),
    'gpt-image-1-medium': ('openai', 'gpt-image-1', 30, True),
    'gpt-image-1-high': ('openai', 'gpt-image-1', 120, True),
    'gpt-image-2-mini': ('openai', 'gpt-image-2', 5, True),
    'gpt-image-2': ('openai', 'gpt-image-2', 20, True),
    'gpt-image-2-hd': ('openai', 'gpt-image-2', 115, True),
    'gpt-image-1.5': ('openai', 'gpt-image-1.5', 30, True),
    'dall-e-3': ('openai', 'dall-e-3', 33, True),
    'dall-e-2': ('openai', 'dall-e-2', 2, True),
    'gemini-2.5-flash-image': ('gemini', 'gemini-2.5-flash-image', 20, True),
    'gemini-3-pro-image': ('gemini', 'gemini-3-pro-image', 70, True),
    'gemini-3-pro-image-hd': ('gemini', 'gemini-3-pro-image', 120, True),
    'gemini-3.1-flash-image-mini': ('gemini', 'gemini-3.1-flash-image', 34, True),
    'gemini-3.1-flash-image': ('gemini', 'gemini-3.1-flash-image', 50, True),
    'gemini-3.1-flash-image-hd': ('gemini', 'gemini-3.1-flash-image', 75, True),
    'imagen-3-flash': ('imagen', 'imagen-3.0-fast-generate-001', 2, True),
    'imagen-3-pro': ('imagen', 'imagen-3.0-generate-002', 8, True),
    'imagen-4-fast': ('imagen', 'imagen-4.0-fast-generate-001', 2, True),
    'imagen-4-pro': ('imagen', 'imagen-4.0-generate-001', 20, True),
    'imagen-4-ultra': ('imagen', 'imagen-4.0-ultra-generate-001', 30, True),
    'flux-1-quick': ('fal', 'fal-ai/flux/schnell', 2, True),
    'flux-1-pro': ('replicate', 'black-forest-labs/flux-pro', 8, True),
    'flux-1.1-pro': ('bfl', 'flux-pro-1.1', 8, True),
    'flux-1-ultra': ('bfl', 'flux-pro-1.1-ultra', 30, True),
    'flux-2-klein': ('bfl', 'flux-2-klein-4b', 2, True),
    'flux-2-pro': ('bfl', 'flux-2-pro', 8, True),
    'flux-2-flex': ('bfl', 'flux-2-flex', 20, True),
    'flux-2-max': ('bfl', 'flux-2-max', 20, True),
    'flux-2-dev': ('fal', 'fal-ai/flux-2', 2, True),
    'flux-kontext-fast': ('fal', 'fal-ai/flux-kontext/dev', 2, True),
    'flux-kontext-pro': ('bfl', 'flux-kontext-pro', 20, True),
    'flux-kontext-max': ('bfl', 'flux-kontext-max', 40, True),
    'ideogram-v3-turbo': ('ideogram', 'ideogram-v3', 6, True),
    'ideogram-v3': ('ideogram', 'ideogram-v3', 20, True),
    'ideogram-v3-quality': ('ideogram', 'ideogram-v3', 45, True),
    'ideogram-character': ('ideogram', 'ideogram-v3', 45, True),
    'ideogram-v2': ('ideogram', 'V_2', 20, True),
    'ideogram-v2-turbo': ('ideogram', 'V_2_TURBO', 6, True),
    'ideogram-v2a': ('ideogram', 'V_2A', 6, True),
    'ideogram-v2a-turbo': ('ideogram', 'V_2A_TURBO', 6, True),
    'recraft-v3': ('recraft', 'recraftv3', 20, True),
    'recraft-v3-svg': ('recraft', 'recraftv3_vector', 40, True),
    'recraft-v4': ('recraft', 'recraftv4', 12, True),
    'recraft-v4-svg': ('recraft', 'recraftv4_vector', 40, True),
    'recraft-v4-pro': ('recraft', 'recraftv4_pro', 125, True),
    'luma-photon-flash-1': ('luma', 'photon-flash-1', 2, True),
    'luma-photon-1': ('luma', 'photon-1', 10, True),
    'leonardo-phoenix': ('leonardo', 'de7d3faf-762f-48e0-b3b7-9d0ac3a3fcf3', 15, True),
    'grok-imagine-image': ('xai', 'grok-imagine-image', 8, True),
    'seedream-3': ('fal', 'fal-ai/bytedance/seedream/v3/text-to-image', 8, True),
    'seedream-3.1': ('fal', 'fal-ai/bytedance/dreamina/v3.1/text-to-image', 8, True),
    'seedream-4': ('ark', 'seedream-4-0-250828', 8, True),
    'seedream-4.5': ('ark', 'seedream-4-5-251128', 8, True),
    'seedream-5-lite': ('ark', 'seedream-5-0-lite-260128', 8, True),
    'qwen-image': ('dashscope', 'qwen-image', 8, True),
    'qwen-image-2': ('dashscope', 'qwen-image-2.0', 8, True),
    'qwen-image-2-pro': ('dashscope', 'qwen-image-2.0-pro', 20, True),
    'wan-image-2.6': ('dashscope', 'wan2.6-t2i', 8, True),
    'wan-image-2.7': ('dashscope', 'wan2.7-image', 8, True),
    'wan-image-2.7-pro': ('dashscope', 'wan2.7-image-pro', 20, True),
    'kling-image': ('fal', 'fal-ai/kling-image/v3/text-to-image', 8, True),
    'reve-create': ('fal', 'fal-ai/reve/text-to-image', 20, True),
    'midjourney': ('replicate', 'midjourney', 20, False),
}

OWNED = ("family", "remote_model", "credits_per_image", "enabled")


def mark_admin_edits(apps, schema_editor):
    CatalogModel = apps.get_model("providers", "CatalogModel")
    for row in CatalogModel.objects.all():
        before = PREVIOUS_FILE.get(row.slug)
        if before is None:
            continue  # not from the file: the next sync disables it anyway
        edited = [name for name, value in zip(OWNED, before, strict=True) if getattr(row, name) != value]
        if edited:
            row.admin_edited = edited
            row.save(update_fields=["admin_edited"])


class Migration(migrations.Migration):
    dependencies = [
        ("providers", "0002_catalogmodel_fixed_options"),
    ]

    operations = [
        migrations.AddField(
            model_name="catalogmodel",
            name="admin_edited",
            field=models.JSONField(blank=True, default=list),
        ),
        migrations.AddField(
            model_name="catalogmodel",
            name="lifecycle",
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.AddField(
            model_name="providerstatus",
            name="billing_error_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.RunPython(mark_admin_edits, migrations.RunPython.noop),
    ]
