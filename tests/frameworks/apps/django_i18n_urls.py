"""A Django URLconf whose routes are below a language prefix (``i18n_patterns``)."""

from __future__ import annotations

from django.conf.urls.i18n import i18n_patterns
from django.urls import path

from frameworks.apps.django_app import fine_item

urlpatterns = i18n_patterns(path("items/<int:item_id>", fine_item))
