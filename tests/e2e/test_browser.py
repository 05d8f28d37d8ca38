"""End to end: the shopper pages in a real browser against a real `streamlit run` server.

AppTest (tests/ui) runs the page scripts without a frontend; here Debian's Chromium, driven
by Playwright, loads the served app over HTTP and a WebSocket, so what is checked is what a
shopper sees: the chat, its product cards, the search page and a phone-sized layout; and
what a merchant does: sign in, upload a file with a bad row, read the validation report,
upload the fixed file, ingest, after which a shopper finds the new product. One
server answers with the extractive backend (deterministic, no model); another streams the
bundled SmolLM2 through llama.cpp.

Every step leaves a screenshot in $DONA_E2E_SCREENSHOTS (default evals/reports/e2e/).
Skipped without /usr/bin/chromium or playwright, unless DONA_REQUIRE_E2E=1 (then it fails).
Nothing is downloaded: Playwright drives the system Chromium, never its own browsers.
"""

from __future__ import annotations

import csv
import io
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from dona.chat.engine import NOTICES

try:
    from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright
except ImportError:  # reported by the module-level skip below
    sync_playwright = None

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"


def _missing() -> str | None:
    if sync_playwright is None:
        return "playwright is not installed (.venv/bin/pip install playwright==1.65.2)"
    if not os.access(CHROMIUM, os.X_OK):
        return f"{CHROMIUM} is not installed (apt-get install chromium)"
    return None


if (_why := _missing()) is not None:
    if os.environ.get("DONA_REQUIRE_E2E") == "1":
        pytest.fail(f"DONA_REQUIRE_E2E=1 but {_why}", pytrace=False)
    pytest.skip(_why, allow_module_level=True)

pytestmark = pytest.mark.e2e

# What works in containers (no sandbox, no GPU) and keeps the browser off the network.
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WAIT_MS = 60_000  # first question of a session: the server loads Dona and the embedder
MODEL_WAIT_MS = 180_000  # a local model on a couple of shared cores
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}

SPEAKER = "Boombox Mini Bluetooth Speaker"
POCKET = "Pocket Bluetooth Speaker Go"
PARTY = "Party Speaker XL 200W"
CABLE = "USB-C Charging Cable 1m"
# Ingest strips real HTML tags (so `<b>` cannot reach a page as markup); what survives,
# Markdown and a javascript: link, must still reach the shopper as plain text.
MARKUP_RAW = "Glow Lamp <b>bold</b> **x** [click](javascript:alert(1))"
MARKUP_SHOWN = "Glow Lamp bold **x** [click](javascript:alert(1))"
COLUMNS = ["id", "title", "brand", "description", "price", "currency", "stock", "url"]
PRODUCTS = [
    ("sp1", SPEAKER, "Acme", "Portable wireless speaker, 12 hour battery.", "49.99", "USD", "5",
     "https://shop.example/sp1"),
    ("sp2", POCKET, "Sonora", "Small bluetooth speaker for the pocket.", "29.95", "USD", "8", ""),
    ("sp3", PARTY, "Sonora", "Loud bluetooth party speaker with lights.", "449.00", "USD", "2",
     ""),
    ("cb1", CABLE, "Acme", "A short braided cable for phones.", "4.99", "USD", "100", ""),
    ("hp1", "Studio Noise Cancelling Headphones", "Sonora", "Over-ear wireless headphones.",
     "299.00", "USD", "3", ""),
    ("x1", MARKUP_RAW, "Acme", "A desk lamp. <i>warm</i> **light** :red[red]", "19.95", "USD",
     "4", ""),
]  # fmt: skip

# The scroll containers of a Streamlit page (the document itself does not scroll).
SCROLLERS = (
    "[data-testid=stMain], [data-testid=stAppScrollToBottomContainer], "
    "[data-testid=stAppViewContainer], [data-testid=stSidebarContent]"
)
JS_CONTENT_HEIGHT = f"""() => Math.max(document.documentElement.scrollHeight,
    ...[...document.querySelectorAll("{SCROLLERS}")].map(e => e.scrollHeight))"""
JS_CONTENT_WIDTH = f"""() => Math.max(document.documentElement.scrollWidth,
    ...[...document.querySelectorAll("{SCROLLERS}")].map(e => e.scrollWidth))"""
