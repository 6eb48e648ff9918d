from __future__ import annotations

from django.urls import path

from gallery.views import boards, browse, images, shares

app_name = "gallery"
urlpatterns = [
    path("", browse.team_gallery, name="team"),
    path("mine/", browse.my_images, name="mine"),
    path("trash/", browse.trash, name="trash"),
    path("<int:pk>/", images.image_detail, name="detail"),
    path("<int:pk>/original/", images.image_original, name="original"),
    path("<int:pk>/thumbnail/", images.image_thumbnail, name="thumbnail"),
    path("<int:pk>/download/<str:fmt>/", images.image_convert, name="convert"),
    path("<int:pk>/references/<int:input_pk>/", images.job_input, name="input"),
    path("<int:pk>/favourite/", images.image_favourite, name="favourite"),
    path("<int:pk>/visibility/", images.image_visibility, name="visibility"),
    path("<int:pk>/delete/", images.image_delete, name="delete"),
    path("<int:pk>/restore/", images.image_restore, name="restore"),
    path("<int:pk>/boards/", images.image_add_to_board, name="add_to_board"),
    path("<int:pk>/share/", shares.share_create, name="share"),
    path("shares/<int:pk>/revoke/", shares.share_revoke, name="share_revoke"),
    path("s/<str:token>/", shares.shared_page, name="shared"),
    path("s/<str:token>/original/", shares.shared_original, name="shared_original"),
    path("s/<str:token>/thumbnail/", shares.shared_thumbnail, name="shared_thumbnail"),
    path("boards/", boards.board_list, name="boards"),
    path("boards/<int:pk>/", browse.board_detail, name="board"),
    path("boards/<int:pk>/edit/", boards.board_update, name="board_update"),
    path("boards/<int:pk>/delete/", boards.board_delete, name="board_delete"),
    path("boards/<int:pk>/zip/", boards.board_zip, name="board_zip"),
    path("boards/<int:pk>/remove/<int:image_pk>/", boards.board_remove, name="board_remove"),
    path("selection/", boards.selection, name="selection"),
]
