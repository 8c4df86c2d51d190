"""Queries over Runs and Steps for the pages and the API."""
from tracing.models import Run, Step


def recent_runs(project):
    return Run.objects.filter(project=project).order_by("-started_at", "-id")


def step_tree(run):
    """The run's steps in tree order (depth first, siblings by start time), each with a `depth`.

    Steps whose parent is missing (not arrived yet, or outside the trace) are shown at the top level.
    """
    steps = list(Step.objects.filter(project_id=run.project_id, trace_id=run.trace_id).order_by("start_ns", "span_id"))
    by_id = {s.span_id: s for s in steps}
    children: dict[str, list] = {}
    roots = []
    for s in steps:
        if s.parent_span_id and s.parent_span_id in by_id and s.parent_span_id != s.span_id:
            children.setdefault(s.parent_span_id, []).append(s)
        else:
            roots.append(s)
    ordered, seen = [], set()
    stack = [(s, 0) for s in reversed(roots)]
    while stack:
        step, depth = stack.pop()
        if step.span_id in seen:  # a cycle in hostile parent links
            continue
        seen.add(step.span_id)
        step.depth = depth
        ordered.append(step)
        stack.extend((c, depth + 1) for c in reversed(children.get(step.span_id, [])))
    for step in steps:  # members of a parent cycle are never reached from a root; keep them visible
        if step.span_id not in seen:
            step.depth = 0
            ordered.append(step)
    return ordered