# Records every in-progress state of the assistant's answer text: proof that it streamed.
JS_WATCH_STREAM = """() => {
    window.__donaSeen = [];
    new MutationObserver(() => {
        for (const el of document.querySelectorAll(
                '[data-testid=stChatMessage] [data-testid=stText]')) {
            const text = el.textContent;
            if ((text.endsWith("\\u258c") || text === "Writing an answer\\u2026")
                    && !window.__donaSeen.includes(text)) window.__donaSeen.push(text);
            if (text.endsWith("\\u258c")) window.__donaCardsWhileStreaming = Math.max(
                window.__donaCardsWhileStreaming || 0,
                document.querySelectorAll('[class*="st-key-dona-card-pending"]').length);
        }
    }).observe(document.body, {subtree: true, childList: true, characterData: true});
}"""


# ---- the catalog, the servers, the browser -------------------------------------------


def catalog_csv() -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(COLUMNS)
    writer.writerows(PRODUCTS)
    return buf.getvalue().encode()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A DONA data dir holding the catalog, ingested with the real default embedder."""
    from dona import config
    from dona.service import Dona

    path = tmp_path_factory.mktemp("dona-e2e") / "data"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DONA_DATA_DIR", str(path))
        mp.delenv("DONA_DATABASE_URL", raising=False)
        mp.delenv("DONA_CATALOG", raising=False)
        config.get_settings.cache_clear()
        dona = Dona()
        try:
            assert dona.ingest_bytes(catalog_csv(), filename="c.csv").products == len(PRODUCTS)
            titles = [r.product.title for r in dona.search("glow lamp", k=3).results]
            assert MARKUP_SHOWN in titles  # what the browser must show, character for character
        finally:
            dona.store.dispose()
    config.get_settings.cache_clear()
    return path


@contextmanager
def streamlit_server(data_dir: Path, **env: str) -> Iterator[str]:
    """`streamlit run ui/app.py` on a free port; yields its URL once /_stcore/health is ok."""
    port = free_port()
    child_env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("DONA_LLM_") and k not in ("DONA_DATABASE_URL", "DONA_CATALOG")
    }  # the developer's own DONA settings must not leak into the served app
    child_env.update(DONA_DATA_DIR=str(data_dir), **env)
    log = data_dir.parent / f"streamlit-{port}.log"
    with open(log, "wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "ui/app.py",
             "--server.address", "127.0.0.1", "--server.port", str(port),
             "--server.headless", "true", "--browser.gatherUsageStats", "false"],
            cwd=REPO, env=child_env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120  # a startup limit, not a measurement
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"streamlit exited ({server.returncode}):\n{log.read_text()}")
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as resp:
                    if resp.read().strip() == b"ok":
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"streamlit did not become healthy:\n{log.read_text()}")
            time.sleep(0.25)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.fixture(scope="module")
def app_url(data_dir: Path) -> Iterator[str]:
    with streamlit_server(data_dir, DONA_LLM_BACKEND="extractive") as url:
        yield url


@pytest.fixture(scope="module")
def model_app_url(data_dir: Path, smollm2_path: str) -> Iterator[str]:
    """A second server whose chat runs the bundled SmolLM2 (sha256-verified) in process."""
    with streamlit_server(
        data_dir,
        DONA_LLM_BACKEND="llamacpp",
        DONA_LLM_MODEL=smollm2_path,
        DONA_LLM_MAX_TOKENS="40",
    ) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    # launch() gives every run a fresh temporary profile (user data dir) and removes it
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        expect.set_options(timeout=WAIT_MS)
        try:
            yield browser
        finally:
            expect.set_options(timeout=5_000)  # Playwright's default
            browser.close()


def new_page(browser: Browser, viewport: dict, **options) -> Iterator[Page]:
    context = browser.new_context(viewport=viewport, **options)  # a fresh Streamlit session
    context.set_default_timeout(WAIT_MS)
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    yield from new_page(browser, DESKTOP)


@pytest.fixture
def phone(browser: Browser) -> Iterator[Page]:
    yield from new_page(browser, PHONE, is_mobile=True, has_touch=True, device_scale_factor=2)


@pytest.fixture
def shot(request: pytest.FixtureRequest) -> Callable[[Page, str], Path]:
    """shot(page, "step") saves <test>-<nn>-<step>.png of the whole page."""
    folder = Path(os.environ.get("DONA_E2E_SCREENSHOTS") or REPO / "evals" / "reports" / "e2e")
    folder.mkdir(parents=True, exist_ok=True)
    test = request.node.name.removeprefix("test_")
    count = 0

    def take(page: Page, step: str) -> Path:
        nonlocal count
        count += 1
        path = folder / f"{test}-{count:02d}-{step}.png"
        # Streamlit scrolls inside its main container, so full_page alone captures one
        # screen: grow the viewport to the content for the shot, then put it back.
        size = page.viewport_size
        height = min(int(page.evaluate(JS_CONTENT_HEIGHT)), 10_000)
        page.set_viewport_size({"width": size["width"], "height": max(size["height"], height)})
        page.screenshot(path=path, full_page=True, animations="disabled")
        page.set_viewport_size(size)
        return path

    return take


# ---- what a shopper does and sees ----------------------------------------------------


def open_chat(page: Page, url: str) -> None:
    page.goto(url)
    expect(page.get_by_role("heading", name="DONA", exact=True)).to_be_visible()
    expect(chat_box(page)).to_be_enabled()


def chat_box(page: Page) -> Locator:
    return page.get_by_test_id("stChatInput").get_by_test_id("stChatInputTextArea")


def assistant_messages(page: Page) -> Locator:
    return page.get_by_test_id("stChatMessage").filter(
        has=page.get_by_test_id("stChatMessageAvatarAssistant")
    )


def cards(scope: Page | Locator) -> Locator:
    return scope.locator('[class*="st-key-dona-card"]')


def card_texts(scope: Page | Locator, part: str) -> list[str]:
    """The title (or price, brand...) of every product card in scope, in order."""
    return scope.locator(f'[class*="st-key-dona-{part}"] [data-testid=stText]').all_inner_texts()


def ask(page: Page, question: str, *, tap: bool = False, timeout: float = WAIT_MS) -> Locator:
    """Send a question; return the new assistant message once the answer is complete."""
    before = assistant_messages(page).count()
    box = chat_box(page)
    box.fill(question)
    if tap:  # as on a phone: the send button, not the Enter key
        page.get_by_test_id("stChatInputSubmitButton").click()
    else:
        box.press("Enter")
    message = assistant_messages(page).nth(before)
    expect(message).to_be_visible(timeout=timeout)
    # The input is disabled before the answer starts and enabled again by the rerun that
    # draws the finished answer, so an enabled input after the message means: done.
    expect(box).to_be_enabled(timeout=timeout)
    expect(box).to_have_value("")
    expect(assistant_messages(page)).to_have_count(before + 1)
    return message


def answer_text(message: Locator) -> str:
    return message.get_by_test_id("stText").first.inner_text()


def card_titles_and_prices(scope: Locator, count: int | None = None) -> tuple[list[str], list[str]]:
    """Titles and prices of the cards in scope. A page that is still being drawn holds
    fewer, so with `count` it first waits for that many prices (the price follows the
    title in each card)."""
    if count is not None:
        expect(scope.locator('[class*="st-key-dona-price"]')).to_have_count(count)
    titles, shown_prices = card_texts(scope, "title"), card_texts(scope, "price")
    assert len(titles) == len(shown_prices) == cards(scope).count() > 0
    return titles, shown_prices


def result_count(page: Page, query: str) -> int:
    """Wait for the search page's summary line ("3 products for “query”"); its number."""
    summary = page.get_by_text(re.compile(rf"^\d+ products? for “{re.escape(query)}”$"))
    expect(summary).to_be_visible()
    return int(summary.inner_text().split()[0])


