"""Login (throttled per username, audited) and password change."""
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.core.exceptions import ValidationError
from django.dispatch import receiver
from django.utils import timezone

from tracing import audit
from tracing.models import AuditEvent


def recent_failures(username: str) -> int:
    since = timezone.now() - timedelta(seconds=settings.SAGATRACE_LOGIN_WINDOW_SECONDS)
    return AuditEvent.objects.filter(action="login_failed", target=username[:300], at__gte=since).count()


class ThrottledAuthenticationForm(AuthenticationForm):
    def clean(self):
        username = (self.cleaned_data.get("username") or "").strip()
        if username and recent_failures(username) >= settings.SAGATRACE_LOGIN_MAX_FAILURES:
            minutes = settings.SAGATRACE_LOGIN_WINDOW_SECONDS // 60
            raise ValidationError(
                f"Too many failed logins for this account. Try again in up to {minutes} minutes.", code="throttled"
            )
        return super().clean()


class LoginView(auth_views.LoginView):
    template_name = "login.html"
    authentication_form = ThrottledAuthenticationForm
    redirect_authenticated_user = True


class PasswordChangeView(auth_views.PasswordChangeView):
    template_name = "account/password_change.html"
    success_url = "/"

    def form_valid(self, form):
        audit.record(self.request.user, None, "password_changed", ip=audit.client_ip(self.request))
        return super().form_valid(form)


@receiver(user_logged_in)
def _logged_in(sender, request, user, **kwargs):
    audit.record(user, None, "login", target=user.get_username(), ip=audit.client_ip(request) if request else None)


@receiver(user_logged_out)
def _logged_out(sender, request, user, **kwargs):
    if user is not None:
        audit.record(user, None, "logout", target=user.get_username(), ip=audit.client_ip(request) if request else None)


@receiver(user_login_failed)
def _login_failed(sender, credentials, request=None, **kwargs):
    username = str(credentials.get("username", ""))[:150]
    audit.record(username or "anonymous", None, "login_failed", target=username,
                 ip=audit.client_ip(request) if request else None)
