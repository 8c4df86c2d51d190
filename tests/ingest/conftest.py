import pytest

from ingest.grpc_server import build_server


@pytest.fixture
def grpc_endpoint():
    """A real OTLP/gRPC server (ingest.grpc_server) on a free port; its address."""
    server = build_server("127.0.0.1:0", workers=2)
    server.start()
    yield f"127.0.0.1:{server.bound_port}"
    server.stop(grace=1)
