"""Which project an ingest request belongs to: the API key from Bearer, x-api-key or HTTP Basic."""
import base64

from django.utils import timezone

from tracing.models import ApiKey


def key_from_headers(authorization: str, x_api_key: str) -> str:
    if x_api_key:
        return x_api_key.strip()
    scheme, _, value = (authorization or "").partition(" ")
    scheme = scheme.lower()
    if scheme == "bearer":
        return value.strip()
    if scheme == "basic":
        # Langfuse SDKs send public_key:secret_key; the API key is accepted as either half.
        try:
            user, _, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return ""
        return password or user
    return ""


def authenticate(raw_key: str, scope: str):
    """Returns (api_key, status): status 401 when no key or an unknown/revoked one, 403 when the scope is wrong."""
    if not raw_key:
        return None, 401
    key = ApiKey.lookup(raw_key)
    if key is None:
        return None, 401
    if not key.has_scope(scope):
        return key, 403
    now = timezone.now()
    if key.last_used_at is None or (now - key.last_used_at).total_seconds() > 60:
        ApiKey.objects.filter(id=key.id).update(last_used_at=now)  # at most once a minute per key
    return key, 200
