"""Runs into a project from exported files: one OTLP/JSON run, or a bulk-export zip.

Every body goes through `ingest.intake.accept` (source "import"), the path live spans take,
so limits, validation, redaction and indexing are the same. Re-importing a file changes no
Step or Run: indexing upserts on (project, trace_id, span_id) and recomputes runs.
"""
from __future__ import annotations

import hashlib
import re
import time
import zipfile
import zlib
from dataclasses import dataclass, field

import orjson
from django.conf import settings

from ingest import otlp
from ingest.intake import accept, gunzip_bounded
from tracing import audit

_TRACE_ID = re.compile(r"[0-9a-f]{32}")
MAX_UPLOAD_BYTES = 512 * 1024 * 1024  # the upload form's limit; the command reads files of any size
MAX_ZIP_ENTRIES = 100_000
MAX_SPANS_PER_BATCH = 1000  # large runs are split so each request stays under the intake limits


class ImportFailed(ValueError):
    """The file as a whole cannot be imported; nothing was."""


@dataclass
class ImportResult:
    name: str
    sha256: str = ""
    files: int = 0
    spans: int = 0
    rejected: int = 0
    batches: int = 0
    trace_ids: list[str] = field(default_factory=list)
    verified: bool | None = None  # manifest hashes checked (zip with a manifest) or not
    errors: list[str] = field(default_factory=list)
    patience: float = 0  # seconds to wait out a full indexing backlog (the command waits, a web request not)

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> str:
        runs = f"{len(self.trace_ids)} run{'s' if len(self.trace_ids) != 1 else ''}"
        text = f"{self.name}: {runs}, {self.spans} spans in {self.batches} batch(es) queued for indexing"
        if self.verified:
            text += "; manifest hashes verified"
        if self.rejected:
            text += f"; {self.rejected} spans rejected"
        if self.errors:
            text += "; errors: " + "; ".join(self.errors[:5])
        return text


def import_file(project, fileobj, *, name: str, actor, ip=None, patience: float = 0) -> ImportResult:
    """Import a binary, seekable file object; records one audit event whatever the outcome."""
    result = ImportResult(name=name, sha256=_file_sha256(fileobj), patience=patience)
    try:
        if zipfile.is_zipfile(fileobj):
            fileobj.seek(0)
            _import_zip(project, fileobj, result)
        else:
            fileobj.seek(0)
            data = _bounded(fileobj.read(settings.SAGATRACE_MAX_DECOMPRESSED_BYTES + 1), name)
            result.files = 1
            _import_json(project, data, name, result)
    except ImportFailed as exc:
        result.errors.append(str(exc))
    audit.record(actor, project, "runs_imported", target=name[:300], ip=ip, detail={
        "sha256": result.sha256, "files": result.files, "spans": result.spans, "rejected": result.rejected,
        "batches": result.batches, "runs": len(result.trace_ids), "trace_ids": result.trace_ids[:100],
        "manifest_verified": result.verified, "errors": result.errors[:20],
    })
    return result


def _file_sha256(fileobj) -> str:
    digest = hashlib.sha256()
    fileobj.seek(0)
    for chunk in iter(lambda: fileobj.read(1 << 20), b""):
        digest.update(chunk)
    fileobj.seek(0)
    return digest.hexdigest()


def _bounded(data: bytes, name: str) -> bytes:
    limit = settings.SAGATRACE_MAX_DECOMPRESSED_BYTES
    if data[:2] == b"\x1f\x8b":  # a gzipped run file
        try:
            data = gunzip_bounded(data, limit)
        except OverflowError:
            raise ImportFailed(f"{name}: larger than the limit of {limit} bytes once decompressed") from None
        except zlib.error as exc:
            raise ImportFailed(f"{name}: not readable gzip ({exc})") from None
    if len(data) > limit:
        raise ImportFailed(f"{name}: larger than the limit of {limit} bytes")
    return data


def _import_zip(project, fileobj, result: ImportResult) -> None:
    try:
        archive = zipfile.ZipFile(fileobj)
    except zipfile.BadZipFile as exc:
        raise ImportFailed(f"not a readable zip ({exc})") from None
    with archive:
        members = [i for i in archive.infolist() if not i.is_dir() and i.filename.endswith(".json")
                   and i.filename.rsplit("/", 1)[-1] != "manifest.json"]
        if len(members) > MAX_ZIP_ENTRIES:
            raise ImportFailed(f"{len(members)} files in the zip; the limit is {MAX_ZIP_ENTRIES}")
        if not members:
            raise ImportFailed("the zip holds no .json run files")
        _verify_manifest(archive, members, result)  # all or nothing: a tampered zip imports nothing
        for info in members:
            result.files += 1
            _import_json(project, _read_member(archive, info), info.filename, result)


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    limit = settings.SAGATRACE_MAX_DECOMPRESSED_BYTES
    with archive.open(info) as member:
        data = member.read(limit + 1)  # bounded whatever the header claims (zip bombs)
    return _bounded(data, info.filename)


