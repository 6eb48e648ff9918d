from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.urls import path

from studio import account_views

urlpatterns = [
    path("login/", account_views.SignInView.as_view(), name="login"),
    path("login/code/", account_views.two_factor_sign_in, name="two_factor_sign_in"),
    path("security/", account_views.security, name="security"),
    path("security/enrol/", account_views.security_enrol, name="security_enrol"),
    path("security/confirm/", account_views.security_confirm, name="security_confirm"),
    path("security/remove/", account_views.security_remove, name="security_remove"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("signup/", account_views.signup, name="signup"),
    path("password_reset/", auth_views.PasswordResetView.as_view(), name="password_reset"),
    path("password_reset/done/", auth_views.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path(
        "reset/<uidb64>/<token>/",
        account_views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path("reset/done/", auth_views.PasswordResetCompleteView.as_view(), name="password_reset_complete"),
    path("password_change/", account_views.PasswordChangeView.as_view(), name="password_change"),
    path("password_change/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
]
