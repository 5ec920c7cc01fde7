from django.contrib import admin

from catalog.models import Product


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ("sku", "name", "is_active", "updated_at")
    list_filter = ("is_active",)
    search_fields = ("sku", "name")
    show_full_result_count = False
