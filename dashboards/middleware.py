"""A strict Content-Security-Policy on every response: span content can never run as script."""

CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        # plotly positions its SVG with inline style attributes; no script can come from styles.
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        response.setdefault("Content-Security-Policy", CSP)
        return response
