from __future__ import annotations

from django.urls import path

from gallery import views

app_name = "gallery"
urlpatterns = [
    path("", views.my_images, name="mine"),
    path("<int:pk>/", views.image_detail, name="detail"),
    path("<int:pk>/original/", views.image_original, name="original"),
    path("<int:pk>/thumbnail/", views.image_thumbnail, name="thumbnail"),
]