def _verify_manifest(archive: zipfile.ZipFile, members, result: ImportResult) -> None:
    try:
        manifest = orjson.loads(archive.read("manifest.json"))
    except KeyError:
        return  # a hand-made zip of run files: imported, but nothing to verify against
    except orjson.JSONDecodeError as exc:
        raise ImportFailed(f"manifest.json is not valid JSON ({exc})") from None
    runs = manifest.get("runs") if isinstance(manifest, dict) else None
    if not isinstance(runs, list):
        raise ImportFailed("manifest.json has no list of runs")
    expected = {e.get("file"): e.get("sha256") for e in runs if isinstance(e, dict)}
    problems = []
    for info in members:
        want = expected.pop(info.filename, None)
        if want is None:
            problems.append(f"{info.filename} is not listed in manifest.json")
        elif hashlib.sha256(_read_member(archive, info)).hexdigest() != want:
            problems.append(f"{info.filename} does not match its SHA-256 in manifest.json")
    problems += [f"{name} is listed in manifest.json but missing" for name in expected]
    if problems:
        raise ImportFailed("the zip was modified after export, nothing imported: " + "; ".join(problems[:5]))
    result.verified = True


def _import_json(project, data: bytes, name: str, result: ImportResult) -> None:
    try:
        spans = _spans_of(orjson.loads(data))
        trace_ids = [str(span.get("traceId", "")).lower() for _, _, span in spans]
    except (orjson.JSONDecodeError, TypeError, AttributeError):
        result.errors.append(f"{name}: not an OTLP/JSON ExportTraceServiceRequest")
        return
    # Only well-formed ids name runs (the decoder rejects the others span by span).
    result.trace_ids.extend(t for t in dict.fromkeys(trace_ids) if _TRACE_ID.fullmatch(t) and t not in result.trace_ids)
    per_batch = min(MAX_SPANS_PER_BATCH, settings.SAGATRACE_MAX_SPANS_PER_REQUEST)
    if len(data) <= settings.SAGATRACE_MAX_BODY_BYTES and len(spans) <= per_batch:
        bodies = [data]  # the file as it is: the common case
    else:
        bodies = _split(spans, per_batch)
    for body in bodies:
        outcome = _accept(project, body, result.patience)
        if outcome.status != 200:
            result.errors.append(f"{name}: {outcome.status} {outcome.message}")
            return
        result.spans += outcome.accepted
        result.rejected += outcome.rejected
        result.batches += 1 if outcome.batch_id else 0


def _accept(project, body: bytes, patience: float):
    """accept(); when the indexing backlog is full (503), wait as told for up to `patience` seconds."""
    deadline = time.monotonic() + patience
    while True:
        outcome = accept(project, body, encoding=otlp.JSON, source="import")
        if outcome.status != 503 or time.monotonic() + (outcome.retry_after or 1) > deadline:
            return outcome
        time.sleep(outcome.retry_after or 1)


def _spans_of(document) -> list[tuple[dict, dict, dict]]:
    """(resource, scope, span) for every span, keeping each span's resource and scope."""
    out = []
    for rs in document.get("resourceSpans") or []:
        for ss in rs.get("scopeSpans") or []:
            out.extend((rs.get("resource") or {}, ss.get("scope") or {}, span) for span in ss.get("spans") or [])
    return out


def _split(spans, per_batch: int) -> list[bytes]:
    """Requests of at most `per_batch` spans and about half the body limit each."""
    budget = min(settings.SAGATRACE_MAX_BODY_BYTES, settings.SAGATRACE_MAX_DECOMPRESSED_BYTES) // 2
    bodies, current, size = [], [], 0
    for item in spans:
        weight = len(orjson.dumps(item[2]))
        if current and (len(current) >= per_batch or size + weight > budget):
            bodies.append(_request(current))
            current, size = [], 0
        current.append(item)
        size += weight
    if current:
        bodies.append(_request(current))
    return bodies


def _request(items) -> bytes:
    resource_spans = []
    for resource, scope, span in items:
        if not resource_spans or resource_spans[-1]["resource"] is not resource or \
                resource_spans[-1]["scopeSpans"][-1]["scope"] is not scope:
            resource_spans.append({"resource": resource, "scopeSpans": [{"scope": scope, "spans": []}]})
        resource_spans[-1]["scopeSpans"][-1]["spans"].append(span)
    return orjson.dumps({"resourceSpans": resource_spans})
