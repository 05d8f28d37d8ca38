"""Telling a product's kind and features from its own data (titles as Icecat writes them)."""

from __future__ import annotations

import pytest

from dona.catalog import Product
from dona.chat.vocabulary import (
    FEATURES,
    KINDS,
    Quantity,
    is_kind,
    product_data,
    product_has,
    quantity_has,
)

KIND = {k.name: k for k in KINDS}
FEATURE = {f.name: f for f in FEATURES}


def product(title: str, description: str = "", **attributes) -> Product:
    return Product(id="p", title=title, description=description, attributes=attributes)


@pytest.mark.parametrize(
    "title, kind, expected",
    [
        ("Philips SHB1100 Bluetooth stereo headset", "headphones", True),
        ("Sony EP-EX10A headphone pillow Black 4 pc(s)", "headphones", False),
        ("Philips Headphone extension cable SWA4531S/10", "headphones", False),
        ('HP ProBook 450 G7 Notebook Silver 39.6 cm (15.6")', "laptop", True),
        ('Targus 15.6" Crave Laptop Slipcase notebook case 39.6 cm (15.6")', "laptop", False),
        ("Kensington ContourTM 15.6'' Laptop Backpack- Black", "laptop", False),
        ("Leitz WOW Notebook A4 squared, wirebound with PP cover", "laptop", False),
        ("Kensington ContourTM 15.6'' Laptop Backpack- Black", "backpack", True),
        ("HP LaserJet 1018 Printer 600 x 600 DPI A4", "printer", True),
        ("HP RL1-0542-000CN printer/scanner spare part Roller", "printer", False),
        ("C2G DB9F to DB25M Serial Cable 6ft printer cable 1.83 m", "printer", False),
        ("PanzerGlass 7189 screen protector Mobile phone/Smartphone Samsung", "phone", False),
        ('Motorola Edge PAJA0014DE smartphone 17 cm (6.7") 6 GB 128 GB', "phone", True),
        ("3M 70071503240 mouse pad Gray", "mouse", False),
        ("3M 70071503240 mouse pad Gray", "mouse pad", True),
        ("Logitech M100 mouse USB Type-A Optical", "mouse", True),
        ("Tripp Lite Cable adapter Y Splitter for Speakers and Headphones", "speaker", False),
        ("Philips Speaker Dock SBD8100/10", "speaker", True),
    ],
)
def test_kind_from_the_title(title, kind, expected):
    assert is_kind(product_data(product(title)), KIND[kind]) is expected


def test_kind_from_other_data_when_the_title_does_not_say():
    phone = product(
        'Samsung Galaxy A51 SM-A515F 16.5 cm (6.5") 4 GB 128 GB Dual SIM 4G',
        attr_t_sim_card_type="NanoSIM",
    )
    assert is_kind(product_data(phone), KIND["phone"])
    typed = product("Philips SHP2000", attr_t_product_type="Headphones")
    assert is_kind(product_data(typed), KIND["headphones"])


def test_features_from_attributes_and_text():
    bluetooth = FEATURE["bluetooth"]
    assert product_has(product("Speaker", attr_b_bluetooth=True), bluetooth) is True
    assert product_has(product("Speaker", attr_b_bluetooth=False), bluetooth) is False
    assert product_has(product("Speaker", bluetooth="no"), bluetooth) is False
    assert product_has(product("Speaker", bluetooth="5.0"), bluetooth) is True
    assert product_has(product("Portable Bluetooth Speaker"), bluetooth) is True
    assert product_has(product("Speaker"), bluetooth) is None  # the catalog does not say
    water = FEATURE["waterproof"]
    assert product_has(product("S", attr_t_protection_features="Water resistant"), water)
    assert product_has(product("S", "IPX7 speaker for the pool"), water) is True
    noise = FEATURE["noise cancelling"]
    assert product_has(product("NGS MS103 headphones", attr_b_noise_canceling=True), noise)
    # logistics fields are not features ("storage temperature", "package ...")
    assert product_data(product("X", attr_n_package_weight=3.0)).numbers == {}


@pytest.mark.parametrize(
    "title, attributes, quantity, expected",
    [
        ("Kingston Canvas Go! Plus memory card 64 GB MicroSD", {}, Quantity(64, "GB"), True),
        ("V7 64GB USB 2.0 Flash Drive", {}, Quantity(64, "GB"), True),
        ("V7 164GB USB Flash Drive", {}, Quantity(64, "GB"), None),
        ("Card", {"attr_n_capacity": 64.0}, Quantity(64, "GB"), True),
        ("Verbatim internal solid state drive M.2 1000 GB", {}, Quantity(1, "TB"), True),
        ('HP 250 G7 Notebook 39.6 cm (15.6")', {}, Quantity(15, "inch"), True),
        ('HP 250 G7 Notebook 39.6 cm (15.6")', {}, Quantity(15.6, "inch"), True),
        ('HP 250 G7 Notebook 39.6 cm (15.6")', {}, Quantity(14, "inch"), None),
        (
            "Backpack",
            {"attr_n_maximum_screen_size_compatibility": 17.0},
            Quantity(15.6, "inch"),
            True,
        ),
        ("Tripp Lite Power Bank - 10,000 mAh", {}, Quantity(10000, "mAh"), True),
        ("Castorland Times Square - 1000 pcs Jigsaw puzzle", {}, Quantity(1000, "pieces"), True),
    ],
)
def test_quantities(title, attributes, quantity, expected):
    assert quantity_has(product(title, **attributes), quantity) is expected


def test_hostile_sizes_are_bounded():
    huge = product("x" * 100_000, "y " * 100_000, **{f"k{i}": "v" * 1000 for i in range(5000)})
    data = product_data(huge)
    assert len(data.text) <= 2000 and len(data.title) < 500
