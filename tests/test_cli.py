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


@pytest.fixture
def own_dir(cli_env, tmp_path):
    """The module's environment with a data directory of the test's own."""
    env, catalog, items = cli_env
    return {**env, "DONA_DATA_DIR": str(tmp_path / "dona")}, catalog, items


def test_ask_says_nothing_fits_when_nothing_is_like_the_request(own_dir):
    """No price filter: a lawn mower is semantically far from every product of a shop of
    speakers, mice and cartridges, and no word of the request occurs in them."""
    env, catalog, _ = own_dir
    assert dona(env, "ingest", str(catalog), "--prices-in-cents", "-q").returncode == 0

    def ask(question):
        result = dona(env, "ask", question, "--backend", "extractive", "--json")
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    mower = ask("Do you sell lawn mowers?")
    assert mower["nothing_fits"] is True and mower["language"] == "en"
    assert mower["answer"].strip() and mower["products"]  # the closest are still offered
    assert not mower["fallback"] and mower["backend"] == "extractive"
    speaker = ask("Do you sell bluetooth speakers?")  # the same question, about the shop
    assert speaker["nothing_fits"] is False
    assert "speaker" in speaker["products"][0]["title"].lower()


HOLD_INGEST = """
import sys
from pathlib import Path
from dona.service import Dona

held = []

def progress(stage, done, total):
    if stage == "embed" and not held:  # inside the ingest, holding the catalog's lock
        held.append(stage)
        print("holding", flush=True)
        sys.stdin.readline()  # until the test says go on

report = Dona().ingest_bytes(Path(sys.argv[1]).read_bytes(), "a.csv", progress=progress)
print(f"version {report.version}", flush=True)
"""


def test_two_ingest_processes_never_run_at_once(own_dir, tmp_path):
    env, _, _ = own_dir
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    first.write_text("id,title,price\n1,Red Kettle,20\n")
    second.write_text("id,title,price\n1,Blue Kettle,25\n")
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_INGEST, str(first)],
        env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "holding"
        refused = dona(env, "ingest", str(second), "-q")
        assert refused.returncode == 1
        assert_one_line_error(
            refused,
            "error: another ingest of catalog 'default' is running; wait for it to finish",
        )
        holder.stdin.write("\n")
        holder.stdin.flush()
        assert holder.stdout.readline().strip() == "version 1"
        assert holder.wait(timeout=120) == 0
    finally:
        if holder.poll() is None:
            holder.kill()
    again = dona(env, "ingest", str(second), "-q")  # the lock went with the first ingest
    assert again.returncode == 0 and "version 2 is live" in again.stdout
    found = json.loads(dona(env, "search", "kettle", "--json").stdout)["results"]
    assert [r["title"] for r in found] == ["Blue Kettle"]


def test_eval_gate_reports_a_broken_floor_by_name(own_dir, tmp_path):
    env, catalog, items = own_dir
    assert dona(env, "ingest", str(catalog), "--prices-in-cents", "-q").returncode == 0
    judged = tmp_path / "shopset"  # the query set's name is its folder's
    judged.mkdir()
    speakers = [i["id"] for i in items if "speaker" in i["title"].lower()][:3]
    (judged / "q.tsv").write_text("query_id\tquery\nq1\tspeaker\nq2\tportable speaker\n")
    (judged / "l.tsv").write_text(
        "query_id\tproduct_id\trating\n"
        + "".join(f"{q}\t{pid}\t3\n" for q in ("q1", "q2") for pid in speakers)
    )

    def gate(minimum, *extra):
        floors = tmp_path / "floors.json"
        floors.write_text(json.dumps({"dataset": "shopset", "floors": {
            "hybrid Recall@100": {"mode": "hybrid", "metric": "recall@100", "min": minimum}}}))  # fmt: skip
        return dona(env, "eval", "--queries", str(judged / "q.tsv"), "--labels",
                    str(judged / "l.tsv"), "--phase", "f32", "--gate", "--floors",
                    str(floors), *extra)  # fmt: skip

    passed = gate(0.5)
    assert passed.returncode == 0, passed.stderr
    assert "floor 'hybrid Recall@100': f32 (hybrid) recall@100 1.0000 >= 0.5000 ok" in (
        passed.stdout
    )
    assert "quality gate passed: f32, above the floors in" in passed.stdout
    broken = gate(1.01)
    assert broken.returncode == 1 and "Traceback" not in broken.stderr
    assert (
        broken.stderr.strip()
        .splitlines()[-1]
        .startswith(  # after the progress lines
            "error: quality gate failed: floor 'hybrid Recall@100' broken: f32 (hybrid) "
            "recall@100 1.0000 < 1.0100"
        )
    )
    elsewhere = gate(0.5, "--half", "B")  # floors compare only on the set they were set on
    assert elsewhere.returncode == 1 and "Traceback" not in elsewhere.stderr
    assert elsewhere.stderr.strip().splitlines()[-1] == (
        f"error: the floors in {tmp_path / 'floors.json'} were set on shopset; evaluate "
        "that query set (not shopset, half B) to check them"
    )


