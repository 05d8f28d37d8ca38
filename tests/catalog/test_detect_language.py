"""Catalog language detection and the analyzers it picks."""

from dona.catalog.language import detect_language
from dona.index.lexical import tokenize


def test_detects_spanish_and_english_product_text():
    spanish = [
        "Auriculares inalámbricos con micrófono y cancelación de ruido",
        "Lámpara de escritorio para la oficina, color negro",
        "Funda para notebook de 15 pulgadas",
    ]
    english = [
        "Wireless headphones with microphone and noise cancelling",
        "Desk lamp for the office, black",
        "Sleeve for 15 inch laptops",
    ]
    assert detect_language(spanish) == "es"
    assert detect_language(english) == "en"
    assert detect_language(["HP 80 Ink", "X-200"]) == "en"  # no evidence: the default
    assert detect_language([]) == "en"


def test_spanish_analyzer_folds_stems_and_drops_stop_words():
    assert tokenize(["Lámparas de escritorio"], "es") == tokenize(["lampara escritorio"], "es")
    assert tokenize(["the headphones"], "en") == tokenize(["headphone"], "en")
