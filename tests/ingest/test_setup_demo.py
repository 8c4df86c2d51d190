"""README's first command runs `manage.py setup_demo`: a demo login, a project, its key and demo runs."""
import re

import pytest
from django.core.management import call_command

from tracing.models import ApiKey, Project, Run

pytestmark = pytest.mark.django_db(transaction=True)  # demo spans are indexed after their intake commits


def setup_demo(capsys):
    call_command("setup_demo")
    return capsys.readouterr().out


def test_setup_demo_prints_a_working_login_and_key_on_the_port_served(client, settings, tmp_path, monkeypatch,
                                                                         capsys):
    settings.DATA_DIR = str(tmp_path)
    monkeypatch.setenv("PORT", "8125")
    out = setup_demo(capsys)
    assert "Log in at http://127.0.0.1:8125/ as  demo / demo" in out
    assert "http://127.0.0.1:8125/v1/traces" in out
    key = out.strip().splitlines()[-1]
    project = Project.objects.get(slug="demo")
    assert ApiKey.lookup(key).project == project
    assert Run.objects.filter(project=project).count() > 0
    assert client.login(username="demo", password="demo")
    assert client.get("/p/demo/runs/").status_code == 200

    runs = Run.objects.count()
    again = setup_demo(capsys)  # a second start: same key, no second copy of the demo runs
    assert again.strip().splitlines()[-1] == key and not re.search(r"Sent \d+ demo spans", again)
    assert Run.objects.count() == runs


def test_without_port_it_names_the_default_address(settings, tmp_path, monkeypatch, capsys):
    settings.DATA_DIR = str(tmp_path)
    monkeypatch.delenv("PORT", raising=False)
    assert "Log in at http://127.0.0.1:8000/ as  demo / demo" in setup_demo(capsys)
