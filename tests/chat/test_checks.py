"""The checks on what a model wrote, each on its own."""

from __future__ import annotations

import pytest

from dona.chat.checks import (
    citations,
    denies,
    mentions,
    resolve_labels,
    unknown_brands,
    unknown_names,
    unsupported_features,
    unsupported_prices,
    wrong_language,
)
from dona.chat.understanding import compile_brand_pattern


def test_citations_and_labels():
    good, bad = citations("Try [sp-1] or [sp-9, sp-2]; [id=mo-1].", {"sp-1", "sp-2", "mo-1"})
    assert good == ["sp-1", "sp-2", "mo-1"] and bad == ["sp-9"]
    labels = {"1": "sp-1", "2": "sp-2"}
    assert resolve_labels("A [1], B [2] and both [1, 2]; [7] stays", labels) == (
        "A [sp-1], B [sp-2] and both [sp-1][sp-2]; [7] stays"
    )


def test_prices():
    assert unsupported_prices("It costs $49.00, or 89 dollars.", [49.0, 89.0]) == []
    assert unsupported_prices("Only €12.50!", [49.0]) == ["€12.50"]
    assert unsupported_prices("Cuesta 11,95 $ y US$ 40.95", [11.95, 40.95]) == []


@pytest.mark.parametrize(
    "text",
    [
        "No tengo información sobre auriculares Bluetooth.",
        "Lo siento, pero no puedo ayudarte con eso.",
        "I don't have any bluetooth headphones under $40.",
        "Unfortunately there are no products like that.",
        "I found no wireless mouse under $10.00.",
        "No: no vende cortacéspedes.",
        "No encontré nada parecido.",
    ],
)
def test_denials(text):
    assert denies(text)


@pytest.mark.parametrize(
    "text",
    [
        "Sí: el Philips SHB1100 ($11.95) [1] tiene bluetooth.",
        "The cheapest is the HP mouse ($8.94) [1].",
        "No tiene micrófono, pero sí bluetooth.",  # about a feature, not a denial
        "Este modelo no incluye cable.",
    ],
)
def test_not_denials(text):
    assert not denies(text)


def test_brands_named_must_be_in_the_facts():
    pattern = compile_brand_pattern(["Sony", "Philips", "Sandberg", "Equip", "Intel"])
    text = "Try Sandberg or Philips headphones, an equip bag, with Intel inside."
    assert unknown_brands(text, pattern, ["Philips"]) == ["sandberg", "intel"]
    assert unknown_brands(text, pattern, ["Philips"], facts="HP laptop Intel® Core") == ["sandberg"]
    assert unknown_brands(text, None, []) == []


def test_model_names_must_be_in_the_facts():
    facts = "[1] Philips SHB1100 Bluetooth stereo headset | $11.95"
    assert unknown_names("The SHB1100 and the SHB1400 [1], 64GB, 15.6in, 4K", facts) == ["SHB1400"]


def test_features_claimed_for_cited_products():
    statuses = {"a": {"bluetooth": True, "waterproof": None}, "b": {"bluetooth": False}}
    text = "The A [a] has bluetooth and is waterproof. The B [b] has Bluetooth too."
    claims = {(c.feature, c.product_id) for c in unsupported_features(text, statuses)}
    assert claims == {("waterproof", "a"), ("bluetooth", "b")}
    assert not unsupported_features("The B [b] does not have bluetooth.", statuses)


def test_language_ignores_product_names():
    titles = ["HP Officejet 7410xi All-in-One Printer"]
    text = "El HP Officejet 7410xi All-in-One Printer cuesta $179.95 [1594980]."
    assert not wrong_language(text, "es", titles)
    assert wrong_language("The printer costs $179.95 and it is the cheapest one.", "es")
    assert not wrong_language("Philips SHB1100 [1]", "es")  # too little to tell


def test_a_product_is_named_by_its_model_or_two_title_words():
    title = "NGS Roller Coaster 10 W Stereo portable speaker Blue"
    assert mentions("NGS makes the Roller Coaster speaker.", title, "NGS")
    assert mentions("El SHB1100 cuesta poco", "Philips SHB1100 Bluetooth headset", "Philips")
    assert not mentions("Sí, tengo auriculares bluetooth.", "Philips SHB1100 headset", "Philips")
