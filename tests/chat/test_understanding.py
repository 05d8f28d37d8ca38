"""Understanding a turn by rules: language, limits, kinds, features, order, references."""

from __future__ import annotations

import pytest

from dona.chat.understanding import detect_language, parse_amount, understand

BRANDS = ["Acme", "Bolt", "Sony", "Logitech", "HP", "Philips", "Samsung", "Verbatim"]


def kind_of(question: str) -> str | None:
    u = understand(question, BRANDS)
    return u.kind.name if u.kind else None


def features_of(question: str) -> list[str]:
    return [f.name for f in understand(question, BRANDS).features]


@pytest.mark.parametrize(
    "question, language",
    [
        ("a quiet bluetooth speaker under 50 dollars?", "en"),
        ("¿Tienes altavoces bluetooth?", "es"),
        ("busco un ratón inalámbrico barato", "es"),
        ("auriculares con cancelación de ruido", "es"),
        ("che, ¿tenés auris bluetooth?", "es"),
        ("parlantes para la compu", "es"),
        ("cafeteras Philips", "es"),  # a plural shop word is enough
        ("HDMI cable", "en"),
        ("printer cable", "en"),
    ],
)
def test_language(question, language):
    assert detect_language(question) == language


def test_a_turn_without_evidence_keeps_the_conversation_language():
    first = understand("¿tenés mouses?", BRANDS)
    assert understand("Logitech", BRANDS, first, shown=3).language == "es"
    assert understand("Logitech", BRANDS).language == "en"


@pytest.mark.parametrize(
    "question, low, high",
    [
        ("speaker under $50", None, 50.0),
        ("speaker for less than 49.90 euros", None, 49.9),
        ("altavoz por menos de 50 €", None, 50.0),
        ("laptop between 300 and 1,299.99", 300.0, 1299.99),
        ("portátil entre 300 y 500 euros", 300.0, 500.0),
        ("printer over 200", 200.0, None),
        ("monitor hasta 1.299,50 €", None, 1299.5),
        ("speaker with 2 drivers", None, None),
        ("power bank de más de 10000 mAh", None, None),  # a capacity, not a price
        ("notebook de 15,6 pulgadas por menos de 300 dólares", None, 300.0),
    ],
)
def test_price_limits(question, low, high):
    u = understand(question, BRANDS)
    assert (u.min_price, u.max_price) == (low, high)
    assert "$" not in u.search_text and "under" not in u.search_text


@pytest.mark.parametrize(
    "question, kind",
    [
        ("¿Tenés auriculares bluetooth por menos de 40 dólares?", "headphones"),
        ("bluetooth headset", "headphones"),
        ("un parlante portátil", "speaker"),
        ("un portátil barato", "laptop"),
        ("notebook de 15,6 pulgadas", "laptop"),
        ("celular Samsung", "phone"),
        ("tóner Brother negro", "toner"),
        ("cartuchos de tinta HP", "ink cartridge"),
        ("una tarjeta microSD de 64 GB", "memory card"),
        ("Duracell AA batteries", "battery"),
        ("a laptop backpack that fits a 15.6 inch laptop", "backpack"),  # the last noun
        ("funda para notebook", "laptop bag"),
        ("printer cable", "cable"),
        ("mouse pad", "mouse pad"),
        ("¿tenés licuadoras?", "blender"),
        ("funda para celular", None),  # a case, not a phone
        ("phone case", None),
        ("do you have any drones with a camera?", None),  # the camera is not what is asked
        ("Do you sell lawn mowers?", None),
    ],
)
def test_kinds(question, kind):
    assert kind_of(question) == kind


def test_the_noun_asked_for_is_kept_when_it_is_unknown():
    assert understand("do you have any drones with a camera?", BRANDS).head == "drones"
    assert understand("Do you sell lawn mowers?", BRANDS).head == "mowers"
    assert understand("I'm looking for a perfume for my wife", BRANDS).head == "perfume"
    assert understand("a quiet bluetooth speaker", BRANDS).head == ""  # a known kind
    assert understand("¿venden cortacéspedes?", BRANDS).head == ""  # English only


@pytest.mark.parametrize(
    "question, features",
    [
        ("parlantes resistentes al agua", ["waterproof"]),
        ("waterproof bluetooth speaker", ["bluetooth", "waterproof"]),
        ("auriculares con cancelación de ruido", ["noise cancelling"]),
        ("noise-cancelling headphones", ["noise cancelling"]),
        ("mouse inalámbrico", ["wireless"]),
        ("microSD de 64 GB", ["64 GB", "microSD"]),
        ("notebook de 15,6 pulgadas", ['15.6"']),
        ('15.6" laptop', ['15.6"']),
        ("disco SSD de 1 TB", ["1 TB"]),
        ("power bank 20.000 mAh", ["20000 mAh"]),
        ("rompecabezas de 1000 piezas", ["1000 pieces"]),
        ("teclado negro", ["black"]),
        ("el segundo tiene micrófono?", ["microphone"]),
        ("a portable speaker", ["portable"]),
    ],
)
def test_features(question, features):
    assert sorted(features_of(question)) == sorted(features)