def prices(texts: list[str]) -> list[float]:
    return [float(t.removeprefix("$").replace(",", "")) for t in texts]


# ---- the tests -----------------------------------------------------------------------


def test_ask_a_question(page: Page, app_url: str, shot):
    open_chat(page, app_url)
    expect(page).to_have_title("DONA")
    expect(page.get_by_text("Ask about products in your own words")).to_be_visible()
    examples = page.get_by_test_id("stButton").filter(has_text=re.compile("bluetooth speaker"))
    expect(examples).to_have_count(1)
    shot(page, "opened")

    message = ask(page, "bluetooth speaker under 60 dollars")
    answer = answer_text(message)
    # the computed answer: what meets the request, then the cheapest, cited
    assert answer.startswith("We have speakers with Bluetooth under $60.00:"), answer
    assert POCKET in answer and "[1]" in answer and "The cheapest is" in answer
    expect(cards(message).first).to_be_visible()
    titles, shown_prices = card_titles_and_prices(message)
    assert SPEAKER in titles and POCKET in titles and PARTY not in titles
    assert "$49.99" in shown_prices and "$29.95" in shown_prices
    assert max(prices(shown_prices)) <= 60  # the limit in the question held
    expect(message.get_by_text("[1] · cited in the answer")).to_be_visible()
    why = re.compile(r"matches (bluetooth, speaker|speaker, bluetooth) · up to \$60\.00")
    expect(message.get_by_text(why).first).to_be_visible()
    expect(examples).to_have_count(0)  # the examples make way for the conversation
    shot(page, "answered")

    expect(chat_box(page)).to_be_editable()  # usable again: type without sending
    chat_box(page).fill("and a cable?")
    expect(chat_box(page)).to_have_value("and a cable?")
    shot(page, "input-usable")