def test_ingest_maps_columns_it_does_not_know(tmp_path):
    """`dona ingest --map FIELD=COLUMN`, as a real process; a wrong field is a plain error."""
    source = tmp_path / "raro.csv"
    source.write_text(
        'Código,Nombre del artículo,Fabricante,Importe\nx1,Parlante portátil,JBL,"1.299,50"\n',
        encoding="utf-8",
    )
    env = {**os.environ, "DONA_DATA_DIR": str(tmp_path / "data"), "DONA_EMBEDDER": "minilm-onnx"}
    env.pop("DONA_DATABASE_URL", None)

    def dona(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "dona.cli", *args], capture_output=True, text=True, env=env
        )

    refused = dona("ingest", str(source), "-q")
    assert refused.returncode == 1 and "--map title=COLUMN" in refused.stderr
    bad = dona("ingest", str(source), "-q", "--map", "titel=x")
    assert bad.returncode == 2 and "FIELD one of: id, title" in bad.stderr
    done = dona("ingest", str(source), "-q", "--map", "title=Nombre del artículo")
    assert done.returncode == 0, done.stderr
    found = json.loads(dona("search", "parlante", "--json").stdout)
    assert found["results"][0]["id"] == "x1" and found["results"][0]["price"] == 1299.5


def test_cli_speaks_spanish_when_asked(tmp_path):
    """DONA_LANGUAGE=es, or a Spanish locale with the default "auto": messages and errors
    in Spanish; --json keys unchanged; English otherwise."""
    source = tmp_path / "tienda.csv"
    source.write_text(
        "id,título,marca,precio\np1,Pava eléctrica,Atma,20\np2,Tostadora,Atma,35\n"
        "p3,,Atma,12\np4,,Atma,13\np5,Cafetera,Oster,50\n",
        encoding="utf-8",
    )
    base = {**os.environ, "DONA_DATA_DIR": str(tmp_path / "data"), "LANG": "C.UTF-8"}
    for name in ("DONA_DATABASE_URL", "DONA_LANGUAGE", "LC_ALL", "LC_MESSAGES"):
        base.pop(name, None)
    es = {**base, "DONA_LANGUAGE": "es"}

    empty = dona(es, "search", "pava")
    assert_one_line_error(empty, "error: todavía no se cargó ningún catálogo")
    assert dona(es, "catalogs").stdout == "todavía no hay catálogos; ejecuta 'dona ingest FILE'\n"

    refused = dona(es, "ingest", str(source), "-q")
    assert_one_line_error(
        refused, "error: 2 de 5 filas no son válidas, así que no se cambió nada: fila 4"
    )
    done = dona(es, "ingest", str(source), "-q", "--skip-bad-rows")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("la versión 1 del catálogo 'default' está publicada: 3 productos")
    assert lines[1:] == [
        "se omitieron 2 filas no válidas:",
        "  fila 4 (id 'p3'): missing title",
        "  fila 5 (id 'p4'): missing title",
    ]
    found = json.loads(dona(es, "search", "pava eléctrica", "--json").stdout)
    assert set(found) >= {"query", "catalog", "version", "mode", "results"}
    assert found["results"][0]["id"] == "p1"

    # "auto" follows the locale; English without a Spanish one
    assert dona({**base, "LANG": "es_AR.UTF-8"}, "versions").stdout.startswith(
        "v1: publicada, 3 productos"
    )
    assert dona(base, "versions").stdout.startswith("v1: live, 3 products")
    assert_one_line_error(dona(base, "search", "  "), "error: type what you are looking for")
    assert_one_line_error(
        dona({**base, "LC_ALL": "es_ES.UTF-8"}, "search", "  "), "error: escribe lo que buscas"
    )
