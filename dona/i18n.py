"""The interface's words in English and Spanish: the Streamlit pages and the CLI.

`t(key, language, **values)` looks a message up in one of two tables (every key is in
both, tests/test_i18n.py checks it) and fills in its `{values}`. Values are inserted as
given, never parsed, so catalog text and user input stay data.

Errors keep their English sentence in the core (tests and logs match it); the ones a
shopper or merchant commonly meets carry a stable `code` and `params` (dona/errors.py),
and `localized(error, language)` renders those in Spanish. Any other error is shown as
`str(error)`.

Which language: `resolve_language(DONA_LANGUAGE, browser_or_locale)`. "auto" follows the
browser's language in the app (navigator.language, else Accept-Language) and the
environment's locale (LC_ALL, LC_MESSAGES, LANG) in the CLI: Spanish for any `es*`,
English for everything else.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from dona.errors import DonaError, RowProblem

Language = Literal["en", "es"]
LANGUAGES: tuple[Language, ...] = ("en", "es")
SETTINGS = ("auto", "en", "es")  # DONA_LANGUAGE

_MAX_HEADER_CHARS = 1000  # an Accept-Language header is a few dozen characters
_MAX_RANGES = 32

# ---- resolving the language -------------------------------------------------------------


def _primary(tag: str) -> str:
    """ "es-AR" / "es_AR.UTF-8" / "ES" -> "es"."""
    return tag.strip().lower().replace("_", "-").split(".", 1)[0].split("@", 1)[0].split("-")[0]


def preferred_language(accept: str | None) -> Language:
    """The supported language a browser or locale prefers: an Accept-Language header
    ("fr-FR,es;q=0.8,en;q=0.5" -> "es"), a navigator.language ("es-419") or a POSIX locale
    ("es_AR.UTF-8"). English when none of ours is named."""
    if not isinstance(accept, str):
        return "en"
    best: tuple[float, Language] | None = None
    for part in accept[:_MAX_HEADER_CHARS].split(",")[:_MAX_RANGES]:
        tag, *options = part.split(";")
        language = _primary(tag)
        if language not in LANGUAGES:
            continue
        weight = 1.0
        for option in options:
            name, _, value = option.partition("=")
            if name.strip().lower() == "q":
                try:
                    weight = float(value.strip()[:8])
                except ValueError:
                    weight = 0.0
        if not 0.0 < weight <= 1.0:  # q=0: "not this one"; nonsense counts as no
            continue
        if best is None or weight > best[0]:  # ties: the first named wins
            best = (weight, language)  # type: ignore[assignment]
    return best[1] if best else "en"


def resolve_language(setting: str | None, browser_or_locale: str | None = None) -> Language:
    """`DONA_LANGUAGE` ("auto", "en", "es") decides; "auto" (or nothing) follows the
    browser's language or the environment's locale."""
    chosen = (setting or "auto").strip().lower()
    if chosen in LANGUAGES:
        return chosen  # type: ignore[return-value]
    return preferred_language(browser_or_locale)


def system_locale(environ: Mapping[str, str]) -> str | None:
    """The locale that names message language, POSIX order: LC_ALL, LC_MESSAGES, LANG."""
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = environ.get(name)
        if value:
            return value
    return None


# ---- numbers ----------------------------------------------------------------------------


def number(value: int | float, language: Language, decimals: int = 0) -> str:
    """1234.5 -> "1,234.5" in English, "1.234,5" in Spanish (as shops in Argentina write)."""
    text = f"{value:,.{decimals}f}"
    if language == "es":
        return text.replace(",", "\0").replace(".", ",").replace("\0", ".")
    return text


# ---- the messages -----------------------------------------------------------------------

EN: dict[str, str] = {
    # the app shell (ui/app.py, ui/shared.py)
    "app.page.chat": "Ask DONA",
    "app.page.search": "Search products",
    "app.page.sign_in": "Merchant sign-in",
    "app.page.upload": "Upload catalog",
    "app.page.versions": "Versions",
    "app.page.quantization": "Quantization",
    "app.page.quality": "Quality reports",
    "app.section.shop": "Shop",
    "app.section.merchants": "Merchants",
    "app.section.merchant": "Merchant: {catalog}",
    "app.attribution": 'Product data sourced from Icecat (https://icecat.biz/), provided "AS '
    'IS" under the Icecat Open Content License.',
    "app.starting": "Starting DONA…",
    "app.no_catalog": "No catalog has been ingested yet, so there is nothing to search. "
    "Merchant: load your products with `dona ingest FILE` (or `make run` for the demo "
    "catalog), then reload this page.",
    "app.unavailable": "The shop's assistant is not available right now. Please try again "
    "in a little while.",
    "app.bug": "Something went wrong on our side. Please try again in a moment.",
    "app.merchants_only": "This page is for merchants. Sign in first.",
    "app.signed_in_as": "Signed in as {username}",
    "app.sign_out": "Sign out",
    "app.catalog": "Catalog",
    "app.loading_catalog": "Loading the catalog…",
    # product cards
    "card.out_of_stock": "Out of stock",
    "card.view": "View product",
    "card.price_on_request": "Price on request",
    # filters (search and chat sidebars)
    "filter.header": "Filters",
    "filter.min_price": "Min price",
    "filter.max_price": "Max price",
    "filter.any": "Any",
    "filter.brand": "Brand",
    "filter.all_brands": "All brands",
    "filter.in_stock": "In stock only",
    "filter.results": "Number of results",
    # the search page
    "search.box": "Search products",
    "search.placeholder": "What are you looking for? e.g. bluetooth speaker",
    "search.hint": "Type what you are looking for and press Enter.",
    "search.searching": "Searching…",
    "search.no_match": "No products match your search. Other words may find more.",
    "search.no_match_filters": "No products match your search. Try removing some filters "
    "in the sidebar. Other words may find more.",
    "search.count_one": "1 product for “{query}”",
    "search.count_many": "{count} products for “{query}”",
    "search.searched_as": "Searched the catalog for: {words}",
    # the chat page
    "chat.limits": "Limits",
    "chat.limits_help": "The assistant keeps to these; your questions can narrow them further.",
    "chat.new": "New conversation",
    "chat.looking": "Looking through the catalog…",
    "chat.writing": "Writing an answer…",
    "chat.thinking": "Thinking…",
    "chat.stop": "Stop",
    "chat.stopped": "Stopped before the answer was complete.",
    "chat.examples": "Ask about products in your own words, for example:",
    "chat.example_1": "A portable bluetooth speaker under 50 dollars?",
    "chat.example_2": "Cyan ink cartridge for an HP DesignJet",
    "chat.example_3": "¿Tienes ratones inalámbricos baratos?",
    "chat.input": "Ask about products…",
    # merchant sign-in
    "sign_in.title": "Merchant sign-in",
    "sign_in.done": "You are signed in; the merchant pages are in the menu.",
    "sign_in.accounts": "Merchant accounts are created by the shop's operator with "
    "`dona merchant add NAME --catalog CATALOG`.",
    "sign_in.username": "Username",
    "sign_in.password": "Password",
    "sign_in.submit": "Sign in",
    # upload
    "upload.title": "Upload catalog: {catalog}",
    "upload.live": "Live now: version {version}, {products} products, index phase {phase}. "
    "Shoppers keep using it until a new upload is complete.",
    "upload.empty": "This catalog has no products yet.",
    "upload.file": "Catalog file: CSV, JSON array, JSON Lines (optionally .gz) or XLSX (up "
    "to {limit} MB)",
    "upload.choose": "Choose a file; you will see a preview and a validation report before "
    "anything changes.",
    "upload.too_large": "{name} is over the {limit} MB limit (DONA_MAX_UPLOAD_MB).",
    "upload.checking": "Checking the file…",
    "upload.preview": "Preview",
    "upload.preview_caption": "{name}: {format}, {columns} columns; the first {rows} rows",
    "upload.mapping": "Column mapping",
    "upload.mapping_help": "Which column of your file holds each product field. Unmapped "
    "columns are kept as product attributes.",
    "upload.not_used": "(not used)",
    "upload.field.id": "required, unique per product",
    "upload.field.title": "required",
    "upload.field.price_minor": "integer cents",
    "upload.currency": "Currency of prices that name none",
    "upload.cents": "Prices are integer cents",
    "upload.cents_help": "Tick when the price column holds minor units (1299 for 12.99).",
    "upload.validation": "Validation",
    "upload.problems": "{count} of {total} rows have problems. Fix them in your file and "
    "upload it again, or leave them out below.",
    "upload.problems_listed": "{count} of {total} rows have problems (the first {listed} "
    "are listed). Fix them in your file and upload it again, or leave them out below.",
    "upload.column.row": "row",
    "upload.column.id": "product id",
    "upload.column.problem": "problem",
    "upload.skip_one": "Leave the bad row out and ingest the {count} valid products",
    "upload.skip_many": "Leave the bad rows out and ingest the {count} valid products",
    "upload.valid": "All {total} rows are valid: {count} products.",
    "upload.ingest": "Ingest",
    "upload.starting": "Starting…",
    "upload.stage.parse": "parse",
    "upload.stage.store": "store",
    "upload.stage.embed": "embed",
    "upload.stage.index": "index",
    "upload.finished": "done",
    "upload.done": "Version {version} of {catalog} is live: {products} products ({embedded} "
    "embedded, {cached} from cache) in {seconds} s.",
    "upload.done_skipped": "Version {version} of {catalog} is live: {products} products "
    "({embedded} embedded, {cached} from cache, {skipped} bad rows left out) in {seconds} s.",
    # versions
    "versions.title": "Versions: {catalog}",
    "versions.none": "No versions yet: upload a catalog first.",
    "versions.kept": "The live version and up to {count} earlier ones are kept on disk and "
    "can be restored; restoring switches shoppers over at once.",
    "versions.row": "Version {version} · {status} · {products} products · index {phase} · "
    "{source} · {created}",
    "versions.restore": "Restore v{version}",
    "versions.restored": "Version {version} is live again.",
    "versions.recent": "Recent ingests",
    "versions.column.started": "started",
    "versions.column.file": "file",
    "versions.column.status": "status",
    "versions.column.rows": "rows",
    "versions.column.ingested": "ingested",
    "versions.column.left_out": "left out",
    "versions.column.message": "message",
    "status.live": "live",
    "status.ready": "ready",
    "status.building": "building",
    "status.failed": "failed",
    "status.retired": "retired",
    "status.running": "running",
    "status.succeeded": "succeeded",
    "status.rejected": "rejected",
    # quantization
    "quant.title": "Quantization: {catalog}",
    "quant.no_catalog": "Upload a catalog first; then cheaper index phases can be measured on it.",
    "quant.serving": "Serving version {version} with index phase {phase} {config}. A "
    "cheaper phase is adopted only when it loses less than {threshold} nDCG@10, Recall@10 "
    "and Recall@100 against float32, in dense and hybrid retrieval, measured here on your "
    "catalog.",
    "quant.probes": "Without judged queries the measurement uses {count} probe queries made "
    "from your own products (titles, brand + category, attribute phrases), each of which "
    "should find its product.",
    "quant.candidates": "Candidates (f32 is always measured as the reference)",
    "quant.measure": "Measure",
    "quant.adopt": "Measure and adopt the cheapest that passes",
    "quant.measuring": "Measuring…",
    "quant.measured": "Measured",
    "quant.plot": "Quality against memory (green: passes the gate)",
    "quant.none_passes": "No candidate passes the gate; the catalog keeps its current index.",
    "quant.adopted": "Adopted {candidate}: version {version} is live ({bytes} hot-RAM bytes "
    "per vector).",
    "quant.already": "{candidate} is already serving; nothing changed.",
    "quant.would_adopt": "The gate would adopt {candidate} ({bytes} hot-RAM bytes per vector).",
    "quant.column.candidate": "candidate",
    "quant.column.mode": "mode",
    "quant.column.drop": "nDCG drop",
    "quant.column.ram": "RAM B/vector",
    "quant.column.disk": "disk B/vector",
    "quant.column.gate": "gate",
    "quant.pass": "pass",
    "quant.fail": "FAIL",
    # quality reports
    "quality.title": "Quality reports",
    "quality.yours": "Your catalog: {catalog}",
    "quality.no_version": "Your catalog has no live version yet.",
    "quality.reference": "Your catalog is served with {phase}, the float32 reference; no "
    "cheaper phase has been adopted yet (see Quantization).",
    "quality.adopted": "Adopted {candidate} on {dataset} (gate {threshold}, {kind})",
    "quality.label_free": "label-free",
    "quality.labelled": "labelled",
    "quality.phases": "Index phases on the demo catalog (judged queries)",
    "quality.no_phases": "No phase report yet; `make eval-report` writes it.",
    "quality.chat": "Chat models (bundled GGUF)",
    "quality.no_chat": "No chat report yet; `make eval-llm` writes it.",
    "quality.chat_caption": "Shares of 12 questions (higher is better); time to first token "
    "in seconds; peak memory of the whole process in MB.",
    "quality.speed": "tokens per second",
    "quality.correct": "correct answers (share)",
    "quality.size": "model file MB",
    "quality.chart_caption": "Quality against speed; the bigger the point, the bigger the "
    "model file.",
    "quality.search_speed": "Search speed",
    "quality.scale": "Scale",
    # the command line (dona/cli.py)
    "cli.ingested": "catalog {catalog!r} version {version} is live: {products} products "
    "({embedded} embedded, {cached} from cache) in {seconds} s",
    "cli.skipped": "skipped {count} invalid rows:",
    "cli.more": "  ... and {count} more",
    "cli.row": "row {row}",
    "cli.row_id": "row {row} (id {id!r})",
    "cli.searched_as": "searched for: {words}",
    "cli.no_match": "no products match",
    "cli.no_price": "no price",
    "cli.no_catalogs": "no catalogs yet; run 'dona ingest FILE'",
    "cli.catalog_live": "{name}: v{version}, {products} products, {phase}",
    "cli.catalog_not_live": "{name}: no live version",
    "cli.version": "v{version}: {status}, {products} products, {phase}, from {source} at {created}",
    "cli.version_restorable": "v{version}: {status} (restorable), {products} products, "
    "{phase}, from {source} at {created}",
    "cli.rolled_back": "catalog {catalog!r} version {version} is live again",
    "cli.password": "Password: ",
    "cli.password_again": "Repeat password: ",
    "cli.merchant_added": "merchant {username!r} manages catalog {catalog!r}",
    "cli.password_changed": "password of {username!r} changed",
    "cli.merchant_removed": "merchant {username!r} removed",
    "cli.no_merchants": "no merchants yet; add one with 'dona merchant add NAME --catalog CATALOG'",
    "cli.note": "note: {notice}",
    "cli.checked": "checked against the catalog:",
    "cli.chat_intro": "Ask about the catalog; an empty line or Ctrl-D ends.",
    "cli.you": "you> ",
    "cli.error": "error: {message}",
}

ES: dict[str, str] = {
    "app.page.chat": "Pregúntale a DONA",
    "app.page.search": "Buscar productos",
    "app.page.sign_in": "Acceso para comerciantes",
    "app.page.upload": "Subir catálogo",
    "app.page.versions": "Versiones",
    "app.page.quantization": "Cuantización",
    "app.page.quality": "Informes de calidad",
    "app.section.shop": "Tienda",
    "app.section.merchants": "Comerciantes",
    "app.section.merchant": "Comerciante: {catalog}",
    "app.attribution": "Datos de productos de Icecat (https://icecat.biz/), provistos "
    '"TAL CUAL" ("AS IS") bajo la Icecat Open Content License.',
    "app.starting": "Iniciando DONA…",
    "app.no_catalog": "Todavía no se cargó ningún catálogo, así que no hay nada para "
    "buscar. Comerciante: carga tus productos con `dona ingest FILE` (o `make run` para el "
    "catálogo de demostración) y vuelve a abrir esta página.",
    "app.unavailable": "El asistente de la tienda no está disponible en este momento. "
    "Vuelve a intentarlo en un rato.",
    "app.bug": "Algo falló de nuestro lado. Vuelve a intentarlo en un momento.",
    "app.merchants_only": "Esta página es para comerciantes. Primero inicia sesión.",
    "app.signed_in_as": "Sesión iniciada como {username}",
    "app.sign_out": "Cerrar sesión",
    "app.catalog": "Catálogo",
    "app.loading_catalog": "Cargando el catálogo…",
    "card.out_of_stock": "Sin stock",
    "card.view": "Ver producto",
    "card.price_on_request": "Precio a consultar",
    "filter.header": "Filtros",
    "filter.min_price": "Precio mínimo",
    "filter.max_price": "Precio máximo",
    "filter.any": "Cualquiera",
    "filter.brand": "Marca",
    "filter.all_brands": "Todas las marcas",
    "filter.in_stock": "Solo con stock",
    "filter.results": "Cantidad de resultados",
    "search.box": "Buscar productos",
    "search.placeholder": "¿Qué estás buscando? p. ej. auriculares bluetooth",
    "search.hint": "Escribe lo que buscas y presiona Enter.",
    "search.searching": "Buscando…",
    "search.no_match": "Ningún producto coincide con tu búsqueda. Otras palabras pueden "
    "encontrar más.",
    "search.no_match_filters": "Ningún producto coincide con tu búsqueda. Prueba quitar "
    "algunos filtros de la barra lateral. Otras palabras pueden encontrar más.",
    "search.count_one": "1 producto para “{query}”",
    "search.count_many": "{count} productos para “{query}”",
    "search.searched_as": "Se buscó en el catálogo: {words}",
    "chat.limits": "Límites",
    "chat.limits_help": "El asistente los respeta; tus preguntas pueden acotarlos más.",
    "chat.new": "Nueva conversación",
    "chat.looking": "Revisando el catálogo…",
    "chat.writing": "Escribiendo una respuesta…",
    "chat.thinking": "Pensando…",
    "chat.stop": "Detener",
    "chat.stopped": "Detenido antes de terminar la respuesta.",
    "chat.examples": "Pregunta por productos con tus propias palabras, por ejemplo:",
    "chat.example_1": "¿Un parlante bluetooth portátil por menos de 50 dólares?",
    "chat.example_2": "Cartucho de tinta cian para una HP DesignJet",
    "chat.example_3": "Do you have cheap wireless mice?",  # the other language works too
    "chat.input": "Pregunta por productos…",
    "sign_in.title": "Acceso para comerciantes",
    "sign_in.done": "Iniciaste sesión; las páginas de comerciante están en el menú.",
    "sign_in.accounts": "Las cuentas de comerciante las crea quien opera la tienda con "
    "`dona merchant add NAME --catalog CATALOG`.",
    "sign_in.username": "Usuario",
    "sign_in.password": "Contraseña",
    "sign_in.submit": "Iniciar sesión",
    "upload.title": "Subir catálogo: {catalog}",
    "upload.live": "Publicada ahora: versión {version}, {products} productos, fase de "
    "índice {phase}. Los compradores la siguen usando hasta que una nueva carga termine.",
    "upload.empty": "Este catálogo todavía no tiene productos.",
    "upload.file": "Archivo de catálogo: CSV, arreglo JSON, JSON Lines (opcionalmente .gz) "
    "o XLSX (hasta {limit} MB)",
    "upload.choose": "Elige un archivo; verás una vista previa y un informe de validación "
    "antes de que cambie nada.",
    "upload.too_large": "{name} supera el límite de {limit} MB (DONA_MAX_UPLOAD_MB).",
    "upload.checking": "Revisando el archivo…",
    "upload.preview": "Vista previa",
    "upload.preview_caption": "{name}: {format}, {columns} columnas; las primeras {rows} filas",
    "upload.mapping": "Asignación de columnas",
    "upload.mapping_help": "Qué columna de tu archivo contiene cada campo del producto. Las "
    "columnas sin asignar se guardan como atributos del producto.",
    "upload.not_used": "(sin usar)",
    "upload.field.id": "obligatorio, único por producto",
    "upload.field.title": "obligatorio",
    "upload.field.price_minor": "centavos enteros",
    "upload.currency": "Moneda de los precios que no indican ninguna",
    "upload.cents": "Los precios están en centavos enteros",
    "upload.cents_help": "Márcalo si la columna de precio tiene unidades menores (1299 para "
    "12,99).",
    "upload.validation": "Validación",
    "upload.problems": "{count} de {total} filas tienen problemas. Corrígelas en tu archivo "
    "y vuelve a subirlo, o déjalas afuera más abajo.",
    "upload.problems_listed": "{count} de {total} filas tienen problemas (se listan las "
    "primeras {listed}). Corrígelas en tu archivo y vuelve a subirlo, o déjalas afuera más "
    "abajo.",
    "upload.column.row": "fila",
    "upload.column.id": "id del producto",
    "upload.column.problem": "problema",
    "upload.skip_one": "Dejar afuera la fila con problemas y cargar los {count} productos válidos",
    "upload.skip_many": "Dejar afuera las filas con problemas y cargar los {count} "
    "productos válidos",
    "upload.valid": "Las {total} filas son válidas: {count} productos.",
    "upload.ingest": "Cargar",
    "upload.starting": "Comenzando…",
    "upload.stage.parse": "lectura",
    "upload.stage.store": "guardado",
    "upload.stage.embed": "vectores",
    "upload.stage.index": "índice",
    "upload.finished": "listo",
    "upload.done": "La versión {version} de {catalog} está publicada: {products} productos "
    "({embedded} vectorizados, {cached} desde la caché) en {seconds} s.",
    "upload.done_skipped": "La versión {version} de {catalog} está publicada: {products} "
    "productos ({embedded} vectorizados, {cached} desde la caché, {skipped} filas con "
    "problemas dejadas afuera) en {seconds} s.",
    "versions.title": "Versiones: {catalog}",
    "versions.none": "Todavía no hay versiones: primero sube un catálogo.",
    "versions.kept": "Se guardan en disco la versión publicada y hasta {count} anteriores, "
    "que se pueden restaurar; al restaurar, los compradores pasan a verla al instante.",
    "versions.row": "Versión {version} · {status} · {products} productos · índice {phase} · "
    "{source} · {created}",
    "versions.restore": "Restaurar v{version}",
    "versions.restored": "La versión {version} está publicada de nuevo.",
    "versions.recent": "Cargas recientes",
    "versions.column.started": "inicio",
    "versions.column.file": "archivo",
    "versions.column.status": "estado",
    "versions.column.rows": "filas",
    "versions.column.ingested": "cargadas",
    "versions.column.left_out": "dejadas afuera",
    "versions.column.message": "mensaje",
    "status.live": "publicada",
    "status.ready": "guardada",
    "status.building": "en construcción",
    "status.failed": "falló",
    "status.retired": "retirada",
    "status.running": "en curso",
    "status.succeeded": "completada",
    "status.rejected": "rechazada",
    "quant.title": "Cuantización: {catalog}",
    "quant.no_catalog": "Primero sube un catálogo; después se pueden medir sobre él fases "
    "de índice más baratas.",
    "quant.serving": "Se sirve la versión {version} con la fase de índice {phase} {config}. "
    "Una fase más barata solo se adopta si pierde menos del {threshold} de nDCG@10, "
    "Recall@10 y Recall@100 frente a float32, en recuperación densa e híbrida, medido aquí "
    "sobre tu catálogo.",
    "quant.probes": "Sin consultas evaluadas, la medición usa {count} consultas de prueba "
    "hechas con tus propios productos (títulos, marca + categoría, frases de atributos), y "
    "cada una debería encontrar su producto.",
    "quant.candidates": "Candidatas (f32 siempre se mide como referencia)",
    "quant.measure": "Medir",
    "quant.adopt": "Medir y adoptar la más barata que pase",
    "quant.measuring": "Midiendo…",
    "quant.measured": "Medido",
    "quant.plot": "Calidad frente a memoria (en verde: pasa el umbral)",
    "quant.none_passes": "Ninguna candidata pasa el umbral; el catálogo conserva su índice actual.",
    "quant.adopted": "Se adoptó {candidate}: la versión {version} está publicada ({bytes} "
    "bytes de RAM activa por vector).",
    "quant.already": "{candidate} ya está en uso; no cambió nada.",
    "quant.would_adopt": "El umbral adoptaría {candidate} ({bytes} bytes de RAM activa por "
    "vector).",
    "quant.column.candidate": "candidata",
    "quant.column.mode": "modo",
    "quant.column.drop": "caída de nDCG",
    "quant.column.ram": "RAM B/vector",
    "quant.column.disk": "disco B/vector",
    "quant.column.gate": "umbral",
    "quant.pass": "pasa",
    "quant.fail": "NO PASA",
    "quality.title": "Informes de calidad",
    "quality.yours": "Tu catálogo: {catalog}",
    "quality.no_version": "Tu catálogo todavía no tiene una versión publicada.",
    "quality.reference": "Tu catálogo se sirve con {phase}, la referencia float32; todavía "
    "no se adoptó ninguna fase más barata (ver Cuantización).",
    "quality.adopted": "Se adoptó {candidate} sobre {dataset} (umbral {threshold}, {kind})",
    "quality.label_free": "sin etiquetas",
    "quality.labelled": "con etiquetas",
    "quality.phases": "Fases de índice sobre el catálogo de demostración (consultas evaluadas)",
    "quality.no_phases": "Todavía no hay informe de fases; lo escribe `make eval-report`.",
    "quality.chat": "Modelos de chat (GGUF incluidos)",
    "quality.no_chat": "Todavía no hay informe de chat; lo escribe `make eval-llm`.",
    "quality.chat_caption": "Proporciones sobre 12 preguntas (más es mejor); tiempo hasta "
    "el primer token en segundos; memoria máxima de todo el proceso en MB.",
    "quality.speed": "tokens por segundo",
    "quality.correct": "respuestas correctas (proporción)",
    "quality.size": "MB del archivo del modelo",
    "quality.chart_caption": "Calidad frente a velocidad; cuanto más grande el punto, más "
    "grande el archivo del modelo.",
    "quality.search_speed": "Velocidad de búsqueda",
    "quality.scale": "Escala",
    "cli.ingested": "la versión {version} del catálogo {catalog!r} está publicada: "
    "{products} productos ({embedded} vectorizados, {cached} desde la caché) en {seconds} s",
    "cli.skipped": "se omitieron {count} filas no válidas:",
    "cli.more": "  ... y {count} más",
    "cli.row": "fila {row}",
    "cli.row_id": "fila {row} (id {id!r})",
    "cli.searched_as": "se buscó: {words}",
    "cli.no_match": "ningún producto coincide",
    "cli.no_price": "sin precio",
    "cli.no_catalogs": "todavía no hay catálogos; ejecuta 'dona ingest FILE'",
    "cli.catalog_live": "{name}: v{version}, {products} productos, {phase}",
    "cli.catalog_not_live": "{name}: sin versión publicada",
    "cli.version": "v{version}: {status}, {products} productos, {phase}, de {source} el {created}",
    "cli.version_restorable": "v{version}: {status} (se puede restaurar), {products} "
    "productos, {phase}, de {source} el {created}",
    "cli.rolled_back": "la versión {version} del catálogo {catalog!r} está publicada de nuevo",
    "cli.password": "Contraseña: ",
    "cli.password_again": "Repite la contraseña: ",
    "cli.merchant_added": "el comerciante {username!r} administra el catálogo {catalog!r}",
    "cli.password_changed": "se cambió la contraseña de {username!r}",
    "cli.merchant_removed": "se eliminó el comerciante {username!r}",
    "cli.no_merchants": "todavía no hay comerciantes; agrega uno con 'dona merchant add "
    "NAME --catalog CATALOG'",
    "cli.note": "nota: {notice}",
    "cli.checked": "verificado con el catálogo:",
    "cli.chat_intro": "Pregunta por el catálogo; una línea vacía o Ctrl-D termina.",
    "cli.you": "tú> ",
    "cli.error": "error: {message}",
}

MESSAGES: dict[Language, dict[str, str]] = {"en": EN, "es": ES}


def t(key: str, language: Language, **values: object) -> str:
    """The message `key` in `language`, with `values` filled in (never parsed themselves).
    An unknown key is a bug: KeyError."""
    table = MESSAGES.get(language, EN)
    return table[key].format(**values)


def has(key: str) -> bool:
    return key in EN


def fields(template: str) -> set[str]:
    """The names a template fills in: "{count} of {total!r}" -> {"count", "total"}."""
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


# ---- errors -----------------------------------------------------------------------------

# Spanish for the errors shoppers and merchants commonly meet, by `DonaError.code`. The
# English sentence is the error's own str(); `params` fill these in. Whole numbers are
# written the Spanish way, lists joined with "y", `minutes` as "1 minuto" / "N minutos".
ERRORS_ES: dict[str, str] = {
    # shoppers
    "query_empty": "escribe lo que buscas (la búsqueda está vacía)",
    "min_price_invalid": "el precio mínimo debe ser un número mayor o igual a 0",
    "max_price_invalid": "el precio máximo debe ser un número mayor o igual a 0",
    "price_range": "el precio mínimo ({min}) es mayor que el máximo ({max})",
    "no_catalog": "todavía no se cargó ningún catálogo; primero ejecuta 'dona ingest FILE'",
    "catalog_unknown": "no existe un catálogo llamado {name!r}; carga uno con 'dona ingest "
    "FILE --catalog {name}' (ver 'dona catalogs')",
    "catalog_not_live": "el catálogo {name!r} todavía no tiene una versión publicada; carga "
    "un archivo",
    "catalog_busy": "ya hay otra carga del catálogo {name!r} en curso; espera a que termine",
    # merchants: sign-in
    "sign_in_required": "primero inicia sesión como comerciante",
    "wrong_catalog": "el comerciante {username!r} administra el catálogo {catalog!r}, no {other!r}",
    "wrong_credentials": "usuario o contraseña incorrectos",
    "signed_out": "tu cuenta de comerciante fue eliminada o cambió su contraseña; vuelve a "
    "iniciar sesión",
    "signed_out_idle": "se cerró tu sesión después de {minutes} sin actividad; vuelve a "
    "iniciar sesión",
    "sign_in_limit_user": "demasiados inicios de sesión fallidos para {username!r}; vuelve a "
    "intentarlo en {minutes}",
    "sign_in_limit_client": "demasiados inicios de sesión fallidos desde tu dirección; "
    "vuelve a intentarlo en {minutes}",
    "sign_in_limit_shop": "demasiados inicios de sesión fallidos en esta tienda; vuelve a "
    "intentarlo en {minutes}",
    "sign_in_unavailable": "el inicio de sesión no está disponible en este momento; vuelve "
    "a intentarlo en un momento",
    "passwords_differ": "las dos contraseñas no coinciden; no se cambió nada",
    # merchants: catalog files
    "file_not_found": "no existe el archivo: {path}",
    "file_is_folder": "{path} es una carpeta; indica el archivo de catálogo que contiene",
    "file_over_limit": "{name} pesa {size_mb} MB, más que el límite de {limit_mb} MB "
    "(DONA_MAX_UPLOAD_MB)",
    "file_too_large": "el catálogo supera el límite de {limit_mb} MB (DONA_MAX_UPLOAD_MB); "
    "divídelo o sube el límite",
    "file_empty": "el archivo está vacío; sube un catálogo con al menos un producto",
    "file_no_header": "el archivo está vacío; sube un catálogo con una fila de encabezado",
    "file_no_products": "el archivo tiene encabezado pero ningún producto",
    "file_no_valid_products": "no hay productos válidos en el archivo; no se cambió nada",
    "file_binary": "el archivo es binario, no un catálogo (¿una planilla? expórtala como "
    "CSV UTF-8)",
    "file_not_utf8": "el archivo no es texto UTF-8 (byte ilegible 0x{byte} en la línea "
    "{line}); guárdalo como UTF-8 (en Excel: 'CSV UTF-8') y vuelve a subirlo",
    "file_xls": "es una planilla .xls antigua; guárdala como .xlsx o expórtala como CSV UTF-8",
    "file_xlsx_unreadable": "no se puede leer la planilla (¿un libro dañado o protegido?); "
    "guárdala de nuevo como .xlsx o expórtala como CSV UTF-8",
    "file_xlsx_damaged": "no se puede leer la planilla más allá de su encabezado (¿un libro "
    "dañado?); guárdala de nuevo como .xlsx o expórtala como CSV UTF-8",
    "file_xlsx_empty": "la primera hoja está vacía; pon el encabezado en la fila 1",
    "file_json_not_list": "el JSON es un objeto, no una lista de productos; sube un arreglo "
    'JSON de productos o un objeto como {{"products": [...]}}',
    "file_too_many_rows": "el archivo tiene más de {limit} filas; divídelo en archivos más "
    "pequeños",
    "file_no_columns": "esto no parece un catálogo de productos: no hay columna para "
    "{missing} (columnas encontradas: {columns}). Nombra las columnas ({examples}) o asigna "
    "las tuyas (`dona ingest --map {field}=COLUMNA`, o la asignación de columnas en la "
    "página de carga).",
    "file_no_such_column": "el archivo no tiene una columna {column!r} para usar como "
    "{field}; sus columnas son {columns}",
    "check_too_slow": "revisar el archivo llevó más de {seconds} s; divide el catálogo en "
    "archivos más pequeños",
    "check_memory": "revisar el archivo necesitó más de {limit_mb} MB de memoria; divide el "
    "catálogo en archivos más pequeños",
    "check_crashed": "la revisión del archivo se detuvo de forma inesperada (código de "
    "salida {status}); vuelve a intentarlo o exporta el catálogo como CSV UTF-8",
    "rows_invalid": "{count} de {total} filas no son válidas, así que no se cambió nada: "
    "{listed}. Corrige esas filas o carga el archivo con --skip-bad-rows para dejarlas "
    "afuera.",
}

_AND = {"en": " and ", "es": " y "}


def _param(name: str, value: object, language: Language) -> object:
    if isinstance(value, bool):
        return value
    if name == "minutes" and isinstance(value, int):
        unit = ("minute", "minutes") if language == "en" else ("minuto", "minutos")
        return f"{value} {unit[0] if value == 1 else unit[1]}"
    if isinstance(value, int):
        return number(value, language)
    if isinstance(value, float):
        text = f"{value:g}"
        return text.replace(".", ",") if language == "es" else text

    if isinstance(value, list | tuple):
        items = [str(v) for v in value]
        if len(items) > 1:
            return ", ".join(items[:-1]) + _AND[language] + items[-1]
        return "".join(items)
    return value


def row_problem(problem: RowProblem, language: Language) -> str:
    """One bad row as the merchant reads it ("row 4 (id 'k3'): missing title"). The
    reason itself is the parser's English words."""
    key = "cli.row_id" if problem.product_id else "cli.row"
    where = t(key, language, row=problem.row, id=problem.product_id)
    return f"{where}: {problem.reason}"


def localized(error: DonaError | BaseException, language: Language) -> str:
    """The error as a person reads it in `language`: the Spanish rendering of a known
    `code`, else (English, or an error without one) `str(error)`."""
    code = getattr(error, "code", None)
    template = ERRORS_ES.get(code) if language == "es" and isinstance(code, str) else None
    if template is None:
        return str(error)
    params = {k: _param(k, v, language) for k, v in (getattr(error, "params", None) or {}).items()}
    if code == "rows_invalid":
        problems = list(getattr(error, "problems", ()))
        count = getattr(error, "problem_count", len(problems))
        shown = getattr(error, "max_listed", 20)
        listed = "; ".join(row_problem(p, language) for p in problems[:shown])
        if count > shown:
            listed += f"; y {number(count - shown, language)} más"
        params["listed"] = listed
    try:
        return template.format(**params)
    except (KeyError, IndexError, ValueError):  # a raise site without its params: English
        return str(error)