def test_follow_up_in_the_same_conversation(page: Page, app_url: str, shot):
    open_chat(page, app_url)
    first = ask(page, "bluetooth speaker under 60 dollars")
    first_answer = answer_text(first)
    shot(page, "first-answer")

    second = ask(page, "cheaper ones?")
    second_answer = answer_text(second)
    assert second_answer.strip() and second_answer != first_answer
    expect(page.get_by_test_id("stChatMessage")).to_have_count(4)  # user, DONA, user, DONA
    expect(page.get_by_test_id("stChatMessageAvatarUser")).to_have_count(2)
    expect(first.get_by_text(first_answer, exact=True)).to_be_visible()  # still on screen
    shot(page, "follow-up")


def test_catalog_markup_is_shown_as_text(page: Page, app_url: str, shot):
    open_chat(page, app_url)
    message = ask(page, "glow lamp")
    titles, shown_prices = card_titles_and_prices(message)
    assert MARKUP_SHOWN in titles
    assert shown_prices[titles.index(MARKUP_SHOWN)] == "$19.95"
    # the answer quotes it as text too, its link syntax taken apart (catalog text is data)
    assert "Glow Lamp bold **x** click (javascript:alert(1))" in answer_text(message)
    expect(message.get_by_text("A desk lamp. warm **light** :red[red]", exact=True)).to_be_visible()
    # Not rendered: no bold/italic element from the title, no link from the Markdown.
    assert page.locator("b, strong, em, i").filter(has_text=re.compile(r"^(bold|x)$")).count() == 0
    assert page.locator("a", has_text="click").count() == 0
    assert page.locator('a[href^="javascript:"]').count() == 0
    assert page.locator("strong, em", has_text="light").count() == 0  # nor the description's
    shot(page, "markup-as-text")


def test_search_page(page: Page, app_url: str, shot):
    open_chat(page, app_url)
    page.get_by_test_id("stSidebarNavLink").filter(has_text="Search products").click()
    expect(page).to_have_url(re.compile(r"/search$"))
    search = page.get_by_label("Search products")
    expect(search).to_be_visible()
    shot(page, "opened")

    search.fill("bluetooth speaker")
    search.press("Enter")
    found = result_count(page, "bluetooth speaker")
    expect(page).to_have_url(re.compile(r"/search\?q=bluetooth\+speaker$"))  # shareable
    main = page.get_by_test_id("stMain")
    titles, shown_prices = card_titles_and_prices(main, found)
    assert {SPEAKER, POCKET, PARTY} <= set(titles)
    assert shown_prices[titles.index(SPEAKER)] == "$49.99"
    shot(page, "results")

    page.goto(f"{app_url}/search?q=usb+cable")  # a shared link opens with its results
    expect(search).to_have_value("usb cable")
    titles, shown_prices = card_titles_and_prices(main, result_count(page, "usb cable"))
    assert titles[0] == CABLE and shown_prices[0] == "$4.99"
    shot(page, "shared-link")


def test_phone_width(phone: Page, app_url: str, shot):
    open_chat(phone, app_url)
    shot(phone, "opened")
    message = ask(phone, "bluetooth speaker under 60 dollars", tap=True)
    answer = message.get_by_test_id("stText").first
    expect(answer).to_be_visible()
    assert answer.inner_text().startswith("We have speakers with Bluetooth under $60.00:")
    card = cards(message).first
    card.scroll_into_view_if_needed()
    expect(card).to_be_in_viewport()
    box = card.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"] + 1
    width = phone.evaluate(JS_CONTENT_WIDTH)
    assert width <= PHONE["width"] + 2, f"horizontal scroll: content is {width}px wide"
    shot(phone, "answered")


def test_real_local_model_streams(page: Page, model_app_url: str, shot):
    open_chat(page, model_app_url)
    page.evaluate(JS_WATCH_STREAM)
    message = ask(page, "a bluetooth speaker", timeout=MODEL_WAIT_MS)
    answer = answer_text(message)
    assert answer.strip() and not answer.endswith("▌") and answer != "Writing an answer…"
    expect(cards(message).first).to_be_visible()
    titles, shown_prices = card_titles_and_prices(message)
    assert set(titles) & {SPEAKER, POCKET, PARTY}, titles  # the database's cards
    assert all(re.fullmatch(r"\$\d+\.\d\d", p) for p in shown_prices), shown_prices
    # the model answered: the extractive fallback also shows cards, but with this notice
    unavailable = NOTICES["en"]["fallback"].split("{reason}")[0]
    assert unavailable not in message.inner_text()
    # It streamed: partial answers (text + cursor) were drawn before the final one.
    seen = page.evaluate("() => window.__donaSeen")
    assert any(text.endswith("▌") for text in seen), f"no partial answer was drawn: {seen}"
    # the cards come from the search, so they are on screen while the model still writes
    assert page.evaluate("() => window.__donaCardsWhileStreaming") > 0
    shot(page, "answered")


