"""The interface's two languages (dona/i18n.py): complete tables, how the language is
chosen, and errors raised by the real code paths rendered in Spanish."""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import pytest

from dona.catalog.isolated import parse_isolated
from dona.catalog.parse import parse_catalog
from dona.errors import CatalogFileError, CatalogValidationError, DonaError, QueryError
from dona.i18n import (
    EN,
    ERRORS_ES,
    ES,
    fields,
    localized,
    number,
    preferred_language,
    resolve_language,
    system_locale,
    t,
)
from dona.search import Filters, clean_query

DONA = Path(__file__).resolve().parents[1] / "dona"


def test_every_message_is_in_both_languages_with_the_same_values():
    assert EN.keys() == ES.keys()
    for key in EN:
        assert EN[key].strip() and ES[key].strip(), key
        assert fields(EN[key]) == fields(ES[key]), key
        assert EN[key] != ES[key] or key in {"cli.error", "quant.column.ram"}, key


def test_messages_fill_in_values_and_leave_them_as_given():
    assert (
        t("search.count_many", "en", count="12", query="{x} **b**") == "12 products for “{x} **b**”"
    )
    assert t("search.count_many", "es", count="12", query="mouse") == "12 productos para “mouse”"
    with pytest.raises(KeyError):
        t("no.such.key", "es")


def test_every_error_code_raised_has_a_spanish_rendering_and_back():
    sources = {p: p.read_text() for p in DONA.rglob("*.py") if p.name != "i18n.py"}
    raised = {c for text in sources.values() for c in re.findall(r'code="([a-z0-9_]+)"', text)}
    assert raised and raised <= ERRORS_ES.keys(), raised - ERRORS_ES.keys()
    everywhere = "\n".join(sources.values())
    for code in ERRORS_ES.keys() - {"min_price_invalid", "max_price_invalid"}:  # f"{name}_invalid"
        assert f'"{code}"' in everywhere, f"{code}: no raise site"


@pytest.mark.parametrize(
    ("setting", "browser", "expected"),
    [
        ("auto", "es-AR", "es"),
        ("auto", "es", "es"),
        ("auto", "es-419", "es"),
        ("auto", "ES_ar.UTF-8", "es"),  # a POSIX locale
        ("auto", "es_ES@euro", "es"),
        ("auto", "en-US,en;q=0.9,es;q=0.8", "en"),
        ("auto", "es-AR,es;q=0.9,en;q=0.8", "es"),
        ("auto", "fr-FR,fr;q=0.9,es;q=0.8,en;q=0.5", "es"),  # the preferred one we have
        ("auto", "es;q=0, en", "en"),  # q=0: not Spanish
        ("auto", "es;q=abc, en;q=0.2", "en"),  # nonsense weight counts as no
        ("auto", "de-DE", "en"),
        ("auto", "C.UTF-8", "en"),
        ("auto", "", "en"),
        ("auto", None, "en"),
        (None, "es-MX", "es"),
        ("es", "en-US", "es"),  # the setting wins
        ("en", "es-AR", "en"),
        (" ES ", None, "es"),
    ],
)
def test_resolve_language(setting, browser, expected):
    assert resolve_language(setting, browser) == expected


def test_a_huge_header_is_read_only_so_far():
    assert preferred_language("de;q=0.9," * 100_000 + "es") == "en"
    assert preferred_language("es," + "x" * 10_000_000) == "es"


def test_system_locale_follows_posix_order():
    assert system_locale({"LANG": "es_AR.UTF-8"}) == "es_AR.UTF-8"
    assert system_locale({"LANG": "es_AR.UTF-8", "LC_ALL": "C"}) == "C"
    assert system_locale({"LANG": "en_US", "LC_MESSAGES": "es_ES"}) == "es_ES"
    assert system_locale({"LC_ALL": "", "LANG": "es_ES"}) == "es_ES"  # empty means unset
    assert system_locale({}) is None


def test_numbers_are_written_the_way_each_language_does():
    assert number(19406, "en") == "19,406" and number(19406, "es") == "19.406"
    assert number(1234.5, "en", 1) == "1,234.5" and number(1234.5, "es", 1) == "1.234,5"


def raised(call) -> DonaError:
    with pytest.raises(DonaError) as caught:
        call()
    return caught.value


