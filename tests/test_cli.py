"""The `dona` command, run as a real process with the real bundled model."""

import json
import os
import subprocess
import sys

import pytest
from conftest import demo_products_matching, to_jsonl


@pytest.fixture(scope="module")
def cli_env(tmp_path_factory):
    data = tmp_path_factory.mktemp("cli")
    env = {**os.environ, "DONA_DATA_DIR": str(data / "dona"), "PYTHONUNBUFFERED": "1"}
    env.pop("DONA_DATABASE_URL", None)
    env.pop("DONA_EMBEDDER", None)
    catalog = data / "shop.jsonl.gz"
    import gzip

    items = demo_products_matching(["speaker", "mouse", "cartridge"], per_word=40)
    catalog.write_bytes(gzip.compress(to_jsonl(items)))
    return env, catalog, items


def dona(env, *args):
    return subprocess.run(
        [sys.executable, "-m", "dona.cli", *args], env=env, capture_output=True, text=True
    )


def assert_one_line_error(result, fragment):
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert fragment in result.stderr


def test_cli_flow(cli_env):
    env, catalog, items = cli_env
    assert_one_line_error(dona(env, "search", "speaker"), "no catalog has been ingested yet")

    ingest = dona(env, "ingest", str(catalog), "--prices-in-cents", "--quiet")
    assert ingest.returncode == 0, ingest.stderr
    assert f"version 1 is live: {len(items)} products" in ingest.stdout

    result = dona(env, "search", "bluetooth speaker", "--json", "--k", "5")
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["query"] == "bluetooth speaker" and len(payload["results"]) == 5
    first = payload["results"][0]
    assert {"id", "title", "brand", "price", "currency", "score"} <= set(first)
    assert sum("speaker" in r["title"].lower() for r in payload["results"]) >= 4
    by_id = {i["id"]: i for i in items}
    for r in payload["results"]:
        raw = by_id[r["id"]].get("price")
        assert r["price"] == (raw / 100 if raw is not None else None)  # major units

    from collections import Counter

    brand = Counter(
        i["supplier"] for i in items if i.get("price") is not None and i["price"] <= 3000
    ).most_common(1)[0][0]
    cheap = json.loads(
        dona(env, "search", "speaker", "--json", "--max-price", "30", "--brand", brand).stdout
    )
    assert cheap["results"], f"expected some {brand} products up to 30"
    for r in cheap["results"]:
        assert r["price"] is not None and r["price"] <= 30 and r["brand"] == brand

    text = dona(env, "search", "mouse", "--k", "3")
    assert text.returncode == 0 and text.stdout.count("\n") == 3 and "USD" in text.stdout

    listing = json.loads(dona(env, "catalogs", "--json").stdout)
    assert listing[0]["name"] == "default" and listing[0]["products"] == len(items)


def test_cli_errors(cli_env, tmp_path):
    env, _, _ = cli_env
    assert_one_line_error(dona(env, "ingest", str(tmp_path / "missing.csv")), "no such file")
    bad = tmp_path / "bad.csv"
    bad.write_text("id,title,price\n1,A,1\n,B,2\n3,C,abc\n")
    assert_one_line_error(dona(env, "ingest", str(bad), "-q"), "row 3: missing id")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    assert_one_line_error(dona(env, "ingest", str(empty), "-q"), "the file is empty")
    assert_one_line_error(
        dona(env, "search", "x", "--min-price", "10", "--max-price", "5"), "above the maximum"
    )
    assert_one_line_error(dona(env, "search", "x", "--catalog", "nope"), "no catalog named 'nope'")
    usage = dona(env, "search", "x", "--k", "0")
    assert usage.returncode == 2 and "Traceback" not in usage.stderr


def test_cli_versions_and_rollback(cli_env, tmp_path):
    env, _, _ = cli_env
    env = {**env, "DONA_DATA_DIR": str(tmp_path / "dona")}
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    first.write_text("id,title,price\n1,Red Kettle,20\n")
    second.write_text("id,title,price\n1,Blue Kettle,25\n")
    for path in (first, second):
        assert dona(env, "ingest", str(path), "-q").returncode == 0
    listing = json.loads(dona(env, "versions", "--json").stdout)
    assert [(v["version"], v["status"], v["restorable"]) for v in listing] == [
        (2, "live", False),
        (1, "ready", True),
    ]
    restored = dona(env, "rollback", "1")
    assert restored.returncode == 0 and "version 1 is live again" in restored.stdout
    found = json.loads(dona(env, "search", "kettle", "--json").stdout)["results"]
    assert [r["title"] for r in found] == ["Red Kettle"]
    assert_one_line_error(dona(env, "rollback", "9"), "version 9 of 'default' cannot be restored")


def test_cli_merchant_accounts(cli_env, tmp_path):
    env, _, _ = cli_env
    env = {**env, "DONA_DATA_DIR": str(tmp_path / "dona")}

    def merchant(*args, password=None):
        return subprocess.run(
            [sys.executable, "-m", "dona.cli", "merchant", *args],
            env=env, input=password, capture_output=True, text=True,
        )  # fmt: skip

    added = merchant("add", "Alice", "--catalog", "shop-a", "--password-stdin",
                     password="correct horse battery\n")  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert "merchant 'alice' manages catalog 'shop-a'" in added.stdout
    assert merchant("list").stdout.strip() == "alice: shop-a"
    assert_one_line_error(
        merchant("add", "bob", "-c", "shop-b", "--password-stdin", password="short\n"),
        "at least 10 characters",
    )
    assert_one_line_error(
        merchant("add", "alice", "-c", "shop-b", "--password-stdin", password="another one!\n"),
        "already exists",
    )
    changed = merchant("set-password", "alice", "--password-stdin", password="a new password\n")
    assert changed.returncode == 0, changed.stderr

    from dona.config import Settings
    from dona.service import Dona

    service = Dona(Settings(data_dir=tmp_path / "dona"))
    assert service.accounts.authenticate("alice", "a new password").catalog == "shop-a"
    service.store.dispose()
    assert merchant("remove", "alice").returncode == 0
    assert "no merchants yet" in merchant("list").stdout
