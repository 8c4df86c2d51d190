"""Members save runs-list views and delete their own; viewers cannot; nobody touches another's."""
import pytest

from tracing.models import Membership, SavedView


@pytest.fixture
def mel(project, django_user_model):
    user = django_user_model.objects.create_user("mel", password="pw")
    Membership.objects.create(user=user, project=project, role=Membership.MEMBER)
    return user


@pytest.mark.django_db
def test_member_saves_a_view_and_finds_it_on_the_runs_list(client, mel):
    client.force_login(mel)
    response = client.post("/p/acme/views/", {"name": "failing gpt-4o", "query": "status=error&model=gpt-4o&cursor=abc&evil=1"})
    assert response["Location"] == "/p/acme/runs/?status=error&model=gpt-4o"
    view = SavedView.objects.get(user=mel)
    assert view.query == "status=error&model=gpt-4o"  # no cursor, no unknown fields
    page = client.get("/p/acme/runs/").content.decode()
    assert 'href="?status=error&amp;model=gpt-4o"' in page and "failing gpt-4o" in page


@pytest.mark.django_db
def test_viewer_cannot_save_views(client, project, django_user_model):
    vic = django_user_model.objects.create_user("vic", password="pw")
    Membership.objects.create(user=vic, project=project, role=Membership.VIEWER)
    client.force_login(vic)
    assert client.post("/p/acme/views/", {"name": "x", "query": ""}).status_code == 404
    assert "Save view" not in client.get("/p/acme/runs/").content.decode()


@pytest.mark.django_db
def test_only_the_owner_deletes_a_saved_view(client, mel, alice, project):
    theirs = SavedView.objects.create(user=alice, project=project, name="alice's")
    client.force_login(mel)
    assert client.post(f"/p/acme/views/{theirs.id}/delete/").status_code == 404
    assert SavedView.objects.filter(id=theirs.id).exists()
    client.force_login(alice)
    client.post(f"/p/acme/views/{theirs.id}/delete/")
    assert not SavedView.objects.filter(id=theirs.id).exists()
