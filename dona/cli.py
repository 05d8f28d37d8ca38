"""`dona` command line: a thin shell over `dona.service.Dona`.

Errors a user can act on (`DonaError`) print one line on stderr and exit non-zero.
"""

from __future__ import annotations

import json
import os
import sys
from functools import lru_cache
from pathlib import Path
from typing import Annotated

import typer

from dona.errors import DonaError
from dona.i18n import (
    Language,
    has,
    localized,
    number,
    resolve_language,
    row_problem,
    system_locale,
    t,
)

app = typer.Typer(
    name="dona",
    help="DONA product assistant: ingest catalogs, search them, chat about them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

CatalogOpt = Annotated[
    str | None, typer.Option("--catalog", "-c", help="Catalog name (default: DONA_CATALOG).")
]


def _service():
    from dona.service import Dona

    return Dona()


@lru_cache(maxsize=1)
def _language() -> Language:
    """DONA_LANGUAGE; with "auto", the environment's locale (LC_ALL, LC_MESSAGES, LANG)."""
    from dona.config import get_settings

    try:
        setting = get_settings().language
    except DonaError:  # a bad DONA_* value: its error still needs a language
        setting = os.environ.get("DONA_LANGUAGE", "auto")
    return resolve_language(setting, system_locale(os.environ))


def _say(key: str, **values: object) -> str:
    """A CLI message in the user's language (`dona.i18n.t`)."""
    return t(key, _language(), **values)


@app.command()
def ingest(
    path: Annotated[
        Path, typer.Argument(help="CSV, JSON or JSON Lines file (optionally .gz), or XLSX")
    ],
    catalog: CatalogOpt = None,
    skip_bad_rows: Annotated[
        bool, typer.Option(help="Leave invalid rows out (they are listed) instead of rejecting.")
    ] = False,
    currency: Annotated[
        str | None, typer.Option(help="Currency of prices that do not name one (e.g. EUR).")
    ] = None,
    prices_in_cents: Annotated[
        bool, typer.Option(help="The price column holds integer minor units (cents).")
    ] = False,
    column_map: Annotated[
        list[str] | None,
        typer.Option(
            "--map",
            help="FIELD=COLUMN: read a product field from a column the automatic mapping "
            "does not know (repeatable), e.g. --map title='Nombre del artículo'. "
            "FIELD= leaves the field out.",
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Ingest a catalog file as a new version; it goes live only when complete."""
    columns = _column_map(column_map or [])
    from tqdm import tqdm

    bars: dict[str, tqdm] = {}

    def progress(stage: str, done: int, total: int) -> None:
        if quiet:
            return
        for other in [name for name in bars if name != stage]:
            bars.pop(other).close()  # one bar at a time: parse, store, embed, index
        bar = bars.get(stage)
        if bar is None:
            bar = bars[stage] = tqdm(total=total, desc=f"{stage:>6}", leave=True, file=sys.stderr)
        bar.total = total
        bar.n = done
        bar.refresh()

    service = _service()
    try:
        report = service.ingest_file(
            path,
            catalog=catalog,
            skip_bad_rows=skip_bad_rows,
            currency=currency,
            prices_in_minor_units=prices_in_cents,
            progress=progress,
            columns=columns,
        )
    finally:
        for bar in bars.values():
            bar.close()
    typer.echo(
        _say(
            "cli.ingested",
            catalog=report.catalog,
            version=report.version,
            products=report.products,
            embedded=report.embedded,
            cached=report.cached,
            seconds=number(report.seconds, _language(), decimals=1),
        )
    )
    if report.skipped_count:
        typer.echo(_say("cli.skipped", count=report.skipped_count))
        for problem in report.skipped[:50]:
            typer.echo(f"  {row_problem(problem, _language())}")
        if report.skipped_count > 50:
            typer.echo(_say("cli.more", count=report.skipped_count - 50))


def _column_map(items: list[str]) -> dict[str, str]:
    """--map title=Nombre ... -> {"title": "Nombre"}; a plain error for anything else."""
    from dona.catalog import PRODUCT_FIELDS
    from dona.errors import ConfigError

    columns: dict[str, str] = {}
    for item in items:
        field, sep, column = item.partition("=")
        field = field.strip().lower()
        if not sep or field not in PRODUCT_FIELDS:
            raise ConfigError(
                f"--map {item[:80]!r} is not FIELD=COLUMN with FIELD one of: "
                f"{', '.join(PRODUCT_FIELDS)}"
            )
        columns[field] = column.strip()
    return columns


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="What the shopper is looking for.")],
    catalog: CatalogOpt = None,
    k: Annotated[int, typer.Option("--k", "-k", min=1, max=1000, help="Results.")] = 10,
    min_price: Annotated[float | None, typer.Option(help="Lowest price.")] = None,
    max_price: Annotated[float | None, typer.Option(help="Highest price.")] = None,
    brand: Annotated[
        list[str] | None, typer.Option("--brand", help="Only this brand (repeatable).")
    ] = None,
    category: Annotated[str | None, typer.Option(help="Category contains this text.")] = None,
    in_stock: Annotated[bool, typer.Option("--in-stock", help="Only products in stock.")] = False,
    mode: Annotated[str, typer.Option(help="hybrid, dense or lexical.")] = "hybrid",
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Search the live version of a catalog."""
    from dona.search import Filters

    filters = Filters(
        min_price=min_price,
        max_price=max_price,
        brands=tuple(brand or ()),
        category=category,
        in_stock=in_stock,
    )
    response = _service().search(query, catalog=catalog, k=k, filters=filters, mode=mode)  # type: ignore[arg-type]
    if as_json:
        typer.echo(json.dumps(response.to_dict(), ensure_ascii=False, indent=2))
        return
    if response.searched_as:
        typer.echo(_say("cli.searched_as", words=response.searched_as))
    if not response.results:
        typer.echo(_say("cli.no_match"))
        return
    for rank, result in enumerate(response.results, start=1):
        p = result.product
        price = f"{p.price:,.2f} {p.currency}" if p.price is not None else _say("cli.no_price")
        brand_text = f" [{p.brand}]" if p.brand else ""
        typer.echo(f"{rank:>3}. {p.title}{brand_text}  {price}  (id {p.id})")


@app.command()
def catalogs(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List catalogs and their live versions."""
    rows = _service().catalogs()
    if as_json:
        typer.echo(json.dumps([row.to_dict() for row in rows], indent=2))
        return
    if not rows:
        typer.echo(_say("cli.no_catalogs"))
        return
    for row in rows:
        if row.version:
            typer.echo(
                _say(
                    "cli.catalog_live",
                    name=row.name,
                    version=row.version,
                    products=row.products,
                    phase=row.phase,
                )
            )
        else:
            typer.echo(_say("cli.catalog_not_live", name=row.name))


@app.command()
def versions(
    catalog: CatalogOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """A catalog's versions, newest first: which is live and which can be restored."""
    rows = _service().versions(catalog)
    if as_json:
        typer.echo(json.dumps([row.to_dict() for row in rows], indent=2))
        return
    for row in rows:
        typer.echo(
            _say(
                "cli.version_restorable" if row.restorable else "cli.version",
                version=row.version,
                status=_say(f"status.{row.status}") if has(f"status.{row.status}") else row.status,
                products=row.products,
                phase=row.phase or "-",
                source=row.source or "-",
                created=row.created or "-",
            )
        )


@app.command()
def rollback(
    version: Annotated[int, typer.Argument(help="The version number to make live again.")],
    catalog: CatalogOpt = None,
) -> None:
    """Serve an earlier kept version of a catalog again (see 'dona versions')."""
    service = _service()
    live = service.rollback(catalog, version)
    typer.echo(_say("cli.rolled_back", catalog=service.resolve_catalog(catalog), version=live))


@app.command()
def models(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Embedders, index phases, chat backends and bundled chat models, a line each."""
    from dataclasses import asdict

    from dona.inventory import inventory

    sections = inventory()
    if as_json:
        typer.echo(json.dumps({k: [asdict(i) for i in v] for k, v in sections.items()}, indent=2))
        return
    for title, entries in sections.items():
        typer.echo(f"{title}:")
        for info in entries:
            typer.echo(f"  {info.line()}")


merchant_app = typer.Typer(help="Merchant accounts for the upload pages.", no_args_is_help=True)
app.add_typer(merchant_app, name="merchant")


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    import getpass

    first = getpass.getpass(_say("cli.password"))
    if getpass.getpass(_say("cli.password_again")) != first:
        raise DonaError("the two passwords differ; nothing was changed", code="passwords_differ")
    return first


PasswordStdin = Annotated[
    bool,
    typer.Option("--password-stdin", help="Read the password from the first line of stdin."),
]


@merchant_app.command("add")
def merchant_add(
    username: Annotated[str, typer.Argument(help="Sign-in name (lowercase).")],
    catalog: Annotated[str, typer.Option("--catalog", "-c", help="The catalog it manages.")],
    password_stdin: PasswordStdin = False,
) -> None:
    """Create a merchant account that may change one catalog."""
    merchant = _service().accounts.create(username, _read_password(password_stdin), catalog)
    typer.echo(_say("cli.merchant_added", username=merchant.username, catalog=merchant.catalog))


@merchant_app.command("set-password")
def merchant_set_password(
    username: Annotated[str, typer.Argument(help="Sign-in name.")],
    password_stdin: PasswordStdin = False,
) -> None:
    """Change a merchant's password (also clears their failed sign-ins)."""
    _service().accounts.set_password(username, _read_password(password_stdin))
    typer.echo(_say("cli.password_changed", username=username.strip().lower()))


@merchant_app.command("remove")
def merchant_remove(username: Annotated[str, typer.Argument(help="Sign-in name.")]) -> None:
    """Delete a merchant account (its catalog stays)."""
    _service().accounts.remove(username)
    typer.echo(_say("cli.merchant_removed", username=username.strip().lower()))


@merchant_app.command("list")
def merchant_list() -> None:
    """Merchant accounts and their catalogs."""
    merchants = _service().accounts.merchants()
    if not merchants:
        typer.echo(_say("cli.no_merchants"))
    for merchant in merchants:
        typer.echo(f"{merchant.username}: {merchant.catalog}")


def _parse_candidates(phase: list[str] | None, config: list[str] | None):
    from dona.eval.harness import DEFAULT_CANDIDATES, Candidate

    if not phase:
        if config:
            raise DonaError("--config needs a --phase to apply to")
        return DEFAULT_CANDIDATES
    configs = list(config or [])
    if configs and len(configs) != len(phase):
        raise DonaError("give one --config per --phase (or none)")
    out = []
    for i, name in enumerate(phase):
        try:
            values = json.loads(configs[i]) if configs else {}
        except json.JSONDecodeError as exc:
            raise DonaError(f"--config {configs[i]!r} is not JSON: {exc.msg}") from None
        if not isinstance(values, dict):
            raise DonaError(f"--config {configs[i]!r} must be a JSON object")
        out.append(Candidate.of(name, **values))
    return out


QueriesOpt = Annotated[Path | None, typer.Option(help="TSV: query_id, query.")]
LabelsOpt = Annotated[Path | None, typer.Option(help="TSV: query_id, product_id, rating.")]
ThresholdOpt = Annotated[
    float, typer.Option(min=0.0, max=1.0, help="Largest allowed relative drop vs f32.")
]
HalfOpt = Annotated[
    str | None,
    typer.Option(
        help="Only this half (A or B) of the labelled queries, fixed by query id: "
        "choose on A, confirm on B."
    ),
]


@app.command("eval")
def eval_command(
    catalog: CatalogOpt = None,
    queries: QueriesOpt = None,
    labels: LabelsOpt = None,
    json_path: Annotated[Path | None, typer.Option("--json", help="Write results as JSON.")] = None,
    report: Annotated[Path | None, typer.Option(help="Write a Markdown report.")] = None,
    plot: Annotated[Path | None, typer.Option(help="Write a PNG quality-vs-memory plot.")] = None,
    phase: Annotated[
        list[str] | None, typer.Option(help="Candidate phase (repeatable; default: all).")
    ] = None,
    config: Annotated[
        list[str] | None,
        typer.Option(help="JSON config per --phase, e.g. '{\"symmetric\": true}'."),
    ] = None,
    gate: Annotated[
        bool,
        typer.Option(help="Exit 1 if the serving configuration (or each --phase) fails the gate."),
    ] = False,
    threshold: ThresholdOpt = 0.03,
    relevant_at: Annotated[int, typer.Option(help="Rating that counts as relevant.")] = 2,
    probes: Annotated[int, typer.Option(help="Label-free probe queries when no labels.")] = 300,
    half: HalfOpt = None,
    floors: Annotated[
        Path | None,
        typer.Option(help="JSON of absolute floors the gated configuration must stay above."),
    ] = None,
) -> None:
    """Measure index phases (dense and hybrid) against f32 on labelled or probe queries."""
    from dona.eval.harness import (
        Candidate,
        evaluate_phases,
        load_floors,
        load_query_set,
        markdown_report,
        write_outputs,
    )

    floor_set = load_floors(floors) if floors else None  # a bad file fails before measuring
    service = _service()
    candidates = list(_parse_candidates(phase, config))
    if phase:
        gated = list(candidates)
    else:  # gate the configuration the catalog is served with; always measure it
        serving = service.index_setting(catalog)
        gated = [Candidate.of(serving.phase, **serving.config)]
        candidates += [c for c in gated if c not in candidates]
    data, dataset, label_free = load_query_set(service, catalog, queries, labels, probes, half)
    result = evaluate_phases(
        service,
        catalog,
        data,
        dataset,
        candidates,
        relevant_at=relevant_at,
        threshold=threshold,
        label_free=label_free,
        progress=lambda message: typer.echo(message, err=True),
    )
    write_outputs(result, json_path, report, plot)
    typer.echo(markdown_report(result))
    failures = [f for c in gated for f in result.gate_failures(c)]
    if floor_set is not None:
        for c in gated:
            for floor, value, holds in floor_set.check(result, c):
                typer.echo(
                    f"floor {floor.name!r}: {c.label} ({floor.mode}) {floor.metric} "
                    f"{value:.4f} {'>=' if holds else '<'} {floor.minimum:.4f} "
                    f"{'ok' if holds else 'BROKEN'}"
                )
            failures += floor_set.failures(result, c)
    if gate:
        if failures:
            raise DonaError("quality gate failed: " + "; ".join(failures))
        typer.echo(
            f"quality gate passed: {', '.join(c.label for c in gated)}"
            + (f", above the floors in {floors}" if floors else "")
        )


@app.command()
def quantize(
    auto: Annotated[
        bool, typer.Option("--auto", help="Adopt the cheapest phase that passes.")
    ] = False,
    catalog: CatalogOpt = None,
    queries: QueriesOpt = None,
    labels: LabelsOpt = None,
    threshold: ThresholdOpt = 0.03,
    probes: Annotated[int, typer.Option(help="Label-free probe queries when no labels.")] = 300,
    phase: Annotated[
        list[str] | None, typer.Option(help="Limit the candidates (repeatable).")
    ] = None,
    config: Annotated[list[str] | None, typer.Option(help="JSON config per --phase.")] = None,
    half: HalfOpt = None,
    confident: Annotated[
        bool,
        typer.Option(
            "--confident",
            help="Adopt only a candidate whose drops stay under the threshold at the upper "
            "end of their 95% bootstrap interval (choices that hold on other queries).",
        ),
    ] = False,
) -> None:
    """Measure the candidates on this catalog and serve the one with the least hot RAM
    whose quality drop stays under the gate (a new catalog version, switched atomically)."""
    from dona.eval.harness import BASELINE, autopilot, load_query_set, markdown_report

    if not auto and not phase:
        raise DonaError("say --auto, or name the --phase to try (it still has to pass the gate)")
    service = _service()
    candidates = _parse_candidates(phase, config)
    if phase:
        candidates = [BASELINE, *candidates]
    data, dataset, label_free = load_query_set(service, catalog, queries, labels, probes, half)
    result, version = autopilot(
        service,
        catalog,
        data,
        dataset,
        label_free,
        threshold=threshold,
        candidates=candidates,
        progress=lambda message: typer.echo(message, err=True),
        confident=confident,
    )
    typer.echo(markdown_report(result))
    adopted = result.adopted.candidate.label if result.adopted else "none"
    if version is None:
        typer.echo(f"already serving {adopted}; nothing changed")
    else:
        typer.echo(f"now serving {adopted} as version {version}")


BackendOpt = Annotated[
    str | None,
    typer.Option("--backend", help="llamacpp, openai, rkllm or extractive (DONA_LLM_BACKEND)."),
]
ModelOpt = Annotated[
    str | None,
    typer.Option(
        "--model", help="Bundled model name, .gguf path or server model (DONA_LLM_MODEL)."
    ),
]


def _chat_engine(catalog: str | None, backend: str | None, model: str | None):
    from dona.chat import ChatEngine, Conversation
    from dona.config import get_settings
    from dona.service import Dona

    updates = {k: v for k, v in {"llm_backend": backend, "llm_model": model}.items() if v}
    settings = get_settings().model_copy(update=updates)
    service = Dona(settings)
    return ChatEngine(service), Conversation(catalog=service.resolve_catalog(catalog))


def _print_products(answer) -> None:
    from dona.formatting import format_price

    for rank, p in enumerate(answer.products, start=1):
        price = format_price(p.price, p.currency) if p.price is not None else _say("cli.no_price")
        mark = "*" if p.id in answer.cited_ids else " "
        typer.echo(f" {mark}{rank}. {p.title}  {price}  (id {p.id})")


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="The shopper's question, in their words.")],
    catalog: CatalogOpt = None,
    backend: BackendOpt = None,
    model: ModelOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Answer one question from the catalog, citing real products."""
    engine, conversation = _chat_engine(catalog, backend, model)
    stream = engine.stream(question, conversation)
    if as_json:
        typer.echo(json.dumps(stream.finish().to_dict(), ensure_ascii=False, indent=2))
        return
    for piece in stream:
        typer.echo(piece, nl=False)
    answer = stream.finish()
    typer.echo()
    _print_checked(answer)
    _print_products(answer)


def _print_checked(answer) -> None:
    """The notice, and the checked answer when it replaced the streamed wording."""
    if answer.notice:
        typer.echo(_say("cli.note", notice=answer.notice), err=True)
    if answer.repairs and answer.model_text:
        typer.echo(_say("cli.checked"))
        typer.echo(answer.text)


@app.command()
def chat(
    catalog: CatalogOpt = None,
    backend: BackendOpt = None,
    model: ModelOpt = None,
) -> None:
    """Interactive chat (streamed); follow-ups refer to the products shown. Ctrl-D ends."""
    engine, conversation = _chat_engine(catalog, backend, model)
    engine.warm(conversation.catalog)  # load the model and read its fixed prompt once
    typer.echo(_say("cli.chat_intro"))
    while True:
        try:
            question = input(_say("cli.you")).strip()
        except (EOFError, KeyboardInterrupt):
            typer.echo()
            return
        if not question:
            return
        try:
            stream = engine.stream(question, conversation)
            typer.echo("dona> ", nl=False)
            for piece in stream:
                typer.echo(piece, nl=False)
            answer = stream.finish()
        except DonaError as exc:  # a bad question must not end the conversation
            typer.echo(_say("cli.error", message=localized(exc, _language())), err=True)
            continue
        typer.echo()
        _print_checked(answer)
        _print_products(answer)


@app.command("eval-llm")
def eval_llm(
    questions: Annotated[
        Path, typer.Option(help="JSON Lines question set with expectations.")
    ] = Path("evals/datasets/chorus_icecat/llm_questions.jsonl"),
    catalog: CatalogOpt = None,
    backend: BackendOpt = None,
    model: Annotated[
        list[str] | None,
        typer.Option("--model", help="Model to evaluate (repeatable; default DONA_LLM_MODEL)."),
    ] = None,
    json_path: Annotated[Path | None, typer.Option("--json", help="Write results as JSON.")] = None,
    report: Annotated[Path | None, typer.Option(help="Write a Markdown report.")] = None,
    injections: Annotated[
        Path | None,
        typer.Option(help="JSON Lines prompt-injection attempts to run too ('' for none)."),
    ] = Path("evals/datasets/chorus_icecat/llm_injections.jsonl"),
) -> None:
    """Correctness, groundedness, false denials, language, repairs, injections obeyed,
    speed and memory per model."""
    from dona.config import get_settings
    from dona.eval.chat_models import (
        evaluate_models,
        load_injections,
        load_questions,
        markdown,
        to_json,
    )

    settings = get_settings()
    if catalog:
        settings = settings.model_copy(update={"catalog": catalog})
    items = load_questions(questions)
    attempts = load_injections(injections) if injections and str(injections) else None
    name = backend or settings.llm_backend
    runs = [(name, m) for m in (model or [settings.llm_model])]
    results = evaluate_models(settings, items, runs, attempts)
    text = markdown(results, questions.name)
    if report:
        report.write_text(text)
    if json_path:
        json_path.write_text(json.dumps(to_json(results, questions.name), indent=2))
    typer.echo(text)


def main() -> None:
    try:
        app()  # standalone: usage errors print their own message and exit 2
    except DonaError as exc:
        typer.echo(_say("cli.error", message=localized(exc, _language())), err=True)
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
