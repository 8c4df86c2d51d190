import pytest

from ingest.models import IngestBatch

pytestmark = pytest.mark.django_db(transaction=True)


def test_failed_batch_is_listed_with_its_error_and_can_be_redriven(client, alice, project):
    batch = IngestBatch.objects.create(project=project, encoding="protobuf", body=b"", status=IngestBatch.FAILED,
                                       attempts=5, error="ValueError: <b>broken</b>")
    client.force_login(alice)
    page = client.get("/p/acme/ingest/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "ValueError: &lt;b&gt;broken&lt;/b&gt;" in html  # escaped, never markup
    assert f"/p/acme/ingest/{batch.id}/redrive/" in html
    response = client.post(f"/p/acme/ingest/{batch.id}/redrive/")
    assert response.status_code == 302
    batch.refresh_from_db()
    assert batch.status == IngestBatch.INDEXED  # an empty body re-indexes to nothing, successfully


def test_viewer_cannot_redrive(client, project, django_user_model):
    from tracing.models import Membership

    viewer = django_user_model.objects.create_user("vic", password="x")
    Membership.objects.create(user=viewer, project=project, role=Membership.VIEWER)
    batch = IngestBatch.objects.create(project=project, encoding="protobuf", body=b"", status=IngestBatch.FAILED)
    client.force_login(viewer)
    assert client.post(f"/p/acme/ingest/{batch.id}/redrive/").status_code == 404
    batch.refresh_from_db()
    assert batch.status == IngestBatch.FAILED


def test_other_projects_batches_are_404(client, alice, django_user_model):
    from tracing.models import Project

    other = Project.objects.create(name="Other", slug="other")
    batch = IngestBatch.objects.create(project=other, encoding="protobuf", body=b"", status=IngestBatch.FAILED)
    client.force_login(alice)
    assert client.get("/p/other/ingest/").status_code == 404
    assert client.post(f"/p/acme/ingest/{batch.id}/redrive/").status_code == 404


def test_the_failed_tile_is_alarming_only_when_something_failed(client, alice, project):
    """It is drawn red (sagatrace.css: .tile.failed:not(.zero)) only when a batch failed."""
    client.force_login(alice)
    assert 'class="tile failed zero"' in client.get("/p/acme/ingest/").content.decode()
    IngestBatch.objects.create(project=project, encoding="protobuf", body=b"", status=IngestBatch.FAILED, attempts=5)
    html = client.get("/p/acme/ingest/").content.decode()
    assert 'class="tile failed"' in html and 'class="tile failed zero"' not in html
