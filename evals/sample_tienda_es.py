"""Pick the 300 products of catalog/tienda_es deterministically from the demo catalog.

The Spanish titles and descriptions in catalog/tienda_es/productos.csv were written by hand
from the English draft this script emits (see catalog/tienda_es/README.md); the script only
fixes which products are in the sample, so the choice can be checked and repeated.

Rule: for each bucket below, in order, keep the products whose title matches the include
pattern (a pattern starting with "@" is matched against title + short description) and not
the exclude pattern, that have a short description, a price > 0 and a 500x500 image; order
them by sha256(id) hex; take the first N, skipping ids an earlier bucket took and products
whose first three title words were already taken in the bucket (colour/pack variants);
a first pass takes at most half the bucket per matched keyword, a second pass fills it.

Usage:
    python evals/sample_tienda_es.py catalog/chorus_icecat/products.jsonl.gz draft.json
    python evals/sample_tienda_es.py catalog/chorus_icecat/products.jsonl.gz --check \
        catalog/tienda_es/productos.csv
"""

import csv
import gzip
import hashlib
import json
import re
import sys

ACC = r"case|cover|holder|mount|stand|protector|cable|charger|adapter|battery|kit|bag|sleeve"
BUCKETS = [
    # (key, categoria, N, include, exclude)
    (
        "parlantes",
        "Audio > Parlantes",
        20,
        r"\bspeakers?\b|soundbar|speaker bar",
        r"cable|mount|bracket|stand|wall|microphone|headset|headphone|adapter|grille|phone|wire|home theatre",
    ),
    (
        "auriculares",
        "Audio > Auriculares",
        20,
        r"headphones?|headset|earphones?|earbuds?",
        r"adapter|cable|stand|hook|charger|ear ?pads?|cushion|case|amplifier",
    ),
    (
        "mouse",
        "Computación > Mouse",
        16,
        r"\bmice\b|\bmouse\b",
        r"pad|mat|keyboard|wrist|bungee|cable|adapter",
    ),
    (
        "teclados",
        "Computación > Teclados",
        12,
        r"keyboards?",
        r"case|cover|folio|mouse|stand|kvm|switch|drawer|tray|cable|sleeve|internal|replacement|protector|skin|membrane|wrist",
    ),
    (
        "impresoras",
        "Impresión > Impresoras",
        14,
        r"printer|multifunctional",
        r"cartridge|toner|ink|cable|stand|paper|tray|head|kit|memory|server|fuser|drum|belt|cabinet|feeder|maintenance|duplex|unit|module|card|upgrade|stacker|finisher|spare|ribbon|label|cleaning|svc|care|roller|exch|grill",
    ),
    ("tinta", "Impresión > Tinta", 14, r"@\bink\b", r"toner|printer$|head|paper|ribbon|kit"),
    ("toner", "Impresión > Tóner", 8, r"@toner", r"waste|collector|drum|kit"),
    (
        "cables",
        "Cables",
        14,
        r"\bcable\b",
        r"tie|management|organizer|lock|manager|tester|tool|kit|clip|sleeve|mouse|hub",
    ),
    (
        "cargadores",
        "Energía > Cargadores y fuentes",
        12,
        r"charger|power adapter|ac adapter",
        r"battery charger|case|cable$|kit|power bank",
    ),
    (
        "powerbank",
        "Energía > Baterías externas",
        4,
        r"power ?bank|powercore|portable charger",
        None,
    ),
    (
        "memoria",
        "Almacenamiento > Tarjetas de memoria",
        12,
        r"memory card|micro ?sd|\bSDHC\b|\bSDXC\b",
        r"reader|adapter|usb flash",
    ),
    ("pendrive", "Almacenamiento > Pendrives", 12, r"usb flash drive", None),
    (
        "notebooks",
        "Computación > Notebooks",
        16,
        r"notebook|laptop|chromebook|ultrabook",
        ACC
        + r"|backpack|dock|lock|cool|keyboard|mouse|skin|memory|privacy|filter|replicator|headset|speaker|power|tray|carry|spare|part|hinge|bezel|fan|svc|service|pickup|warranty|care|kbd|roller|firewire|internal|\bram\b|module",
    ),
    (
        "monitores",
        "Computación > Monitores",
        12,
        r"computer monitor|\bmonitor\b",
        r"arm|mount|stand|cable|bracket|filter|privacy|calibrat|baby|heart|blood|kvm|switch|environment|ups|power|battery|card|software|license|adapter|converter",
    ),
    (
        "fundas",
        "Accesorios > Fundas, bolsos y mochilas",
        14,
        r"\bcase\b|\bbag\b|backpack|sleeve",
        r"pc case|computer case|server|cable|drive|enclosure|rack|chassis|tower|vacuum|dust|waste|\bcd|dvd|fan|pk\b|mobile phone",
    ),
    (
        "iluminacion",
        "Hogar > Iluminación",
        8,
        r"\blamp\b|flashlight|torch|bulb|desk light|night light",
        r"projector|replacement|car|headlight|uv|infrared|elplp|epson lamp|clamp|vehicle",
    ),
    (
        "telefonos",
        "Telefonía > Teléfonos",
        6,
        r"smartphone|cordless|dect phone|dect telephone|internet/ dect",
        ACC + r"|faceplate|lens|baby|screen",
    ),
    (
        "acc_celular",
        "Telefonía > Accesorios para celular",
        8,
        r"mobile phone case|mobile phone cable|screen protector|car holder|vent mount|mobile phone",
        r"desktop|laptop|privacy",
    ),
    (
        "tablets",
        "Computación > Tablets",
        4,
        r"tablet pc|\btablet\b",
        ACC + r"|dock|keyboard|pen|stylus|lock|arm|tabletop|enclosure|roll",
    ),
    (
        "camaras",
        "Foto y video > Cámaras",
        10,
        r"camera\b|camcorder|webcam",
        ACC
        + r"|lens|strap|tripod|remote|housing|flash|surveillance|security|ip camera|controller|card|scrath|scratch|netbotz|appliance",
    ),
    (
        "discos",
        "Almacenamiento > Discos",
        10,
        r"solid state drive|external hard drive|portable hard drive|hard disk drive|\bHDD\b",
        r"enclosure|dock|cable|caddy|bracket|adapter|tray|notebook|netbook|pixels|\bPC\b|desktop|workstation|server",
    ),
    (
        "pilas",
        "Energía > Pilas y baterías",
        10,
        r"household battery|batteries|rechargeable battery",
        r"charger|notebook|laptop|ups|camera",
    ),
    (
        "relojes",
        "Telefonía > Relojes inteligentes",
        4,
        r"smartwatch|smart watch|activity tracker",
        r"band|strap|charger|case|cable",
    ),
    (
        "proyectores",
        "Imagen > Proyectores",
        6,
        r"projector",
        r"lamp|screen|mount|bag|case|cable|remote|bulb|filter|bracket|ceiling|stand|kit|lens|table|cart|pole",
    ),
    (
        "hubs",
        "Computación > Hubs y docks",
        8,
        r"\bhub\b|docking station|port replicator|\bdock\b",
        r"case|cable$",
    ),
    (
        "redes",
        "Redes > Routers y switches",
        6,
        r"router|\bswitch\b",
        r"kvm|rack|mount|power supply|module|cable|fan|door|kit|bracket|flight|video|hdmi|vga|audio|component|converter",
    ),
    (
        "cocina",
        "Hogar > Cafeteras y cocina",
        6,
        r"coffee maker|coffee machine|kettle|toaster|blender",
        r"bags?$|filter|part|accessory|descal",
    ),
    (
        "cuidado",
        "Hogar > Cuidado personal y planchas",
        6,
        r"steam iron|hair dryer|hair clipper|shaver|beard trimmer|hair styling",
        r"bags?$|filter|part|accessory|head|foil|cutter|cleaning",
    ),
    (
        "gaming",
        "Gaming > Controles y consolas",
        6,
        r"gamepad|joystick|game console|gaming (mouse|headset|keyboard)|racing wheel",
        r"cable|charger|case|stand|remote",
    ),
    (
        "oficina",
        "Oficina > Calculadoras y etiquetadoras",
        7,
        r"calculator|shredder|label printer|laminator|label maker",
        r"tape|labels|ribbon|roll|oil|bag|cartridge",
    ),
]


