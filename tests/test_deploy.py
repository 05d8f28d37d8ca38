"""docker-compose.yml and the Dockerfile, checked without a Docker engine: the file parses,
its settings are real DONA settings, the services wait for each other, and the app runs
against a real PostgreSQL the way the compose file wires it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from dona.config import Settings

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


def test_services_and_health_ordering(compose):
    services = compose["services"]
    assert set(services) == {"db", "llm", "app"}
    assert "pg_isready" in " ".join(services["db"]["healthcheck"]["test"])
    assert services["app"]["depends_on"]["db"]["condition"] == "service_healthy"
    assert services["app"]["depends_on"]["llm"]["condition"] == "service_healthy"
    assert "/models" in services["llm"]["volumes"][0]


def test_app_environment_names_are_settings(compose):
    fields = {f"DONA_{name.upper()}" for name in Settings.model_fields}
    environment = compose["services"]["app"]["environment"]
    assert set(environment) <= fields, set(environment) - fields
    assert environment["DONA_LLM_BASE_URL"].startswith("http://llm:8080/")
    assert environment["DONA_DATABASE_URL"].startswith("postgresql+psycopg://")
    assert "POSTGRES_PASSWORD:?" in environment["DONA_DATABASE_URL"]  # no secret in the file


def test_dockerfile_copies_what_exists_and_the_entrypoint_uses_real_commands():
    dockerfile = (REPO / "Dockerfile").read_text()
    for source in re.findall(r"^COPY (\S+)", dockerfile, re.M):
        assert (REPO / source).exists(), source
    entrypoint = (REPO / "docker" / "entrypoint.sh").read_text()
    for env in re.findall(r"ENV (DONA_\w+)|\s(DONA_\w+)=", dockerfile):
        name = next(e for e in env if e)
        assert name.lower().removeprefix("dona_") in Settings.model_fields
    assert "dona ingest catalog/chorus_icecat/products.jsonl.gz" in entrypoint
    assert (REPO / "catalog/chorus_icecat/products.jsonl.gz").exists()


@pytest.mark.postgres
def test_the_app_serves_from_postgresql(postgres_url, tmp_path, monkeypatch):
    """What the compose `app` service does, minus Docker: DONA_DATABASE_URL -> PostgreSQL."""
    from streamlit.testing.v1 import AppTest

    from dona import config
    from dona.service import Dona

    monkeypatch.setenv("DONA_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DONA_DATABASE_URL", postgres_url)
    monkeypatch.setenv("DONA_LLM_BACKEND", "extractive")
    monkeypatch.setenv("DONA_CATALOG", "deploy")
    config.get_settings.cache_clear()
    service = Dona()
    csv = b"id,title,brand,price\nd1,Dockside Bluetooth Speaker,Acme,39.00\n"
    service.ingest_bytes(csv, filename="c.csv", catalog="deploy")
    at = AppTest.from_file(str(REPO / "ui" / "app.py"), default_timeout=60).run()
    at.chat_input(key="chat_input").set_value("bluetooth speaker").run()
    assert not at.exception
    texts = [t.value for m in at.chat_message for t in m.text]
    assert "Dockside Bluetooth Speaker" in texts and "$39.00" in texts
    service.store.dispose()
    config.get_settings.cache_clear()