def test_request_in_words():
    u = understand("¿Tenés auriculares bluetooth por menos de 40 dólares?", BRANDS)
    assert u.constraint("USD") == "auriculares con bluetooth por menos de $40.00"
    u = understand("waterproof speaker from Sony under 90", BRANDS)
    assert u.constraint("USD") == "speakers that are water-resistant from Sony under $90.00"
    assert understand("cortacéspedes", BRANDS).constraint("USD") == '"cortacéspedes"'


@pytest.mark.parametrize(
    "question, order",
    [
        ("¿cuál es el mouse inalámbrico más barato?", "cheapest"),
        ("the cheapest label printer", "cheapest"),
        ("el celular Samsung más barato", "cheapest"),
        ("what's your most expensive smartwatch?", "priciest"),
        ("¿cuál es la notebook más cara que tienen?", "priciest"),
        ("¿hay algo más barato?", None),  # cheaper than shown, not the cheapest
    ],
)
def test_cheapest_and_priciest(question, order):
    u = understand(question, BRANDS)
    assert u.order == order
    assert "barat" not in u.search_text and "cheapest" not in u.search_text


def test_follow_ups_and_references():
    first = understand("bluetooth speaker under 100", BRANDS)
    cheaper = understand("cheaper ones?", BRANDS, first, shown=3)
    assert cheaper.follow_up and cheaper.cheaper and cheaper.kind.name == "speaker"
    assert [f.name for f in cheaper.features] == ["bluetooth"]
    by_brand = understand("¿y de Sony?", BRANDS, first, shown=3)
    assert by_brand.follow_up and by_brand.brands == ("Sony",) and by_brand.max_price == 100
    narrower = understand("¿y con cancelación de ruido?", BRANDS, first, shown=3)
    assert narrower.follow_up and {f.name for f in narrower.features} == {
        "bluetooth",
        "noise cancelling",
    }
    assert understand("does the second one have bluetooth?", BRANDS, first, 3).references == [1]
    assert understand("¿el último es resistente al agua?", BRANDS, first, 3).references == [2]
    it = understand("is it waterproof?", BRANDS, first, 3)
    assert it.references == [0] and it.refers_to_last
    assert understand("¿alguno tiene bluetooth?", BRANDS, first, 3).references == [0, 1, 2]
    assert understand("the fifth one", BRANDS, first, 3).references == []  # only 3 shown
    assert not understand("usb cable", BRANDS, first, 3).follow_up  # a new topic
    cheapest = understand("¿y el más barato?", BRANDS, first, 3)
    assert cheapest.follow_up and cheapest.order == "cheapest"


@pytest.mark.parametrize(
    "question",
    [
        "¿cuál es más barato, el primero o el segundo?",
        "¿qué diferencia de precio hay entre el primero y el segundo?",
        "compare the first two",
        "which one is cheaper, the first or the second?",
    ],
)
def test_comparisons(question):
    first = understand("Logitech mouse", BRANDS)
    u = understand(question, BRANDS, first, shown=3)
    assert u.compare and u.references == [0, 1] and u.order is None


@pytest.mark.parametrize(
    "question, names",
    [
        ("¿tenés parlantes JBL?", ("JBL",)),
        ("Do you have Bose headphones?", ("Bose",)),
        ("algo de Xiaomi", ("Xiaomi",)),
        ("a Bluetooth speaker for my Mac", ()),  # not where a brand stands
        ("auriculares Sony", ()),  # a brand the catalog has
    ],
)
def test_words_that_may_be_unknown_brands(question, names):
    assert understand(question, BRANDS).names == names


def test_what_the_shopper_wants_to_know():
    assert understand("How much does the Sony MBS-100 speaker cost?", BRANDS).asks == "price"
    assert understand("¿de qué marca es el parlante Roller Coaster?", BRANDS).asks == "brand"
    assert understand("Sony MBS-100", BRANDS).model_codes == ("mbs-100",)
    assert understand("64 GB microSD", BRANDS).model_codes == ()  # units are not models


def test_amounts():
    assert parse_amount("1,299.99") == 1299.99
    assert parse_amount("1.299,99") == 1299.99
    assert parse_amount("49,90") == 49.9
    assert parse_amount("1,000") == 1000


def test_brands_and_spanish_terms():
    u = understand("¿Tienes altavoces bluetooth de Acme por menos de 30 €?", BRANDS)
    assert u.language == "es" and u.brands == ("Acme",) and u.max_price == 30
    assert "speaker" in u.search_text and "bluetooth" in u.search_text
    assert understand("HPX charger", BRANDS).brands == ()  # whole words only
