from dashboards.access import projects_for


def nav(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    match = getattr(request, "resolver_match", None)
    slug = match.kwargs.get("slug") if match else None
    projects = list(projects_for(user))
    current = next((p for p in projects if p.slug == slug), None)
    return {"nav_projects": projects, "nav_project": current}
