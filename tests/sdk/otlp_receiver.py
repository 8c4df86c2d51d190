"""A tiny OTLP/HTTP receiver on 127.0.0.1 that keeps every POST, for export round trips."""
from __future__ import annotations

import gzip
import queue
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)


class Collector(ThreadingHTTPServer):
    def __init__(self):
        self.requests: queue.Queue = queue.Queue()
        self.status = 200  # a test sets 401 to play a server that rejects the key
        super().__init__(("127.0.0.1", 0), _Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def next_request(self, timeout=10) -> dict:
        """{path, headers (lower-cased names), body (raw bytes)} of the next POST."""
        return self.requests.get(timeout=timeout)

    def all_requests(self) -> list[dict]:
        items = []
        while not self.requests.empty():
            items.append(self.requests.get_nowait())
        return items


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        headers = {name.lower(): value for name, value in self.headers.items()}
        self.server.requests.put({"path": self.path, "headers": headers, "body": body})
        reply = ExportTraceServiceResponse().SerializeToString()
        self.send_response(self.server.status)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args):  # keep test output quiet
        pass


@contextmanager
def running_collector():
    server = Collector()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def decode(request: dict) -> ExportTraceServiceRequest:
    message = ExportTraceServiceRequest()
    message.ParseFromString(gzip.decompress(request["body"]))
    return message


def spans_of(message: ExportTraceServiceRequest) -> list:
    return [s for rs in message.resource_spans for ss in rs.scope_spans for s in ss.spans]


def resource_attrs(message: ExportTraceServiceRequest) -> dict:
    return {a.key: a.value.string_value for a in message.resource_spans[0].resource.attributes}
