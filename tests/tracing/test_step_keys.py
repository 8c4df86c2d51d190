"""tracing.step_keys.keyed: steps by (trace_id, span_id), exactly those pairs, on both databases."""
import pytest

from tracing.models import Step
from tracing.step_keys import by_trace, keyed

pytestmark = pytest.mark.django_db


def step(project, trace_id, span_id):
    return Step.objects.create(project=project, trace_id=trace_id, span_id=span_id, name="x", start_ns=0, end_ns=0)


def test_only_the_pairs_asked_for_even_where_span_ids_cross_between_traces(project):
    a, b = "a" * 32, "b" * 32
    for trace_id in (a, b):
        for span_id in ("1" * 16, "2" * 16):
            step(project, trace_id, span_id)
    found = set(keyed(Step.objects.filter(project=project), {a: ["1" * 16], b: ["2" * 16]})
                .values_list("trace_id", "span_id"))
    assert found == {(a, "1" * 16), (b, "2" * 16)}  # not (a, "2…") nor (b, "1…")
    assert not keyed(Step.objects.filter(project=project), {}).exists()
    assert by_trace([(a, "1"), (a, "2"), (b, "1")]) == {a: {"1", "2"}, b: {"1"}}


def test_another_project_s_steps_are_not_found(project):
    from tracing.models import Project

    other = Project.objects.create(name="Other", slug="other")
    step(other, "c" * 32, "3" * 16)
    assert not keyed(Step.objects.filter(project=project), {"c" * 32: ["3" * 16]}).exists()
