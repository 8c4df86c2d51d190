"""Duplicate LLM spans: one LLM call described by two spans of the same trace.

Provider SDKs now trace themselves. anthropic>=2 emits its own LLM span (scope
`com.anthropic.sdk.python`, span `anthropic.messages.create`) as soon as a global TracerProvider
exists, so an app instrumented with OpenLLMetry, Langfuse, ... records each call twice: beside
the instrumentation's span (a sibling with the same `gen_ai.response.id`), or under it (a child
of a Langfuse generation, which has no response id).

Both spans stay Steps: nothing is dropped. The repeat gets `Step.duplicate_of` = the span id of
the step it describes again, and Run totals (tokens, cost, llm_calls, unpriced, models) leave it
out.

The rule is generic, not per library. Two LLM steps of one trace describe the same call when
exactly one of them comes from a provider SDK's native scope (NATIVE_SCOPES) and
  - one is the other's parent, or
  - they are siblings (same parent) whose time ranges overlap, and they carry the same response
    id, or (when either has none) name the same model.
The native span is the duplicate, unless it alone reports usage or a cost: then the
instrumentation's span is the repeat, so the totals keep the numbers.

Spans of one trace arrive in any order and in different batches, so `mark_duplicates` runs on
every recompute of the touched traces (tracing.indexer.recompute_runs). It is set-based: one
query over their LLM steps' scalar columns; the span JSON (scope, response id) is read only for
steps that can pair by structure (nested or overlapping LLM steps), which most traces have none of.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from django.db.models import Case, CharField, Q, Value, When
from django.db.models.fields.json import KT

# Instrumentation scopes of provider SDKs' built-in tracing, which repeats what an instrumentation
# library already records. Extend as more SDKs ship native OpenTelemetry spans.
NATIVE_SCOPES = frozenset({
    "com.anthropic.sdk.python",  # anthropic>=2.x (Python), span `anthropic.messages.create`
})
RESPONSE_ID = "gen_ai.response.id"

_FIELDS = ("id", "trace_id", "span_id", "parent_span_id", "start_ns", "end_ns", "model", "request_model",
           "input_tokens", "output_tokens", "cost_usd", "duplicate_of")


def mark_duplicates(project_id: int, trace_ids: Iterable[str], grown: dict[str, list[dict]] | None = None,
                    first_seen: dict[str, list[dict]] | None = None) -> set[str]:
    """Set `duplicate_of` on the LLM steps of these traces (and clear it where it no longer holds).
    Returns the traces where a step changed. Call with the traces locked (tracing.indexer).

    `grown`: {trace_id: its new steps (span_id, parent_span_id, kind, start_ns, end_ns)} for traces
    whose only change is those steps. One that pairs with no step, stored or new, changes no
    pairing, so its trace is left as it is without reading the trace's LLM steps. `first_seen`: the
    same for traces all of whose steps are new (unmarked): one with no candidate pair is left too."""
    from tracing.models import Step
    from tracing.step_keys import of_runs

    trace_ids = list(trace_ids)
    if grown:
        paired = pairing(project_id, grown)
        trace_ids = [t for t in trace_ids if t not in grown or t in paired]
    if first_seen:
        trace_ids = [t for t in trace_ids if t not in first_seen
                     or candidate_pairs([s for s in first_seen[t] if s["kind"] == "llm"])]
    if not trace_ids:
        return set()
    steps = of_runs(project_id, trace_ids, where=Q(kind="llm"))
    by_trace: dict[str, list[dict]] = defaultdict(list)
    for row in steps.values(*_FIELDS):
        by_trace[row["trace_id"]].append(row)
    pairs = [pair for rows in by_trace.values() for pair in candidate_pairs(rows)]
    if pairs:  # the span JSON, only for steps that can pair
        ids = {row["id"] for pair in pairs for row in pair[1:]}
        details = {
            i: (scope or "", response_id or "")
            for i, scope, response_id in Step.objects.filter(id__in=ids)
            .annotate(_scope=KT("raw__scope__name"), _response_id=KT(f"raw__attributes__{RESPONSE_ID}"))
            .values_list("id", "_scope", "_response_id")
        }
        for pair in pairs:
            for row in pair[1:]:
                row["scope"], row["response_id"] = details.get(row["id"], ("", ""))
    wanted = decide(pairs)
    changed = {
        row["id"]: wanted.get(row["id"], "")
        for rows in by_trace.values() for row in rows
        if row["duplicate_of"] != wanted.get(row["id"], "")
    }
    traces = {row["trace_id"] for rows in by_trace.values() for row in rows if row["id"] in changed}
    if changed:
        Step.objects.filter(id__in=list(changed)).update(duplicate_of=Case(
            *[When(id=i, then=Value(v)) for i, v in changed.items()], output_field=CharField()))
    return traces


def pairing(project_id: int, grown: dict[str, list[dict]]) -> set[str]:
    """The traces of `grown` where a new LLM step forms a candidate pair (candidate_pairs) with a
    stored LLM step or another new one: its parent, its child, or an overlapping sibling."""
    from tracing.step_keys import of_runs

    new = {t: [s for s in steps if s["kind"] == "llm"] for t, steps in grown.items()}
    new = {t: steps for t, steps in new.items() if steps}
    out = {t for t, steps in new.items() if candidate_pairs(steps)}
    rest = {t: steps for t, steps in new.items() if t not in out}
    if not rest:
        return out
    spans = {s["span_id"] for steps in rest.values() for s in steps}
    parents = {s["parent_span_id"] for steps in rest.values() for s in steps}
    near = (Q(span_id__in=parents) | Q(parent_span_id__in=spans)
            | Q(parent_span_id__in=parents, start_ns__lte=max(s["end_ns"] for steps in rest.values() for s in steps),
                end_ns__gte=min(s["start_ns"] for steps in rest.values() for s in steps)))
    for t, span_id, parent, start, end in (of_runs(project_id, rest, where=Q(kind="llm") & near)
                                           .values_list("trace_id", "span_id", "parent_span_id", "start_ns", "end_ns")):
        stored = {"span_id": span_id, "parent_span_id": parent, "start_ns": start, "end_ns": end}
        if t not in out and any(n["span_id"] != span_id and _pair(n, stored) for n in rest[t]):
            out.add(t)
    return out


def _pair(a: dict, b: dict) -> bool:
    """Whether candidate_pairs pairs these two LLM steps of one trace."""
    if a["parent_span_id"] == b["span_id"] or b["parent_span_id"] == a["span_id"]:
        return True
    return a["parent_span_id"] == b["parent_span_id"] and max(a["start_ns"], b["start_ns"]) <= min(a["end_ns"], b["end_ns"])


def candidate_pairs(rows: list[dict]) -> list[tuple[str, dict, dict]]:
    """(relation, a, b) for LLM steps of one trace that could describe the same call: ("child", child,
    parent) and ("sibling", x, y) for siblings with overlapping time ranges. Structure only."""
    by_span = {row["span_id"]: row for row in rows}
    pairs = []
    for row in rows:
        parent = by_span.get(row["parent_span_id"])
        if parent is not None and parent is not row:
            pairs.append(("child", row, parent))
    groups: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        groups[row["parent_span_id"]].append(row)
    for siblings in groups.values():
        siblings.sort(key=lambda r: (r["start_ns"], r["span_id"]))
        for i, a in enumerate(siblings):
            for b in siblings[i + 1:]:
                if b["start_ns"] > a["end_ns"]:
                    break
                pairs.append(("sibling", a, b))
    return pairs


def decide(pairs: list[tuple[str, dict, dict]]) -> dict[int, str]:
    """{step id: span id it duplicates} from candidate pairs whose rows carry `scope` and `response_id`."""
    matches = []
    for relation, a, b in pairs:
        if is_native(a) == is_native(b):
            continue
        native, other = (a, b) if is_native(a) else (b, a)
        if relation == "sibling":
            if native["response_id"] and other["response_id"]:
                if native["response_id"] != other["response_id"]:
                    continue
                strength = 0  # the same response: certain
            elif same_model(native, other):
                strength = 1
            else:
                continue
        else:
            strength = 0
        overlap = min(a["end_ns"], b["end_ns"]) - max(a["start_ns"], b["start_ns"])
        matches.append((strength, -overlap, relation, native, other))
    # One pairing per span; the surest (same response, nesting) first. A generation wrapping
    # several SDK calls (retries) keeps them all as its duplicates.
    matches.sort(key=lambda m: (m[0], m[1], m[3]["span_id"], m[4]["span_id"]))
    out: dict[int, str] = {}
    primaries: set[int] = set()
    for _, _, relation, native, other in matches:
        if native["id"] in out or other["id"] in out:
            continue
        if other["id"] in primaries and relation != "child":
            continue
        if native["id"] in primaries:
            continue
        duplicate, kept = native, other
        if reports_usage(native) and not reports_usage(other):
            duplicate, kept = other, native  # keep the span whose numbers the totals need
        out[duplicate["id"]] = kept["span_id"]
        primaries.add(kept["id"])
    return out


def is_native(row: dict) -> bool:
    return row.get("scope", "") in NATIVE_SCOPES


def same_model(a: dict, b: dict) -> bool:
    names = lambda r: {r["model"], r["request_model"]} - {""}  # noqa: E731
    return bool(names(a) & names(b))


def reports_usage(row: dict) -> bool:
    return any(row[f] is not None for f in ("input_tokens", "output_tokens", "cost_usd"))
