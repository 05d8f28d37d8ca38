"""docker-compose.yml and the Dockerfile, checked without a Docker engine: the file parses,
its settings are real DONA settings, the services wait for each other, the password
travels apart from the URL, images are pinned, the running image has no compiler and no
root user, everything restarts, has a memory cap and a health check; and the app runs
against a real PostgreSQL the way the compose file wires it, showing shoppers no secret
when the database setting is wrong."""

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
    # the password travels apart from the URL, from the environment, never in this file
    assert "POSTGRES_PASSWORD" not in environment["DONA_DATABASE_URL"]
    assert ":" not in environment["DONA_DATABASE_URL"].split("//")[1].split("@")[0]
    assert environment["DONA_DATABASE_PASSWORD"].startswith("${POSTGRES_PASSWORD:?")


def _interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's ${VAR:?message} and ${VAR:-default}, enough for this file."""
    return re.sub(
        r"\$\{(\w+)(?::[?-]([^}]*))?\}", lambda m: env.get(m.group(1), m.group(2) or ""), value
    )


def test_any_password_reaches_the_database_intact(compose):
    """A password with '@', ':' and '/' used to land in the URL as is, making part of it
    the host name; now it is set on the parsed URL."""
    from dona.store.store import Store

    password = "p@ss:w/rd#?%&"
    env = {
        key: _interpolate(str(value), {"POSTGRES_PASSWORD": password})
        for key, value in compose["services"]["app"]["environment"].items()
    }
    settings = Settings(**{key.lower().removeprefix("dona_"): v for key, v in env.items()})
    store = Store(
        settings.resolved_database_url, password=settings.database_password.get_secret_value()
    )
    url = store.engine.url
    assert (url.host, url.port, url.username, url.password) == ("db", 5432, "dona", password)
    assert password not in repr(settings)  # a SecretStr
    store.dispose()


def _stages(dockerfile: str) -> list[str]:
    return re.split(r"^FROM ", dockerfile, flags=re.M)[1:]


PINNED = re.compile(r"^[\w./-]+:(\d+\.\d+[\w.-]*|server-b\d+)(@sha256:[0-9a-f]{64})?$")


def test_images_are_pinned(compose):
    dockerfile = (REPO / "Dockerfile").read_text()
    images = [stage.split()[0] for stage in _stages(dockerfile)]
    images += [svc["image"] for svc in compose["services"].values() if "image" in svc]
    assert len(images) >= 4
    for image in images:
        assert PINNED.match(image), f"{image} is not pinned to a release"


def test_the_running_image_has_no_compiler_and_no_root():
    dockerfile = (REPO / "Dockerfile").read_text()
    stages = _stages(dockerfile)
    assert len(stages) >= 2, "multi-stage: compilers only in the build stage"
    final = stages[-1]
    installs = " ".join(re.findall(r"apt-get install[^&\n]*(?:\\\n[^&\n]*)*", final))
    for tool in ("build-essential", "cmake", "gcc", "g++", "clang", "make", "git"):
        assert not re.search(rf"(?<![\w-]){re.escape(tool)}(?![\w-])", installs), tool
    assert "pip install" not in final  # nothing compiles here
    assert re.findall(r"^COPY --from=\S+ (\S+)", final, re.M) == ["/opt/dona"]
    users = re.findall(r"^USER (\S+)", final, re.M)
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert re.search(r"^HEALTHCHECK .*", final, re.M)
    assert "/_stcore/health" in final


def test_every_service_restarts_has_a_memory_cap_and_a_health_check(compose):
    for name, service in compose["services"].items():
        assert service.get("restart") in ("unless-stopped", "always", "on-failure"), name
        limit = service["deploy"]["resources"]["limits"]["memory"]
        assert re.fullmatch(r"\d+(\.\d+)?[mg]", str(limit)), (name, limit)
        assert service["healthcheck"]["test"], name
    assert "/_stcore/health" in " ".join(compose["services"]["app"]["healthcheck"]["test"])


def test_dockerfile_copies_what_exists_and_the_entrypoint_uses_real_commands():
    dockerfile = (REPO / "Dockerfile").read_text()
    for source in re.findall(r"^COPY (?!--from)(\S+)", dockerfile, re.M):
        assert (REPO / source).exists(), source
    entrypoint = (REPO / "docker" / "entrypoint.sh").read_text()
    for env in re.findall(r"ENV (DONA_\w+)|\s(DONA_\w+)=", dockerfile):
        name = next(e for e in env if e)
        assert name.lower().removeprefix("dona_") in Settings.model_fields
    assert "dona ingest catalog/chorus_icecat/products.jsonl.gz" in entrypoint
    assert (REPO / "catalog/chorus_icecat/products.jsonl.gz").exists()


@pytest.mark.postgres
def test_the_app_serves_from_postgresql(postgres_db, tmp_path, monkeypatch):
    """What the compose `app` service does, minus Docker: DONA_DATABASE_URL -> PostgreSQL
    (a clean schema of its own, whatever ran before)."""
    from streamlit.testing.v1 import AppTest

    from dona import config
    from dona.service import Dona

    monkeypatch.setenv("DONA_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DONA_DATABASE_URL", postgres_db)
    monkeypatch.setenv("DONA_LLM_BACKEND", "extractive")
    monkeypatch.setenv("DONA_CATALOG", "deploy")
    config.get_settings.cache_clear()
    service = Dona()
    assert service.store.engine.dialect.name == "postgresql"
    csv = b"id,title,brand,price\nd1,Dockside Bluetooth Speaker,Acme,39.00\n"
    service.ingest_bytes(csv, filename="c.csv", catalog="deploy")
    at = AppTest.from_file(str(REPO / "ui" / "app.py"), default_timeout=60).run()
    at.chat_input(key="chat_input").set_value("bluetooth speaker").run()
    assert not at.exception
    texts = [t.value for m in at.chat_message for t in m.text]
    assert "Dockside Bluetooth Speaker" in texts and "$39.00" in texts
    assert not (tmp_path / "dona.db").exists()  # no SQLite beside it
    service.store.dispose()
    config.get_settings.cache_clear()


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+psycopg://dona:hunter2-s3cret@db:notaport/dona",
        "nonsense://dona:hunter2-s3cret@db/dona",
        "postgresql+psycopg://dona:hunter2-s3cret@127.0.0.1:1/dona",  # nobody listens
    ],
)
def test_shoppers_never_see_the_database_setting(url, tmp_path, monkeypatch):
    """A wrong DONA_DATABASE_URL used to be shown whole, password included, on the chat
    page; now a shopper reads one plain sentence and the operator's log has the rest."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from dona import config

    monkeypatch.setenv("DONA_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DONA_DATABASE_URL", url)
    monkeypatch.setenv("DONA_LLM_BACKEND", "extractive")
    config.get_settings.cache_clear()
    st.cache_resource.clear()
    try:
        at = AppTest.from_file(str(REPO / "ui" / "app.py"), default_timeout=60).run()
        assert not at.exception
        shown = [
            e.value
            for kind in ("error", "warning", "info", "markdown", "text", "caption")
            for e in getattr(at, kind)
        ]
        assert not any("s3cret" in str(value) or "hunter2" in str(value) for value in shown)
        assert [e.value for e in at.error] == [
            "The shop's assistant is not available right now. Please try again in a little while."
        ]
    finally:
        config.get_settings.cache_clear()
        st.cache_resource.clear()
