"""Per-API-key request rate at intake: a one-second window counter in the shared cache."""
import logging
import time

from django.conf import settings
from django.core.cache import cache

log = logging.getLogger(__name__)


def allow(key_id: int) -> bool:
    """True when the key is under its rate. A cache outage never blocks ingest: it allows."""
    limit = settings.SAGATRACE_INGEST_RATE_PER_KEY
    if limit <= 0:
        return True
    bucket = f"rl:{key_id}:{int(time.time())}"
    try:
        cache.add(bucket, 0, timeout=3)
        return cache.incr(bucket) <= limit
    except Exception:
        log.warning("rate-limit cache unavailable; allowing", exc_info=True)
        return True
