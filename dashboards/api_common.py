"""Shared plumbing of the JSON API: auth errors as JSON, Decimal-safe encoding."""
import functools
from decimal import Decimal

import orjson
from django.http import HttpResponse

from dashboards.access import ApiDenied, api_project


def _default(value):
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError


def json_response(data, status=200) -> HttpResponse:
    return HttpResponse(orjson.dumps(data, default=_default), status=status, content_type="application/json")


def api_view(func):
    """Resolve the project (read key or session) and turn access errors into JSON errors."""

    @functools.wraps(func)
    def wrapper(request, *args, **kwargs):
        try:
            project = api_project(request)
        except ApiDenied as denied:
            return json_response({"error": denied.message}, status=denied.status)
        return func(request, project, *args, **kwargs)

    return wrapper