# ---- the merchant -------------------------------------------------------------------

MERCHANT, MERCHANT_PASSWORD = "shopkeeper", "e2e password 123"
NEW_PRODUCT = "Solar Garden Lantern"


@pytest.fixture(scope="module")
def merchant_account(data_dir: Path) -> str:
    """A merchant for the served catalog, created as an operator would (the CLI)."""
    env = {**os.environ, "DONA_DATA_DIR": str(data_dir)}
    env.pop("DONA_DATABASE_URL", None)
    created = subprocess.run(
        [sys.executable, "-m", "dona.cli", "merchant", "add", MERCHANT, "--catalog", "default",
         "--password-stdin"],
        input=MERCHANT_PASSWORD + "\n", env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    return MERCHANT


def upload_csv(rows: list[tuple]) -> dict:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(COLUMNS)
    writer.writerows(rows)
    return {"name": "catalog.csv", "mimeType": "text/csv", "buffer": buf.getvalue().encode()}


def test_shopper_cannot_open_merchant_pages(page: Page, app_url: str, shot):
    for path in ("upload", "versions", "quantization", "quality"):
        page.goto(f"{app_url}/{path}")
        expect(page.get_by_role("heading", name="DONA", exact=True)).to_be_visible()
        expect(chat_box(page)).to_be_enabled()  # Streamlit falls back to the shopper's chat
        assert page.get_by_text("Upload catalog").count() == 0
        assert page.get_by_role("button", name="Ingest").count() == 0
    nav = page.get_by_test_id("stSidebarNavLink")
    expect(nav.filter(has_text="Merchant sign-in")).to_have_count(1)
    expect(nav.filter(has_text="Upload catalog")).to_have_count(0)
    shot(page, "merchant-url-as-shopper")


def test_merchant_uploads_a_catalog_the_shopper_then_finds(
    browser: Browser, page: Page, app_url: str, merchant_account: str, shot
):
    page.goto(f"{app_url}/sign-in")
    expect(page.get_by_role("heading", name="Merchant sign-in")).to_be_visible()
    page.get_by_role("textbox", name="Username").fill(merchant_account)
    page.get_by_role("textbox", name="Password").fill("wrong password!")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("wrong username or password")).to_be_visible()
    shot(page, "wrong-password")
    page.get_by_role("textbox", name="Password").fill(MERCHANT_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Upload catalog: default")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/upload$"))
    shot(page, "signed-in")

    new = ("gl1", NEW_PRODUCT, "Acme", "Solar powered lantern for the garden.", "24.50", "USD",
           "7", "")  # fmt: skip
    broken = (*new[:1], "", *new[2:])  # the new row without its title
    uploader = page.get_by_test_id("stFileUploaderDropzoneInput")
    uploader.set_input_files(upload_csv([*PRODUCTS, broken]))
    expect(page.get_by_text(f"1 of {len(PRODUCTS) + 1} rows have problems")).to_be_visible()
    expect(page.get_by_role("button", name="Ingest")).to_be_disabled()
    expect(page.get_by_text("missing title").first).to_be_attached()
    shot(page, "validation-report")

    uploader.set_input_files(upload_csv([*PRODUCTS, new]))  # the merchant fixed the row
    expect(page.get_by_text(f"All {len(PRODUCTS) + 1} rows are valid")).to_be_visible()
    shot(page, "fixed-file")
    page.get_by_role("button", name="Ingest").click()
    expect(page.get_by_text(re.compile(r"^Version \d+ of default is live"))).to_be_visible(
        timeout=MODEL_WAIT_MS
    )
    shot(page, "ingested")

    session = new_page(browser, DESKTOP)  # another browser session: a shopper
    shopper = next(session)
    try:
        shopper.goto(f"{app_url}/search?q=solar+lantern")
        titles, shown_prices = card_titles_and_prices(
            shopper.get_by_test_id("stMain"), result_count(shopper, "solar lantern")
        )
        assert titles[0] == NEW_PRODUCT and shown_prices[0] == "$24.50"
        shot(shopper, "shopper-finds-new-product")
    finally:
        session.close()
