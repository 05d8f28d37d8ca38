"""The language bridge with the real multilingual model (USE v3, ~1 s to load): query words
of another language reach the catalog's own words; words the catalog knows never move."""

from __future__ import annotations

import pytest

from dona.catalog.text import fold_accents
from dona.embed import get_embedder
from dona.index.bridge import BRIDGE_FILES, TermBridge, _wordlike
from dona.search import Filters

ENGLISH_SHOP = b"""id,title,brand,price,category,description
h1,Wireless Headphones with microphone,Sony,59.00,Audio,Over-ear wireless headphones
h2,Noise Cancelling Headphones,Bose,199.00,Audio,Quiet headphones for travel
s1,Portable Bluetooth Speaker,JBL,49.00,Audio,Waterproof portable speaker
s2,Bluetooth Speaker for the shower,Acme,19.00,Audio,Waterproof speaker
k1,Wireless Keyboard,Logitech,29.00,Computers,Slim wireless keyboard
k2,Mechanical Keyboard,Corsair,99.00,Computers,Gaming keyboard with lights
p1,Laser Printer,HP,149.00,Printers,Monochrome laser printer
p2,Inkjet Printer,Epson,89.00,Printers,Colour inkjet printer
c1,Phone Charger,Anker,15.00,Chargers,USB-C charger for phones
c2,Laptop Charger,Dell,45.00,Chargers,Charger for laptops
"""

SPANISH_SHOP = """id,titulo,marca,descripcion,precio,moneda,categoria,existencias
a1,Auriculares inalámbricos con micrófono,Sony,Auriculares inalámbricos de diadema,"59,00",USD,Audio,3
a2,Auriculares con cancelación de ruido,Bose,Auriculares silenciosos para viajar,"199,00",USD,Audio,0
p1,Parlante Bluetooth portátil,JBL,Parlante portátil resistente al agua,"$ 1.049,00",USD,Audio,5
t1,Teclado inalámbrico,Logitech,Teclado inalámbrico delgado,"29,00",USD,Computación,2
t2,Teclado mecánico,Corsair,Teclado para juegos con luces,"99,00",USD,Computación,1
i1,Impresora láser,HP,Impresora láser monocromática,"149,00",USD,Impresoras,4
l1,Lámpara de escritorio LED,Philips,Lámpara para el escritorio con luz regulable,"35,00",USD,Iluminación,7
l2,Lámpara de pie,Philips,Lámpara de pie para la sala,"80,00",USD,Iluminación,2
c1,Cargador para celular,Anker,Cargador USB-C para celulares,"15,00",USD,Cargadores,9
c2,Cargador para notebook,Dell,Cargador para notebooks,"45,00",USD,Cargadores,3
""".encode()


def _ids(response):
    return [r.product.id for r in response.results]


@pytest.fixture
def english(dona):
    dona.ingest_bytes(ENGLISH_SHOP, filename="shop.csv")
    return dona


def test_spanish_words_reach_an_english_catalog(english):
    served = english.served()
    assert served.language == "en" and served.bridge is not None
    response = english.search("auriculares", k=2)
    assert set(_ids(response)) == {"h1", "h2"}
    assert "headphones" in response.searched_as
    assert set(_ids(english.search("impresora", k=2))) == {"p1", "p2"}
    teclado = english.search("teclado inalambrico", k=1, filters=Filters(max_price=50))
    assert _ids(teclado) == ["k1"]


def test_english_queries_and_known_words_are_left_alone(english):
    response = english.search("wireless headphones", k=2)
    assert response.searched_as is None
    assert english.search("Sony", k=1).searched_as is None  # a brand, and known anyway
    for junk in ("zzzz qqqq", "hjkl", "xkcd"):  # the model maps anything to something
        assert english.search(junk, k=3).searched_as is None


def test_bridge_files_are_sealed_in_the_manifest(english):
    manifest = english.served().manifest
    assert set(BRIDGE_FILES) <= set(manifest["files"])
    assert manifest["bridge"]["request"] == {
        "embedder": "use-m3",
        "version": manifest["bridge"]["version"],
    }
    assert manifest["lexical"]["language"] == "en"


def test_unchanged_reingest_links_the_bridge(english):
    first = english.served().directory
    english.ingest_bytes(ENGLISH_SHOP, filename="shop.csv")
    second = english.served().directory
    assert second != first
    for name in BRIDGE_FILES:
        assert (second / name).stat().st_ino == (first / name).stat().st_ino


def test_bridge_off_by_setting(settings, data_dir):
    from dona.service import Dona

    service = Dona(settings.model_copy(update={"cross_lingual": False}))
    service.ingest_bytes(ENGLISH_SHOP, filename="shop.csv")
    assert "bridge" not in service.served().manifest
    assert service.search("auriculares", k=3).searched_as is None
    service.close()


def test_a_spanish_shop_without_any_flag(dona):
    report = dona.ingest_bytes(SPANISH_SHOP, filename="tienda.csv", catalog="tienda")
    assert report.products == 10 and not report.skipped
    assert report.mapped_columns["title"] == "titulo"
    assert report.mapped_columns["stock"] == "existencias"
    served = dona.served("tienda")
    assert served.language == "es"
    parlante = dona.products_by_id("tienda", ["p1"])["p1"]
    assert parlante.price == 1049.0 and parlante.brand == "JBL"
    # accents folded: a shopper typing without them finds "Lámpara"
    assert set(_ids(dona.search("lampara", catalog="tienda", k=2))) == {"l1", "l2"}
    # Spanish stemming: plural and singular meet
    assert "c2" in _ids(dona.search("cargadores notebooks", catalog="tienda", k=2))
    # English queries reach the Spanish words
    english = dona.search("wireless headphones", catalog="tienda", k=2)
    assert set(_ids(english)) == {"a1", "a2"}
    assert "auriculares" in english.searched_as
    assert _ids(dona.search("keyboard", catalog="tienda", k=2)) in (["t1", "t2"], ["t2", "t1"])


def test_wordlike_rules():
    assert all(_wordlike(w) for w in ("auriculares", "teclado", "luz", "mouse"))
    assert not any(_wordlike(w) for w in ("zzzz", "sdxc", "hjkl", "aaaa", "lcd"))


def test_vocabulary_is_bounded_and_folded():
    texts = ["Lámpara de pie", "lampara LED", "Zqx 1234 one-off"] * 3
    frequent, known = TermBridge.vocabulary(texts)
    terms = [t for t, _ in frequent]
    assert "lampara" in terms and "lámpara" not in terms
    assert "1234" not in known  # numbers and codes never bridge
    assert fold_accents("Cámara ñandú") == "Camara nandu"


def test_nearest_words_with_the_real_model(settings):
    use = get_embedder(settings, "use-m3")
    assert use.dims == 512
    vectors = use.embed_documents(["auriculares", "headphones", "printer"])
    assert float(vectors[0] @ vectors[1]) > float(vectors[0] @ vectors[2])


def test_a_candidate_seen_beside_the_rest_of_the_query_wins(english):
    """'teclado' alone is closest to 'keyboard'; with 'gaming' beside it the bridge keeps
    a word that products actually pair with 'gaming' (here still 'keyboard': k2 is the
    mechanical gaming keyboard)."""
    served = english.served()
    assert served.lexical.count_with_all("gaming keyboard") == 1
    assert served.lexical.count_with_all("gaming zebra") == 0
    response = english.search("teclado gaming", k=1)
    assert _ids(response) == ["k2"]
