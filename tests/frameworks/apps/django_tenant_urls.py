"""A tenant's own URLconf, which Django routes a request with once a middleware sets ``request.urlconf``.

Some of its paths are the default URLconf's too, routed there to other views.
"""

from __future__ import annotations

from django.http import HttpResponse
from django.urls import path


async def shop(request, slug):
    raise ValueError(f"shop {slug}")


def sync_order(request, code):
    raise KeyError(code)


async def product(request, code):
    return HttpResponse(f"product {code}")


def sync_product(request, code):
    return HttpResponse(f"product {code}")


urlpatterns = [
    path("shop/<slug:slug>", shop),
    path("sync/<str:code>", sync_order),
    path("items/<str:code>", product),
    path("products/<str:code>", sync_product),
]