def key(pid: str) -> str:
    return hashlib.sha256(pid.encode()).hexdigest()


def sample(path: str) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        prods = [json.loads(line) for line in f]
    prods.sort(key=lambda d: key(d["id"]))
    taken: set[str] = set()
    rows = []
    for bk, cat, n, inc, exc in BUCKETS:
        inc_re = re.compile(inc.lstrip("@"), re.I)
        exc_re = re.compile(exc, re.I) if exc else None
        seen_prefix: set[str] = set()
        per_kind: dict[str, int] = {}
        got = 0
        # Two passes: first at most half the bucket per matched keyword (so a bucket of
        # "shaver|kettle|..." is not all shavers), then fill up without that cap.
        for capped in (True, False):
            for d in prods:
                if got >= n:
                    break
                t = d.get("title") or ""
                if (
                    d["id"] in taken
                    or not d.get("short_description")
                    or not d.get("price")
                    or not d.get("img_500x500")
                ):
                    continue
                hay = t + " " + d["short_description"] if inc.startswith("@") else t
                m = inc_re.search(hay)
                if not m or (exc_re and exc_re.search(t)):
                    continue
                prefix = " ".join(t.lower().split()[:3])
                kind = m.group(0).lower()
                if prefix in seen_prefix or (capped and per_kind.get(kind, 0) >= (n + 1) // 2):
                    continue
                seen_prefix.add(prefix)
                per_kind[kind] = per_kind.get(kind, 0) + 1
                taken.add(d["id"])
                got += 1
                attrs = {
                    k: v
                    for k, v in d.items()
                    if k.startswith("attr_t_") and k != "attr_t_country_of_origin"
                }
                rows.append(
                    {
                        "bucket": bk,
                        "categoria": cat,
                        "id": d["id"],
                        "title": t,
                        "brand": d.get("supplier"),
                        "short": d["short_description"],
                        "price": d["price"],
                        "img": d["img_500x500"],
                        "attrs": dict(list(attrs.items())[:12]),
                    }
                )
        print(bk, got, file=sys.stderr)
    return rows


def main(argv: list[str]) -> int:
    rows = sample(argv[1])
    if argv[2] == "--check":
        with open(argv[3], encoding="utf-8", newline="") as f:
            have = {r["id"] for r in csv.DictReader(f)}
        want = {r["id"] for r in rows}
        print(f"{len(want)} sampled, {len(have)} in {argv[3]}, same ids: {have == want}")
        return 0 if have == want else 1
    with open(argv[2], "w", encoding="utf-8") as f:
        json.dump(rows, f, ensure_ascii=False, indent=1)
    print(len(rows), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