def test_shopper_errors_in_spanish():
    empty = raised(lambda: clean_query("   "))
    assert isinstance(empty, QueryError) and empty.code == "query_empty"
    assert (
        localized(empty, "en") == str(empty) == "type what you are looking for (the query is empty)"
    )
    assert localized(empty, "es") == "escribe lo que buscas (la búsqueda está vacía)"

    backwards = raised(lambda: Filters(min_price=12.5, max_price=10))
    assert "minimum price (12.5)" in localized(backwards, "en")
    assert localized(backwards, "es") == "el precio mínimo (12,5) es mayor que el máximo (10)"
    negative = raised(lambda: Filters(max_price=-1))
    assert localized(negative, "es") == "el precio máximo debe ser un número mayor o igual a 0"


def test_catalog_file_errors_in_spanish():
    empty = raised(lambda: parse_catalog(b"", "c.csv"))
    assert (
        localized(empty, "es") == "el archivo está vacío; sube un catálogo con al menos un producto"
    )

    unusual = raised(lambda: parse_catalog(b"code,label,cost\nm1,Milk Frother,15\n", "c.csv"))
    spanish = localized(unusual, "es")
    assert "no column for id and title" in str(unusual)
    assert spanish.startswith(
        "esto no parece un catálogo de productos: no hay columna para id y title"
    )
    assert "'code', 'label', 'cost'" in spanish and "--map id=COLUMNA" in spanish

    latin1 = raised(lambda: parse_catalog("id,title\n1,Caf\u00e9\n".encode("latin-1"), "c.csv"))
    assert localized(latin1, "es").startswith(
        "el archivo no es texto UTF-8 (byte ilegible 0xe9 en la línea 2)"
    )

    old_excel = raised(lambda: parse_catalog(b"\xd0\xcf\x11\xe0" + b"\0" * 600, "c.xls"))
    assert localized(old_excel, "es").startswith("es una planilla .xls antigua")


def test_validation_summary_in_spanish():
    result = parse_catalog(b"id,title,price\nk1,Kettle,20\nk2,Toaster,35\nk3,,12\n", "c.csv")
    error = raised(result.raise_if_invalid)
    assert isinstance(error, CatalogValidationError)
    assert str(error).startswith(
        "1 of 3 rows are invalid, so nothing was changed: row 4 (id 'k3'):"
    )
    assert localized(error, "es") == (
        "1 de 3 filas no son válidas, así que no se cambió nada: fila 4 (id 'k3'): missing "
        "title. Corrige esas filas o carga el archivo con --skip-bad-rows para dejarlas afuera."
    )


def test_the_code_survives_the_isolated_check():
    error = raised(lambda: parse_isolated(b"\x00\x01\x02 not a catalog", "c.csv"))
    assert isinstance(error, CatalogFileError) and error.code == "file_binary"
    assert localized(error, "es").startswith("el archivo es binario, no un catálogo")


def test_code_and_params_survive_pickling():
    error = pickle.loads(
        pickle.dumps(CatalogFileError("x", code="file_too_large", params={"limit_mb": 2000}))
    )
    assert (error.code, error.params) == ("file_too_large", {"limit_mb": 2000})
    assert localized(error, "es").startswith("el catálogo supera el límite de 2.000 MB")


def test_sign_in_errors_in_spanish(dona):
    dona.accounts.create("kim", "correct horse battery", "kitchen")
    for _ in range(dona.settings.signin_max_failures):
        wrong = raised(lambda: dona.accounts.authenticate("kim", "not it"))
        assert localized(wrong, "es") == "usuario o contraseña incorrectos"
    limited = raised(lambda: dona.accounts.authenticate("kim", "correct horse battery"))
    minutes = dona.settings.signin_window_s // 60
    assert str(limited) == f"too many failed sign-ins for 'kim'; try again in {minutes} minutes"
    assert localized(limited, "es") == (
        f"demasiados inicios de sesión fallidos para 'kim'; vuelve a intentarlo en {minutes} minutos"
    )


def test_no_catalog_yet_in_spanish(dona):
    error = raised(lambda: dona.search("speaker"))
    assert localized(error, "es") == (
        "todavía no se cargó ningún catálogo; primero ejecuta 'dona ingest FILE'"
    )


def test_errors_without_a_known_code_stay_as_they_are():
    assert localized(DonaError("plain"), "es") == "plain"
    assert localized(DonaError("odd", code="not_a_code"), "es") == "odd"
    assert localized(ValueError("bug"), "es") == "bug"
    # a raise site that forgot a value: the English sentence, never a half-filled template
    assert localized(DonaError("the catalog is too big", code="file_too_large"), "es") == (
        "the catalog is too big"
    )
