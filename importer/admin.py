from django.contrib import admin

from importer.models import ImportJob


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    list_display = ("id", "filename", "owner", "status", "progress", "processed_rows", "created_at")
    list_filter = ("status",)
    readonly_fields = [field.name for field in ImportJob._meta.fields]
