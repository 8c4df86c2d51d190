"""Runs out of Sagatrace: one run as OTLP/JSON, many runs as a streamed zip.

A run's document is rebuilt from each Step's `raw` (the span as received: kind, status,
attributes, events, resource, scope) plus its ids and exact nanosecond times, grouped by
resource and scope as an exporter sends them. Importing it through `ingest.intake.accept`
yields the same Steps, because the indexer derives every Step field from exactly these
parts. The bytes are deterministic (steps in start order, attributes in stored order), so
the SHA-256 printed in a report can be checked against a later export of the same run.
"""
from __future__ import annotations

import hashlib
import zipfile
from collections.abc import Iterable, Iterator
from datetime import datetime, timezone as dt_timezone

import orjson

from tracing.models import Run, Step

MANIFEST_FORMAT = "sagatrace-export/1"
RUNS_PER_QUERY = 50  # steps are fetched for this many runs at a time: bounded memory, few queries


# --- one run → OTLP/JSON ------------------------------------------------------------------


def any_value(value) -> dict:
    """A decoded attribute value back to an OTLP/JSON AnyValue (the inverse of ingest.otlp)."""
    if value is None:
        return {}
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}  # int64 travels as a string in OTLP/JSON
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, list):
        return {"arrayValue": {"values": [any_value(v) for v in value]}}
    if isinstance(value, dict):
        if len(value) == 1 and "__bytes_b64__" in value:
            return {"bytesValue": value["__bytes_b64__"]}
        return {"kvlistValue": {"values": key_values(value)}}
    return {"stringValue": str(value)}


def key_values(attributes: dict) -> list[dict]:
    # Stored order, not sorted: re-importing then stores the same order again (a fixed point).
    return [{"key": k, "value": any_value(v)} for k, v in (attributes or {}).items()]


def span_json(step: Step) -> dict:
    raw = step.received()
    status = raw.get("status") or {"code": 2 if step.is_error else 0, "message": step.error_message}
    span = {
        "traceId": step.trace_id,
        "spanId": step.span_id,
        "name": raw.get("name") or step.name,  # the received name when the indexer keeps it
        "kind": raw.get("kind", 1),
        "startTimeUnixNano": str(step.start_ns),
        "endTimeUnixNano": str(step.end_ns),
        "attributes": key_values(raw["attributes"] if "attributes" in raw else step.attributes),
        "events": [
            {"timeUnixNano": str(e.get("time_ns", 0)), "name": e.get("name", ""),
             "attributes": key_values(e.get("attributes"))}
            for e in raw.get("events", [])
        ],
        "status": {"code": status.get("code", 0), "message": status.get("message") or ""},
    }
    if step.parent_span_id:
        span["parentSpanId"] = step.parent_span_id
    return span


def run_steps(run: Run) -> list[Step]:
    return list(Step.objects.filter(project_id=run.project_id, trace_id=run.trace_id).order_by("start_ns", "span_id"))


def run_document(steps: Iterable[Step]) -> dict:
    """An ExportTraceServiceRequest (OTLP/JSON) with one ResourceSpans per distinct resource."""
    groups: dict[bytes, dict] = {}
    for step in sorted(steps, key=lambda s: (s.start_ns, s.span_id)):
        raw = step.raw or {}
        resource = raw.get("resource") or {}
        scope = raw.get("scope") or {}
        key = orjson.dumps(resource)
        group = groups.setdefault(key, {"resource": {"attributes": key_values(resource)}, "scopeSpans": []})
        scope_json = {"name": scope.get("name", ""), "version": scope.get("version", "")}
        scope_spans = next((s for s in group["scopeSpans"] if s["scope"] == scope_json), None)
        if scope_spans is None:
            scope_spans = {"scope": scope_json, "spans": []}
            group["scopeSpans"].append(scope_spans)
        scope_spans["spans"].append(span_json(step))
    return {"resourceSpans": list(groups.values())}


def run_otlp_json(steps: Iterable[Step]) -> bytes:
    return orjson.dumps(run_document(steps))


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def run_filename(trace_id: str, fmt: str = "otlp-json") -> str:
    return f"run-{trace_id}.otlp.json" if fmt == "otlp-json" else f"run-{trace_id}-report.html"


# --- many runs → a streamed zip -----------------------------------------------------------


class _Sink:
    """A write-only file for zipfile that hands over what was written so far. zipfile sees it
    cannot seek and writes data descriptors, so nothing is ever rewritten."""

    def __init__(self):
        self.chunks: list[bytes] = []

    def write(self, data) -> int:
        self.chunks.append(bytes(data))
        return len(data)

    def flush(self):
        pass

    def take(self) -> bytes:
        data = b"".join(self.chunks)
        self.chunks.clear()
        return data


def runs_with_steps(runs) -> Iterator[tuple[Run, list[Step]]]:
    """Each run with its steps, streaming the runs and loading steps RUNS_PER_QUERY runs at a time."""
    batch: list[Run] = []
    for run in runs.iterator(chunk_size=RUNS_PER_QUERY * 4):
        batch.append(run)
        if len(batch) == RUNS_PER_QUERY:
            yield from _with_steps(batch)
            batch = []
    if batch:
        yield from _with_steps(batch)


def _with_steps(runs: list[Run]):
    steps: dict[str, list[Step]] = {r.trace_id: [] for r in runs}
    for step in Step.objects.filter(project_id=runs[0].project_id, trace_id__in=list(steps)).order_by(
        "trace_id", "start_ns", "span_id"
    ):
        steps[step.trace_id].append(step)
    for run in runs:
        yield run, steps[run.trace_id]


def export_zip(project, runs, filters: dict, *, exported_by: str, exported_at: datetime) -> Iterator[bytes]:
    """One `runs/<trace_id>.otlp.json` per run of the queryset `runs` (selected by the runs-list filter,
    tracing.runs.filter_runs), then `manifest.json` with each file's SHA-256 and the filter as given."""
    sink = _Sink()
    stamp = exported_at.astimezone(dt_timezone.utc).timetuple()[:6]
    entries = []
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for run, steps in runs_with_steps(runs):
            body = run_otlp_json(steps)
            name = f"runs/{run.trace_id}.otlp.json"
            archive.writestr(_entry(name, stamp), body)
            entries.append({
                "trace_id": run.trace_id, "file": name, "sha256": sha256(body), "bytes": len(body),
                "spans": len(steps), "name": run.name, "status": run.status,
                "started_at": run.started_at.isoformat(),
            })
            yield sink.take()
        manifest = {
            "format": MANIFEST_FORMAT,
            "project": project.slug,
            "exported_at": exported_at.isoformat(),
            "exported_by": exported_by,
            "filter": filters,
            "count": len(entries),
            "runs": entries,
        }
        archive.writestr(_entry("manifest.json", stamp), orjson.dumps(manifest, option=orjson.OPT_INDENT_2))
    yield sink.take()


def _entry(name: str, stamp) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=stamp)
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


def zip_filename(project, exported_at: datetime) -> str:
    return f"{project.slug}-runs-{exported_at.astimezone(dt_timezone.utc):%Y%m%dT%H%M%SZ}.zip"

