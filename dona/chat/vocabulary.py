"""What shoppers ask for, in English and Spanish, and how to tell it from a product's own
data: product kinds ("auriculares" = headphones = headset), features ("resistente al
agua", "noise cancelling", "bluetooth"), quantities ("64 GB", "15,6 pulgadas") and colours.

Rules, not a model: each entry is a pair of patterns, the words a shopper uses (Spanish,
neutral and rioplatense, and English) and the words or attributes a catalog uses. A
product *has* a feature when a boolean attribute says so (`bluetooth: true`), or its
title, description or a text attribute names it; it *lacks* it when a boolean attribute
says false; otherwise the catalog does not say. All matching runs on bounded text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from dona.catalog import Product
from dona.catalog.text import fold_accents

MAX_PRODUCT_TEXT = 2000  # characters of title + description + attributes matched per product
MAX_ATTRIBUTES = 200


def fold(text: str) -> str:
    """Lower case, accents removed: 'Cancelación' -> 'cancelacion'."""
    return fold_accents(text.casefold())


def _words(*alternatives: str) -> re.Pattern[str]:
    """A pattern for whole words or phrases (already folded, regex syntax allowed)."""
    return re.compile(r"(?<![\w-])(?:" + "|".join(alternatives) + r")(?![\w-])")


# ---- product kinds --------------------------------------------------------------------


@dataclass(frozen=True)
class Kind:
    """A kind of product a shopper names."""

    name: str  # in English answers: "headphones"
    es: str  # in Spanish answers: "auriculares"
    asked: re.Pattern[str]  # the shopper's words (folded question)
    catalog: re.Pattern[str]  # the catalog's words (folded title / product type)
    search: str  # English search phrases, comma-separated ("headphones, headset")
    plural: str = ""  # "headphones", "mice"
    es_plural: str = ""  # "auriculares", "parlantes"
    own: frozenset[str] = frozenset()  # words after a catalog word that keep the kind
    unless: re.Pattern[str] | None = None  # titles that are something else
    signal: re.Pattern[str] | None = None  # or: the product's text says it (no title word)


# Words that, right after a kind's word, make the product an accessory of that kind
# ("notebook case", "headphone pillow", "printer cable", "mouse pad").
ACCESSORY = frozenset(
    [
        "case",
        "cases",
        "bag",
        "bags",
        "sleeve",
        "sleeves",
        "cover",
        "covers",
        "skin",
        "pillow",
        "pillows",
        "pad",
        "pads",
        "mat",
        "mats",
        "cable",
        "cables",
        "cord",
        "cords",
        "adapter",
        "adapters",
        "charger",
        "chargers",
        "battery",
        "batteries",
        "stand",
        "stands",
        "holder",
        "holders",
        "mount",
        "mounts",
        "mounting",
        "bracket",
        "arm",
        "lock",
        "locks",
        "protector",
        "protectors",
        "filter",
        "filters",
        "cartridge",
        "cartridges",
        "toner",
        "ink",
        "kit",
        "kits",
        "lamp",
        "lamps",
        "strap",
        "straps",
        "cleaner",
        "cleaning",
        "remote",
        "tray",
        "trays",
        "paper",
        "label",
        "labels",
        "ribbon",
        "ribbons",
        "drum",
        "fuser",
        "part",
        "parts",
        "accessory",
        "accessories",
        "spare",
        "replacement",
        "cooler",
        "coolers",
        "fan",
        "fans",
        "station",
        "stations",
        "replicator",
        "hub",
        "hubs",
        "extender",
        "cap",
        "caps",
        "lens",
        "lenses",
        "housing",
        "enclosure",
        "enclosures",
        "caddy",
        "backpack",
        "backpacks",
        "briefcase",
        "shell",
        "tip",
        "tips",
        "cushion",
        "cushions",
        "receiver",
        "dongle",
        "splitter",
        "switch",
        "tape",
        "tapes",
        "head",
        "heads",
        "unit",
        "belt",
        "roller",
        "feeder",
        "memory",
        "keyboard",
        "keyboards",
        "mouse",
        "mice",
        "speaker",
        "speakers",
        "headset",
        "headphones",
        "software",
        "webcam",
        "webcams",
        "desk",
        "faceplate",
        "jack",
        "extension",
        "wire",
        "converter",
        "connector",
        "sticker",
        "stickers",
        "dock",
        "motherboard",
        "board",
        "chassis",
        "supply",
        "psu",
        "cabinet",
        "spindle",
        "media",
        "license",
        "licence",
        "warranty",
        "service",
    ]
)
# Spanish accessory nouns named before the kind they fit ("funda para celular")
ES_ACCESSORY = frozenset(
    [
        "funda",
        "fundas",
        "estuche",
        "estuches",
        "protector",
        "protectores",
        "soporte",
        "soportes",
        "repuesto",
        "repuestos",
        "correa",
        "correas",
        "lamina",
        "laminas",
        "vidrio",
        "vidrios",
        "carcasa",
        "carcasas",
        "cubierta",
        "cubiertas",
        "adaptador",
        "adaptadores",
        "malla",
        "mallas",
    ]
)
# ...and, within the few words before it, make the kind only what it fits
# ("screen protector Mobile phone/Smartphone", "Audio Adapter ... Headphone Jack").
ACCESSORY_BEFORE = frozenset(
    [
        "case",
        "cover",
        "protector",
        "protectors",
        "cable",
        "adapter",
        "charger",
        "mount",
        "stand",
        "holder",
        "lock",
        "sleeve",
        "bag",
        "filter",
        "cartridge",
        "toner",
        "ink",
        "kit",
        "lamp",
        "strap",
        "remote",
        "tray",
        "paper",
        "label",
        "ribbon",
        "battery",
        "extension",
        "splitter",
        "converter",
        "enclosure",
        "pillow",
        "dock",
        "station",
    ]
)
_FOR = re.compile(r"(?:\bfor|\bpara|\bcompatible with|\bfits?|\bcompatible con)\s+(?:\S+\s+){0,2}$")


# The words Spanish catalogs use for the same kinds (titles are matched accent-free).
_ES_CATALOG = {
    "headphones": [r"auriculares?", r"audifonos?", r"cascos?"],
    "speaker": [r"parlantes?", r"altavoz", r"altavoces", r"barras? de sonido"],
    "mouse": [r"raton(?:es)?"], "keyboard": [r"teclados?"], "laptop": [r"portatil(?:es)?"],
    "phone": [r"celular(?:es)?", r"telefonos? movil(?:es)?", r"moviles?"],
    "tablet": [r"tabletas?"], "printer": [r"impresoras?", r"multifuncional(?:es)?"],
    "toner": [r"toner(?:es)?"], "ink cartridge": [r"cartuchos? de tinta", r"tintas?"],
    "monitor": [r"monitor(?:es)?"], "tv": [r"televisor(?:es)?", r"televisores?"],
    "camera": [r"camaras?(?: de fotos| digitales?| compactas?| reflex)?"],
    "webcam": [r"camaras? web"], "projector": [r"proyector(?:es)?"],
    "memory card": [r"tarjetas? de memoria"], "usb flash drive": [r"pendrives?", r"memorias? usb"],
    "hard drive": [r"discos? duros?"], "power bank": [r"baterias? externas?"],
    "charger": [r"cargador(?:es)?"], "battery": [r"pilas?", r"baterias?"],
    "backpack": [r"mochilas?"], "laptop bag": [r"fundas? para (?:notebook|portatil)", r"maletin(?:es)?"],
    "microphone": [r"microfonos?"], "calculator": [r"calculadoras?"],
    "coffee maker": [r"cafeteras?"], "shaver": [r"afeitadoras?"],
    "vacuum cleaner": [r"aspiradoras?"], "puzzle": [r"rompecabezas"], "doll": [r"munecas?"],
    "scanner": [r"escaner(?:es)?"], "smartwatch": [r"relojes? inteligentes?"],
    "blender": [r"licuadoras?", r"batidoras?"], "kettle": [r"pavas? electricas?", r"hervidor(?:es)?"],
    "toaster": [r"tostadoras?"], "microwave": [r"microondas"],
    "washing machine": [r"lavarropas", r"lavadoras?"], "router": [r"routers?"],
}  # fmt: skip


def _kind(
    name: str, es: str, asked: list[str], catalog: list[str], search: str,
    own: str = "", unless: str | None = None, signal: str | None = None,
    plural: str | None = None, es_plural: str | None = None,
) -> Kind:  # fmt: skip
    return Kind(
        name=name,
        es=es,
        plural=plural or _PLURALS.get(name, (None, None))[0] or _plural_en(name),
        es_plural=es_plural or _PLURALS.get(name, (None, None))[1] or _plural_es(es),
        asked=_words(*asked),
        catalog=_words(*catalog, *_ES_CATALOG.get(name, [])),
        search=search,
        own=frozenset(own.split()),
        unless=re.compile(unless) if unless else None,
        signal=re.compile(signal) if signal else None,
    )


_PLURALS = {
    "laptop": (None, "notebooks"), "tablet": (None, "tablets"),
    "smartwatch": (None, "relojes inteligentes"), "router": (None, "routers"),
    "hard drive": (None, "discos duros"), "power bank": (None, "baterías externas"),
    "battery": ("batteries", None), "ups": ("UPS", None), "toner": (None, "tóneres"),
    "graphics card": (None, "tarjetas gráficas"), "docking station": (None, "docks"),
    "ssd": ("SSDs", None), "tv": ("TVs", None), "mouse": (None, "mouses"),
    "kettle": (None, "pavas eléctricas"), "microwave": (None, "microondas"),
    "washing machine": (None, "lavarropas"),
}  # fmt: skip


def _plural_en(name: str) -> str:
    head, _, last = name.rpartition(" ")
    if last.endswith(("s", "x")) and last not in ("mouse",):
        return name
    plural = "mice" if last == "mouse" else last + ("es" if last.endswith(("sh", "ch")) else "s")
    return f"{head} {plural}".strip()


def _plural_es(name: str) -> str:
    first, _, rest = name.partition(" ")
    if first.endswith("s") or first in ("UPS", "mouse", "dock", "tóner"):
        return name
    plural = first + ("s" if first[-1] in "aeiouáéó" else "es")
    return f"{plural} {rest}".strip()


# Accessories named anywhere in a title: a "15.6" laptop sleeve" is not a laptop.
_GEAR = (
    r"\b(?:cases?|sleeves?|slipcase|backpacks?|bags?|covers?|skins?|locks?|stands?|docks?|"
    r"chargers?|adapters?|batter(?:y|ies)|coolers?|protectors?|holders?|mounts?|cables?|"
    r"briefcase|messenger|trolley|folio|faceplate|stylus|keyboard cover|screen guard|risers?|"
    r"trays?|desks?|arms?|tables?|carts?|shelf|shelves)\b"
)
_COMPUTER = r"\b(?:notebook|laptop|chromebook|netbook|pc|workstation|desktop|all-in-one)\b"

KINDS: tuple[Kind, ...] = (
    _kind("headphones", "auriculares",
          [r"head ?phones?", r"head ?sets?", r"earphones?", r"ear ?buds?", r"earpieces?",
           r"auricular(?:es)?", r"audifonos?", r"cascos?", r"auris?", r"in-ear"],
          [r"head ?phones?", r"head ?sets?", r"earphones?", r"ear ?buds?", r"buds\+?",
           r"in-ear", r"earhook"],
          "headphones, headset, earphones", own="headphones headset"),
    _kind("speaker", "parlante",
          [r"speakers?", r"soundbars?", r"sound ?bars?", r"altavoz", r"altavoces",
           r"parlantes?", r"bocinas?", r"barras? de sonido"],
          [r"speakers?", r"soundbars?", r"sound ?bars?", r"speaker ?system"],
          "speaker", own="dock station system bar set speakers"),
    _kind("mouse pad", "alfombrilla de mouse",
          [r"mouse ?pads?", r"mouse ?mats?", r"alfombrillas?", r"pads? de mouse",
           r"mousepads?"],
          [r"mouse ?pads?", r"mouse ?mats?", r"mousepads?"], "mouse pad", own="pad mat"),
    _kind("mouse", "mouse",
          [r"mouse", r"mice", r"raton", r"ratones", r"mouses"], [r"mouse", r"mice"], "mouse"),
    _kind("keyboard", "teclado",
          [r"keyboards?", r"teclados?"], [r"keyboards?"], "keyboard",
          own="mouse mice", unless=r"\bkeyboard (?:cover|case|protector|skin)"),
    _kind("laptop", "notebook",
          [r"laptops?", r"notebooks?", r"chromebooks?", r"ultrabooks?", r"netbooks?",
           r"portatiles", r"computadoras? portatil(?:es)?", r"ordenador(?:es)? portatil(?:es)?",
           r"compus?"],
          [r"notebooks?", r"laptops?", r"chromebooks?", r"netbooks?", r"hybrid \(2-in-1\)",
           r"mobile workstation"],
          "laptop, notebook", own="pc",
          unless=r"\b(?:a4|a5|a6|squared|ruled|lined|wirebound|spiral|sheets)\b|" + _GEAR),
    _kind("desktop computer", "computadora de escritorio",
          [r"desktops?(?: computers?| pcs?)?", r"pcs?", r"computers?", r"tower pcs?",
           r"computadoras?(?: de escritorio)?", r"ordenador(?:es)?(?: de sobremesa)?",
           r"pc de escritorio"],
          [r"desktop pc", r"tower pc", r"all-in-one pc", r"mini pc", r"workstation", r"nettop",
           r"(?:tower|sff|desktop|usff|mini tower|micro tower|small form factor|all-in-one)"
           r"(?: [\w,-]+){0,3} (?:pc|workstation)$"],
          "desktop pc, computer",
          unless=r"\b(?:notebook|laptop|chromebook|netbook|mobile workstation)\b"),
    _kind("phone", "celular",
          [r"smart ?phones?", r"phones?", r"mobile phones?", r"cell ?phones?", r"mobiles?",
           r"celular(?:es)?", r"movil(?:es)?", r"telefonos?(?: movil(?:es)?| celular(?:es)?)?"],
          [r"smartphones?", r"mobile phone", r"smartphone"], "smartphone, mobile phone",
          unless=r"\b(?:smartwatch|tab|tablet|router|modem|watch)\b|" + _GEAR,
          signal=r"\bsim card type\b|\b(?:dual|single) sim\b"),
    _kind("tablet", "tablet",
          [r"tablets?", r"tabletas?", r"ipads?"],
          [r"tablets?", r"ipad", r"galaxy tab", r"tab [a-z]?\d+\w*"], "tablet",
          own="pc", unless=_GEAR + r"|\benclosure\b"),
    _kind("smartwatch", "reloj inteligente",
          [r"smart ?watch(?:es)?", r"reloj(?:es)? inteligentes?", r"smartwatch(?:es)?",
           r"reloj(?:es)?", r"watch(?:es)?"],
          [r"smart ?watch(?:es)?"], "smartwatch"),
    _kind("printer", "impresora",
          [r"printers?", r"mfps?", r"all-in-one printers?", r"impresoras?",
           r"multifuncional(?:es)?", r"multifuncion"],
          [r"printers?", r"mfp", r"multifunction(?: printer)?", r"all-in-one printer",
           r"laser printer", r"inkjet printer", r"photo printer"],
          "printer", own="colour color laser inkjet",
          unless=r"\b(?:cable|paper|cartridge|toner|ribbon|drum|fuser|label|transparenc|film|server|"
          r"spare|parts?|roller|gear|sheets|mylar|tray|feeder|stand|cabinet)\b|" + _GEAR),
    _kind("toner", "tóner",
          [r"toners?", r"toner cartridges?"], [r"toners?"], "toner cartridge",
          own="cartridge cartridges kit pack", unless=r"\bwaste toner\b"),
    _kind("ink cartridge", "cartucho de tinta",
          [r"ink(?: cartridges?)?", r"cartridges?", r"tintas?", r"cartuchos?(?: de tinta)?"],
          [r"ink cartridges?", r"ink", r"inkjet cartridge"], "ink cartridge",
          own="cartridge cartridges tank bottle refill", unless=r"\btoner\b"),
    _kind("monitor", "monitor",
          [r"monitors?", r"screens?", r"displays?", r"monitor(?:es)?", r"pantallas?"],
          [r"computer monitor", r"monitors?", r"lcd monitor", r"led monitor"], "monitor",
          unless=r"\b(?:mount|arm|stand|privacy|protector|filter|bracket|cable|lamp)\b"),
    _kind("tv", "televisor",
          [r"tvs?", r"televisions?", r"televisor(?:es)?", r"television", r"teles?",
           r"smart ?tvs?"],
          [r"tv", r"television", r"smart tv", r"flat tv", r"lcd tv", r"led tv"], "tv",
          unless=r"\b(?:remote|mount|bracket|antenna|tuner|card|cable|stand|box)\b"),
    _kind("camera", "cámara",
          [r"cameras?", r"camaras?(?: de fotos| digitales?| de fotografia)?",
           r"digital cameras?"],
          [r"cameras?", r"camcorders?", r"compact camera", r"slr camera", r"bridge camera"],
          "camera",
          unless=r"\b(?:bag|case|battery|charger|strap|flash|light|tripod|lens|adapter|filter|"
          r"cable|remote|housing|mount)\b|" + _GEAR),
    _kind("webcam", "cámara web",
          [r"webcams?", r"web ?cams?", r"camaras? web"], [r"webcams?", r"web ?cams?"],
          "webcam"),
    _kind("projector", "proyector",
          [r"projectors?", r"beamers?", r"proyector(?:es)?"], [r"projectors?"], "projector",
          unless=r"\b(?:lamp|mount|screen|ceiling|bracket|filter|remote|bag|case)\b"),
    _kind("router", "router",
          [r"routers?", r"wi-?fi routers?", r"enrutador(?:es)?", r"modems?"],
          [r"routers?"], "router"),
    _kind("memory card", "tarjeta de memoria",
          [r"memory cards?", r"sd cards?", r"micro ?sd(?: cards?)?", r"sdxc", r"sdhc",
           r"tarjetas?(?: de memoria| sd| micro ?sd)", r"micro ?sds?", r"memorias? micro ?sd"],
          [r"memory cards?", r"micro ?sd(?:hc|xc)?", r"sd(?:hc|xc)? cards?", r"sdhc", r"sdxc",
           r"memory stick"],
          "memory card, microSD", own="card class flash", unless=r"\breader\b"),
    _kind("usb flash drive", "pendrive",
          [r"usb (?:flash )?drives?", r"flash drives?", r"usb sticks?", r"thumb ?drives?",
           r"pen ?drives?", r"memorias? usb", r"lapiz usb", r"pendrives?"],
          [r"usb flash drives?", r"flash drives?", r"usb-?sticks?", r"pen ?drives?"],
          "usb flash drive"),
    _kind("hard drive", "disco duro",
          [r"hard (?:disk )?drives?", r"hdds?", r"external drives?", r"hard disks?",
           r"discos? duros?(?: externos?)?", r"discos? externos?"],
          [r"hard (?:disk )?drives?", r"hdd", r"hard disk", r"external hard drive"],
          "hard drive, hdd", own="drive", unless=_COMPUTER + r"|\b(?:enclosure|caddy|cable)\b"),
    _kind("ssd", "disco SSD",
          [r"ssds?", r"solid state drives?", r"discos? (?:de estado )?solidos?",
           r"unidad(?:es)? ssd"],
          [r"ssd", r"solid state drive"], "ssd, solid state drive", own="drive",
          unless=_COMPUTER),
    _kind("power bank", "batería externa",
          [r"power ?banks?", r"portable chargers?", r"baterias? externas?",
           r"baterias? portatil(?:es)?", r"cargador(?:es)? portatil(?:es)?"],
          [r"power ?banks?", r"powercore", r"portable charger"], "power bank, portable charger",
          own="charger"),
    _kind("charger", "cargador",
          [r"chargers?", r"power adapters?", r"cargador(?:es)?", r"cargadores?"],
          [r"chargers?", r"power adapters?", r"ac adapters?", r"charging station"],
          "charger, power adapter", own="adapter station"),
    _kind("cable", "cable",
          [r"cables?", r"cords?", r"cables?"], [r"cables?", r"cords?"], "cable"),
    _kind("battery", "pila",
          [r"batteries", r"battery", r"pilas?", r"baterias?"],
          [r"batteries", r"battery", r"single-use battery", r"rechargeable battery"],
          "battery", own="pack",
          unless=r"\b(?:charger|ups|uninterruptible)\b"),
    _kind("ups", "UPS",
          [r"ups", r"uninterruptible power supply", r"sai", r"no ?break"],
          [r"ups", r"uninterruptible power supply"], "ups, uninterruptible power supply",
          own="battery"),
    _kind("backpack", "mochila",
          [r"backpacks?", r"rucksacks?", r"mochilas?"], [r"backpacks?", r"rucksacks?"],
          "backpack", own="case"),
    _kind("laptop bag", "funda para notebook",
          [r"(?:laptop|notebook) (?:bags?|cases?|sleeves?)", r"fundas?(?: para| de)? "
           r"(?:notebook|portatil|laptop)", r"maletin(?:es)?", r"bolsos? (?:para|de) "
           r"(?:notebook|portatil|laptop)"],
          [r"notebook case", r"laptop case", r"notebook bag", r"laptop bag", r"sleeve case",
           r"messenger case", r"briefcase"], "notebook case, laptop bag",
          own="case bag sleeve"),
    _kind("microphone", "micrófono",
          [r"microphones?", r"mics?", r"microfonos?"], [r"microphones?"], "microphone"),
    _kind("label printer", "etiquetadora",
          [r"label (?:printers?|makers?)", r"etiquetadoras?", r"impresoras? de etiquetas"],
          [r"label printers?", r"label makers?", r"labelmanager", r"labelwriter"],
          "label printer", own="printer maker", unless=r"\btape\b"),
    _kind("calculator", "calculadora",
          [r"calculators?", r"calculadoras?"], [r"calculators?"], "calculator"),
    _kind("coffee maker", "cafetera",
          [r"coffee (?:makers?|machines?)", r"espresso (?:machines?|makers?)", r"cafeteras?",
           r"maquinas? de cafe"],
          [r"coffee makers?", r"coffee machines?", r"espresso machines?", r"nespresso",
           r"pod coffee machine"],
          "coffee maker", own="machine", unless=r"\b(?:podholder|filter|part)\b"),
    _kind("shaver", "afeitadora",
          [r"shavers?", r"razors?", r"trimmers?", r"afeitadoras?", r"maquinas? de afeitar",
           r"recortadoras?", r"cortapelos", r"barberos?"],
          [r"shavers?", r"trimmers?", r"razors?", r"groomers?", r"shaving system"],
          "shaver, trimmer", unless=r"\b(?:head|heads|cartridge|blade|foil)\b"),
    _kind("toothbrush", "cepillo de dientes",
          [r"tooth ?brush(?:es)?", r"cepillos?(?: de dientes| dental(?:es)?| electricos?)"],
          [r"tooth ?brush(?:es)?"], "electric toothbrush", unless=r"\bheads?\b"),
    _kind("hair dryer", "secador de pelo",
          [r"hair ?dryers?", r"secador(?:es|a)?(?: de pelo)?"], [r"hair ?dryers?"],
          "hair dryer"),
    _kind("vacuum cleaner", "aspiradora",
          [r"vacuums?(?: cleaners?)?", r"hoovers?", r"aspiradoras?"], [r"vacuum"],
          "vacuum cleaner", own="cleaner cleaners",
          unless=r"\b(?:bags?|filters?|beard|trimmer|nozzle|brush)\b"),
    _kind("blender", "licuadora",
          [r"blenders?", r"licuadoras?", r"batidoras?", r"minipimers?", r"mixers?"],
          [r"blenders?"], "blender"),
    _kind("toaster", "tostadora",
          [r"toasters?", r"tostadoras?", r"tostador(?:es)?"], [r"toasters?"], "toaster"),
    _kind("kettle", "pava eléctrica",
          [r"(?:electric )?kettles?", r"pavas?(?: electricas?)?", r"hervidor(?:es)?(?: de agua)?",
           r"teteras?(?: electricas?)?"],
          [r"kettles?"], "electric kettle", unless=r"\b(?:lead|cord|cable)\b"),
    _kind("microwave", "microondas",
          [r"microwaves?(?: ovens?)?", r"microondas"], [r"microwaves?"], "microwave"),
    _kind("washing machine", "lavarropas",
          [r"washing machines?", r"washers?", r"lavarropas", r"lavadoras?"],
          [r"washing machines?"], "washing machine"),
    _kind("puzzle", "rompecabezas",
          [r"(?:jigsaw )?puzzles?", r"rompecabezas", r"puzles?"], [r"puzzles?"],
          "jigsaw puzzle"),
    _kind("doll", "muñeca",
          [r"dolls?", r"munecas?", r"munecos?"], [r"dolls?"], "doll",
          unless=r"\b(?:clothes|dress|shoes|outfit|seat|bag|stroller|pram|bed|house)\b"),
    _kind("scanner", "escáner",
          [r"scanners?", r"escaner(?:es)?", r"escaneres"], [r"scanners?"], "scanner"),
    _kind("graphics card", "tarjeta gráfica",
          [r"graphics cards?", r"video cards?", r"gpus?", r"tarjetas? (?:graficas?|de video)"],
          [r"graphics cards?", r"geforce", r"radeon", r"quadro"], "graphics card"),
    _kind("processor", "procesador",
          [r"processors?", r"cpus?", r"procesador(?:es)?"], [r"processors?"], "processor",
          unless=r"\b(?:cooler|fan|heatsink|radiator)\b"),
    _kind("docking station", "dock",
          [r"docking stations?", r"docks?", r"port replicators?", r"bases? de acoplamiento",
           r"estaci(?:on|ones) de acoplamiento"],
          [r"docking stations?", r"port replicators?", r"docks?"], "docking station",
          own="station"),
    _kind("gps navigator", "navegador GPS",
          [r"gps(?: navigators?)?", r"sat ?navs?", r"navigators?", r"navegador(?:es)?(?: gps)?"],
          [r"navigators?", r"gps navigator"], "gps navigator"),
    _kind("binoculars", "binoculares",
          [r"binoculars?", r"binoculares", r"prismaticos"], [r"binoculars?"], "binocular"),
    _kind("mp3 player", "reproductor MP3",
          [r"mp3 players?", r"mp4 players?", r"music players?",
           r"reproductor(?:es)? (?:de )?(?:mp3|mp4|musica)"],
          [r"mp3 players?", r"mp4 players?", r"audio players?", r"flash audio"], "mp3 player"),
)  # fmt: skip


# ---- features, colours, quantities ----------------------------------------------------


@dataclass(frozen=True)
class Feature:
    """Something a product has or lacks: bluetooth, waterproof, noise cancelling..."""

    name: str  # English, as the facts say it
    es: str  # Spanish
    asked: re.Pattern[str]  # shopper words (folded question)
    catalog: re.Pattern[str]  # words in the folded title, description, text attributes
    keys: re.Pattern[str] | None = None  # boolean attribute keys that state it
    search: str = ""  # English search terms
    soft: bool = False  # a preference ("portable"): ranks, but never decides what fits
    absent: re.Pattern[str] | None = None  # text that says the product lacks it ("wired")
    implies: str = ""  # the kind it names when no other is named ("microSD": memory card)

    def has(self, product: Product | ProductData) -> bool | None:
        return product_has(product, self)

    def phrase(self, language: str) -> str:
        """How a request says it after the noun: "with bluetooth", "resistentes al agua"."""
        en, es = _PHRASES.get(self.name, (f"with {self.name}", f"con {self.es}"))
        return es if language == "es" else en


def _feature(
    name: str, es: str, asked: list[str], catalog: list[str], keys: str | None = None,
    search: str | None = None, soft: bool = False, implies: str = "",
) -> Feature:  # fmt: skip
    return Feature(
        name=name,
        es=es,
        asked=_words(*asked),
        catalog=_words(*catalog),
        keys=re.compile(keys) if keys else None,
        search=search if search is not None else name,
        soft=soft,
        implies=implies,
    )


FEATURES: tuple[Feature, ...] = (
    _feature("bluetooth", "bluetooth", [r"bluetooth", r"bt"], [r"bluetooth"],
             keys=r"^bluetooth$"),
    _feature("wireless", "inalámbrico",
             [r"wireless", r"cordless", r"inalambric[oa]s?", r"sin cables?", r"wifi-?less"],
             [r"wireless", r"cordless", r"bluetooth", r"rf wireless", r"inalambric[oa]s?"],
             keys=r"^wireless(?: connection)?$"),
    _feature("waterproof", "resistente al agua",
             [r"water ?proof", r"water-?resistant", r"water resistance", r"splash ?proof",
              r"resistentes? al agua", r"a prueba de agua", r"sumergibles?",
              r"impermeables?", r"contra (?:el )?agua"],
             [r"water ?proof", r"water-? ?resistant", r"splash[- ]?(?:proof|resistant)",
              r"ipx[4-8]", r"ip6[5-8]", r"resistentes? al agua", r"sumergibles?",
              r"impermeables?"],
             keys=r"^(?:waterproof|water resistant|splash proof)$",
             search="waterproof water resistant"),
    _feature("noise cancelling", "cancelación de ruido",
             [r"noise[- ]?cancel+ing", r"noise[- ]?cancel+ation", r"anc",
              r"cancelacion (?:activa )?de ruido", r"anulacion de ruido",
              r"reduccion de ruido", r"cancelan? (?:el )?ruido"],
             [r"noise[- ]?cancel+ing", r"noise[- ]?canceling", r"noise reduction",
              r"active noise", r"cancelacion (?:activa )?de ruido"],
             keys=r"^(?:noise canceling|noise cancelling|noise reduction|active noise "
             r"cancelling \(anc\))$", search="noise cancelling"),
    _feature("touchscreen", "pantalla táctil",
             [r"touch ?screen", r"touch", r"pantalla tactil", r"tactil(?:es)?"],
             [r"touch ?screen", r"touch"], keys=r"^touchscreen$", search="touchscreen"),
    _feature("wi-fi", "wifi", [r"wi-?fi", r"wlan", r"wireless lan"],
             [r"wi-?fi", r"wlan", r"802\.11\w*"], keys=r"^wi-?fi$", search="wifi"),
    _feature("USB-C", "USB-C", [r"usb-?c", r"usb type-?c", r"type-?c", r"tipo c", r"usb tipo c"],
             [r"usb-?c", r"usb type-?c", r"type-?c"], search="usb-c type-c"),
    _feature("rechargeable", "recargable", [r"rechargeable", r"recargables?"],
             [r"rechargeable"], keys=r"^rechargeable(?: battery)?$"),
    _feature("microphone", "micrófono",
             [r"with (?:a )?mic(?:rophone)?", r"con micro(?:fono)?", r"microfono incorporado",
              r"built-in mic(?:rophone)?", r"(?:tiene|tienen|has|have|incluye|includes?|trae|"
              r"traen|viene con|vienen con) (?:a |un |una )?mic(?:rofono|rophone)?"],
             [r"microphone", r"with mic", r"built-in mic"],
             keys=r"^(?:microphone|built in microphone|microphone included)$"),
    _feature("4K", "4K", [r"4k", r"uhd", r"ultra hd"], [r"4k", r"ultra hd", r"3840 ?x ?2160", r"uhd"],
             search="4K ultra hd"),
    _feature("full HD", "Full HD", [r"full ?hd", r"1080p"], [r"full ?hd", r"1920 ?x ?1080", r"1080p"]),
    _feature("gaming", "gaming", [r"gaming", r"gamers?", r"para (?:jugar|juegos)"],
             [r"gaming", r"gamer", r"game"], soft=True),
    _feature("laser", "láser", [r"laser"], [r"laser", r"laserjet"]),
    _feature("inkjet", "de tinta", [r"inkjet", r"(?<=impresora )de tinta",
                                    r"(?<=impresoras )de tinta", r"(?:de )?chorro de tinta"],
             [r"inkjet", r"ink ?jet", r"officejet", r"deskjet"]),
    _feature("duplex", "dúplex", [r"duplex", r"double-sided", r"doble cara", r"a dos caras"],
             [r"duplex", r"double-sided", r"\w*dn"], keys=r"^duplex printing$"),
    _feature("colour", "a color", [r"colou?r printing", r"(?:impresion|impresora) a colou?r",
                                   r"a colou?r"],
             [r"colou?r"], keys=r"^colou?r$", search="colour"),
    _feature("GPS", "GPS", [r"gps"], [r"gps"], keys=r"^gps(?: \(satellite\))?$"),
    _feature("NFC", "NFC", [r"nfc"], [r"nfc"], keys=r"^nfc(?: \(near field communication\))?$"),
    _feature("all-in-one", "multifunción",
             [r"multifuncion(?:al(?:es)?)?", r"multifunction", r"all-in-one", r"todo en uno",
              r"mfps?"],
             [r"multifunction", r"all-in-one", r"mfp", r"print, copy,? (?:and )?scan"],
             implies="printer", search="multifunction all-in-one"),
    _feature("backlit", "retroiluminado", [r"backlit", r"backlight", r"retroiluminad[oa]s?",
                                           r"retroiluminacion", r"con luz", r"iluminad[oa]s?"],
             [r"backlit", r"backlight"], keys=r"^(?:keyboard )?backlight$"),
    _feature("ergonomic", "ergonómico", [r"ergonomic", r"ergonomic[oa]s?"], [r"ergonomic"],
             soft=True),
    _feature("mechanical", "mecánico", [r"mechanical", r"mecanic[oa]s?"], [r"mechanical"]),
    _feature("wireless charging", "carga inalámbrica",
             [r"wireless charging", r"qi", r"carga inalambrica"], [r"wireless charging", r"qi"],
             keys=r"^wireless charging$"),
    _feature("fast charging", "carga rápida", [r"fast charg\w*", r"quick charg\w*",
                                               r"carga rapida"],
             [r"fast charg\w*", r"quick charge", r"power delivery"], keys=r"^fast charging$"),
    _feature("portable", "portátil", [r"portable", r"portatil(?:es)?"],
             [r"portable", r"travel", r"mobile"], soft=True),
    _feature("dual SIM", "dual SIM", [r"dual ?sim", r"doble sim"], [r"dual ?sim"]),
    _feature("microSD", "microSD", [r"micro ?sd(?:hc|xc)?(?: cards?)?"],
             [r"micro ?sd(?:hc|xc)?"], implies="memory card", search="microSD"),
    _feature("AA", "AA", [r"aa", r"mignon", r"lr6", r"hr6"], [r"aa", r"mignon", r"lr6", r"hr6"],
             implies="battery"),
    _feature("AAA", "AAA", [r"aaa", r"lr03", r"hr03"], [r"aaa", r"lr03", r"hr03"],
             implies="battery"),
    _feature("5G", "5G", [r"5g"], [r"5g"]),
    _feature("HDMI", "HDMI", [r"hdmi"], [r"hdmi"]),
)  # fmt: skip

# What says a product lacks a feature its text does not name ("connectivity technology
# Wired" is not wireless).
for _f in FEATURES:
    if _f.name == "wireless":
        object.__setattr__(_f, "absent", re.compile(r"connectivity technology wired(?! &)"))

_PHRASES = {
    "wireless": ("that are wireless", "inalámbricos"),
    "waterproof": ("that are water-resistant", "resistentes al agua"),
    "touchscreen": ("with a touchscreen", "con pantalla táctil"),
    "rechargeable": ("that are rechargeable", "recargables"),
    "microphone": ("with a microphone", "con micrófono"),
    "4K": ("in 4K", "4K"), "full HD": ("in Full HD", "Full HD"),
    "gaming": ("for gaming", "gamer"), "laser": ("(laser)", "láser"),
    "inkjet": ("(inkjet)", "de tinta"), "duplex": ("with duplex printing", "con impresión dúplex"),
    "colour": ("with colour printing", "a color"), "backlit": ("that are backlit", "retroiluminados"),
    "all-in-one": ("(all-in-one)", "multifunción"),
    "ergonomic": ("that are ergonomic", "ergonómicos"),
    "mechanical": ("that are mechanical", "mecánicos"),
    "portable": ("that are portable", "portátiles"), "dual SIM": ("with dual SIM", "dual SIM"),
    "bluetooth": ("with Bluetooth", "con bluetooth"),
}  # fmt: skip

_COLOURS = {
    "black": ("negro", r"negr[oa]s?"), "white": ("blanco", r"blanc[oa]s?"),
    "red": ("rojo", r"roj[oa]s?"), "blue": ("azul", r"azul(?:es)?"),
    "green": ("verde", r"verdes?"), "pink": ("rosa", r"rosas?|rosad[oa]s?"),
    "grey": ("gris", r"gris(?:es)?|gray"), "silver": ("plateado", r"platead[oa]s?|plata"),
    "yellow": ("amarillo", r"amarill[oa]s?"), "gold": ("dorado", r"dorad[oa]s?"),
    "purple": ("violeta", r"violetas?|morad[oa]s?|purpura"),
    "orange": ("naranja", r"naranjas?"), "cyan": ("cian", r"cian|cyan"),
    "magenta": ("magenta", r"magentas?"),
}  # fmt: skip
COLOURS: tuple[Feature, ...] = tuple(
    Feature(
        name=en,
        es=es,
        asked=_words(en, pattern, *(["gray"] if en == "grey" else [])),
        catalog=_words(en, pattern, *(["gray"] if en == "grey" else [])),
        keys=None,
        search=en,
    )
    for en, (es, pattern) in _COLOURS.items()
)
_PHRASES.update({en: (f"in {en}", f"de color {es}") for en, (es, _) in _COLOURS.items()})


@dataclass(frozen=True)
class Quantity:
    """A number with a unit the shopper asked for: 64 GB, 15.6 inch, 10000 mAh, 2 m."""

    value: float
    unit: str  # "GB", "TB", "inch", "mAh", "W", "m", "pieces"

    @property
    def name(self) -> str:
        number = f"{self.value:g}"
        return f'{number}"' if self.unit == "inch" else f"{number} {self.unit}"

    @property
    def es(self) -> str:
        number = f"{self.value:g}".replace(".", ",")
        return f"{number} pulgadas" if self.unit == "inch" else f"{number} {self.unit}"

    @property
    def search(self) -> str:
        return f"{self.value:g} {self.unit}" if self.unit != "inch" else f'{self.value:g}"'

    def has(self, product: Product | ProductData) -> bool | None:
        return quantity_has(product, self)

    def phrase(self, language: str) -> str:
        return f"de {self.es}" if language == "es" else f"of {self.name}"


_UNITS = {
    "gb": "GB", "gigas?": "GB", "gigabytes?": "GB", "tb": "TB", "teras?": "TB",
    "terabytes?": "TB", "mah": "mAh", "w": "W", "watts?": "W", "vatios?": "W",
    '"': "inch", "''": "inch", "”": "inch", "″": "inch", "inch(?:es)?": "inch", "in": "inch",
    "pulgadas?": "inch", "pulg": "inch", "m": "m", "meters?": "m", "metres?": "m",
    "metros?": "m", "pcs": "pieces", "pieces?": "pieces", "piezas?": "pieces",
}  # fmt: skip
_QUANTITY = re.compile(
    r"(?<![\w.,])(\d{1,3}(?:[.,]\d{3})+|\d{1,6}(?:[.,]\d{1,2})?)\s?("
    + "|".join(sorted(_UNITS, key=len, reverse=True))
    + r")(?![\w])"
)


def _unit(raw: str) -> str:
    for pattern, unit in _UNITS.items():
        if re.fullmatch(pattern, raw):
            return unit
    return raw


def _number(raw: str) -> float:
    if re.fullmatch(r"\d{1,3}(?:[.,]\d{3})+", raw):
        return float(re.sub(r"[.,]", "", raw))
    return float(raw.replace(",", "."))


def find_quantities(folded: str) -> list[tuple[Quantity, tuple[int, int]]]:
    """Quantities in a folded question, with where they are (to take them out of it)."""
    found = []
    for m in _QUANTITY.finditer(folded):
        unit = _unit(m.group(2))
        found.append((Quantity(_number(m.group(1)), unit), m.span()))
    return found


# ---- a product's own data, as matching text ---------------------------------------------

_LOGISTICS = re.compile(
    r"package|pallet|carton|storage_temp|humidity|operating_temp|quantity_per|^ean|gtin|upc|"
    r"sku|oem|img|image|url|date|^name$|country_of_origin|harmonized|warranty|compatib|"
    r"supported|bundled|included_software",
    re.I,
)


_NO_WORDS = frozenset({"no", "false", "none", "n", "0", "without", "sin", "ninguno", "not"})
_YES_WORDS = frozenset({"yes", "true", "y", "si", "sí", "1", "with"})


_KEEP = re.compile(r"screen_size", re.I)  # "maximum screen size compatibility" (bags)
_LOOSE_HYPHEN = re.compile(r"(?<=\w)-(?=\s|$)|(?<=\s)-(?=\w)")  # "Backpack- Black"


@dataclass(frozen=True)
class ProductData:
    """What the rules read of a product: folded text, boolean and numeric attributes."""

    title: str  # folded title (and product type)
    text: str  # folded title, description and text attribute values, bounded
    flags: dict[str, bool]  # boolean attributes by readable key ("bluetooth")
    numbers: dict[str, float]  # numeric attributes by readable key ("display diagonal")


def _readable(key: str) -> str:
    key = re.sub(r"^attr_[a-z]_", "", key[:120])
    key = re.sub(r"__([a-z0-9_]+?)_*$", r" (\1)", key)
    return key.replace("_", " ").strip().lower()


def product_data(product: Product) -> ProductData:
    attributes: dict[str, Any] = product.attributes or {}
    flags: dict[str, bool] = {}
    numbers: dict[str, float] = {}
    texts: list[str] = []
    kind = ""
    for n, (key, value) in enumerate(attributes.items()):
        if n >= MAX_ATTRIBUTES:
            break
        if not isinstance(key, str) or (
            _LOGISTICS.search(key[:120]) and not _KEEP.search(key[:120])
        ):
            continue
        label = _readable(key)
        if isinstance(value, bool):
            flags[label] = value
        elif isinstance(value, int | float):
            numbers[label] = float(value)
        elif isinstance(value, str) and value.strip().lower() in _NO_WORDS:
            flags[label] = False  # "bluetooth: no"
        elif isinstance(value, str) and value.strip().lower() in _YES_WORDS:
            flags[label] = True
        elif isinstance(value, str) and value.strip():
            if label == "product type":
                kind = value[:80]
            if len(value) <= 200 and not value.lower().startswith(("http://", "https://")):
                texts.append(f"{label} {value}")
    title = _LOOSE_HYPHEN.sub(" ", fold(f"{product.title[:300]} {kind}"))
    body = " ".join([product.title[:300], (product.description or "")[:600], *texts])
    text = _LOOSE_HYPHEN.sub(" ", fold(body[:MAX_PRODUCT_TEXT]))
    return ProductData(title=title, text=text, flags=flags, numbers=numbers)


def is_kind(data: ProductData, kind: Kind) -> bool:
    """Is the product of this kind? Its title (or product type) names the kind, and the
    word is not just what an accessory is for ("notebook case", "cable for printer")."""
    if kind.unless is not None and kind.unless.search(data.title):
        return False
    for m in kind.catalog.finditer(data.title):
        after = re.findall(r"[\w+-]+", data.title[m.end() : m.end() + 40])[:2]
        before = data.title[max(0, m.start() - 40) : m.start()]
        if _FOR.search(before):
            continue
        if set(re.findall(r"\w+", before)[-6:]) & (ACCESSORY_BEFORE - kind.own):
            continue
        after = [a.strip("-+") for a in after]
        if after and after[0] in ACCESSORY and after[0] not in kind.own:
            continue
        return True
    return bool(
        kind.signal is not None
        and kind.signal.search(data.text)
        and (kind.unless is None or not kind.unless.search(data.text[:400]))
    )


def product_has(product: Product | ProductData, feature: Feature) -> bool | None:
    """True (the catalog says so), False (a boolean attribute says no), None (unsaid)."""
    data = product if isinstance(product, ProductData) else product_data(product)
    said = None
    if feature.keys is not None:
        for key, value in data.flags.items():
            if feature.keys.search(key):
                if value:
                    return True
                said = False
    if feature.catalog.search(data.text):
        return True
    if feature.absent is not None and feature.absent.search(data.text):
        return False
    return said


def quantity_has(product: Product | ProductData, quantity: Quantity) -> bool | None:
    """Does the product state this quantity (title, description or a numeric attribute)?"""
    data = product if isinstance(product, ProductData) else product_data(product)
    value, unit = quantity.value, quantity.unit
    text = re.sub(r"(?<=\d)[,.](?=\d{3}\b)", "", data.text)  # "10,000 mah" -> "10000 mah"
    number = re.escape(f"{value:g}")
    if unit == "inch":
        digits = number if value != int(value) else number + r"(?:[.,]\d)?"
        if re.search(rf"(?<![\d.,]){digits}\s?(?:\"|''|”|″|inch|-inch|in\b)", text):
            return True
        for key, got in data.numbers.items():
            if re.search(r"diagonal|screen size", key):
                if "maximum" in key and got >= value - 0.05:
                    return True
                if (value == int(value) and int(got) == value) or abs(got - value) < 0.05:
                    return True
        return None
    patterns = {
        "GB": rf"(?<![\d.,]){number}\s?gb\b",
        "TB": rf"(?<![\d.,]){number}\s?tb\b",
        "mAh": rf"(?<![\d.,]){number}\s?mah\b",
        "W": rf"(?<![\d.,]){number}\s?w\b",
        "m": rf"(?<![\d.,]){number}\s?m\b",
        "pieces": rf"(?<![\d.,]){number}\s?(?:pcs|pieces?|pc\(s\)|piece)",
    }
    if unit in patterns and re.search(patterns[unit], text):
        return True
    if unit == "TB" and re.search(rf"(?<![\d.,]){value * 1000:g}\s?gb\b", text):
        return True
    keys = {
        "GB": r"capacity|memory|storage|ram",
        "TB": r"capacity|storage",
        "mAh": r"battery capacity",
        "W": r"power",
        "m": r"cable length|length",
        "pieces": r"pieces|quantity",
    }.get(unit)
    if keys:
        for key, got in data.numbers.items():
            if re.search(keys, key):
                target = value * 1000 if unit == "TB" else value
                if abs(got - target) < 1e-6 or (unit == "TB" and abs(got - value * 1024) < 1e-6):
                    return True
    return None
