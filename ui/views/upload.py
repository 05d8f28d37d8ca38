"""Upload a catalog: preview, column mapping, the validation report, then ingest.

Nothing changes until the merchant presses Ingest, and then only if the file is valid
(or the merchant chose to leave the bad rows out). The ingest builds a new version beside
the live one, which keeps serving shoppers until the new one is complete.

The preview and the validation run in a child process with memory and CPU limits
(`dona.catalog.isolated`), once per file and settings: reruns reuse the result, kept in
the session by the file's sha256, so a hostile upload costs one bounded child, never the
server that serves shoppers.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import streamlit as st
from shared import current_dona, language, require_merchant, run_guarded, tr

from dona.catalog import PRODUCT_FIELDS, map_columns
from dona.catalog.isolated import Limits, parse_isolated, preview_isolated
from dona.errors import DonaError
from dona.formatting import snippet
from dona.i18n import number
from dona.service import INGEST_STAGES

if TYPE_CHECKING:
    from dona.store.accounts import Merchant

FIELD_HELP = ("id", "title", "price_minor")  # fields with a note (upload.field.*)
CHECKS = "merchant_upload_checks"  # session key: the current file's checks
MAX_CHECKS = 4  # validations kept per file (the merchant trying settings); oldest go first


def checked(sha: str, key: tuple, work: Callable[[], Any]) -> Any:
    """`work()` once per uploaded file (by sha256) and `key`; on reruns its result, or
    its error again, without reading the file. Only the current file's checks are kept."""
    cache = st.session_state.get(CHECKS)
    if not cache or cache["sha"] != sha:
        cache = st.session_state[CHECKS] = {"sha": sha, "results": {}}
    results: dict[tuple, tuple[bool, Any]] = cache["results"]
    if key not in results:
        try:
            with st.spinner(tr("upload.checking")):
                results[key] = (True, work())
        except DonaError as exc:
            results[key] = (False, exc)
        checks = [k for k in results if k[0] == "check"]
        for old in checks[: max(len(checks) - MAX_CHECKS, 0)]:
            del results[old]
    fine, value = results[key]
    if not fine:
        raise value
    return value


def column_mapping(columns: list[str], file_key: str) -> dict[str, str]:
    """A selector per product field, preset to the automatic mapping."""
    automatic = map_columns(columns)
    options: list[str | None] = [None, *columns]  # None: the field is not used
    not_used = tr("upload.not_used")
    choices: dict[str, str] = {}
    with st.expander(tr("upload.mapping"), expanded=not {"id", "title"} <= automatic.keys()):
        st.caption(tr("upload.mapping_help"))
        grid = st.columns(3)
        for position, field in enumerate(PRODUCT_FIELDS):
            preset = automatic.get(field)
            with grid[position % 3]:
                chosen = st.selectbox(
                    field + (f" ({tr(f'upload.field.{field}')})" if field in FIELD_HELP else ""),
                    options,
                    index=options.index(preset) if preset in options else 0,
                    format_func=lambda column: not_used if column is None else column,
                    key=f"merchant_map_{file_key}_{field}",
                )
            choices[field] = chosen or ""
    return choices


def show_problems(problems, total_rows: int, count: int) -> None:
    lang = language()
    values = {"count": number(count, lang), "total": number(total_rows, lang)}
    if count > len(problems):
        st.error(tr("upload.problems_listed", listed=number(len(problems), lang), **values))
    else:
        st.error(tr("upload.problems", **values))
    row, ident, problem = (tr(f"upload.column.{c}") for c in ("row", "id", "problem"))
    st.dataframe(
        [{row: p.row, ident: p.product_id or "", problem: p.reason} for p in problems[:1000]],
        hide_index=True,
        width="stretch",
    )


def ingest(data: bytes, name: str, merchant: Merchant, skip: bool, options: dict) -> None:
    bar = st.progress(0.0, text=tr("upload.starting"))

    def progress(stage: str, done: int, total: int) -> None:
        step = INGEST_STAGES.index(stage) if stage in INGEST_STAGES else 0
        fraction = (step + (done / total if total else 1.0)) / len(INGEST_STAGES)
        lang = language()
        detail = (
            f" {number(done, lang)}/{number(total, lang)}" if stage == "embed" and total else ""
        )
        name = tr(f"upload.stage.{stage}") if stage in INGEST_STAGES else stage
        bar.progress(min(fraction, 1.0), text=f"{name}{detail}")

    report = current_dona().ingest_bytes(
        data,
        filename=name,
        catalog=merchant.catalog,
        skip_bad_rows=skip,
        progress=progress,
        merchant=merchant,  # the core refuses any other catalog
        **options,
    )
    bar.progress(1.0, text=tr("upload.finished"))
    lang = language()
    st.session_state["merchant_last_ingest"] = tr(
        "upload.done_skipped" if report.skipped_count else "upload.done",
        version=report.version,
        catalog=report.catalog,
        products=number(report.products, lang),
        embedded=number(report.embedded, lang),
        cached=number(report.cached, lang),
        skipped=number(report.skipped_count, lang),
        seconds=number(report.seconds, lang, decimals=1),
    )
    st.session_state["merchant_upload_round"] = st.session_state.get("merchant_upload_round", 0) + 1
    st.rerun()


def upload_page() -> None:
    merchant = require_merchant()
    dona = current_dona()
    catalog = merchant.catalog
    st.header(tr("upload.title", catalog=catalog))
    done = st.session_state.pop("merchant_last_ingest", None)
    if done:
        st.success(done)
    live = next((c for c in dona.catalogs() if c.name == catalog and c.version), None)
    if live:
        products = number(live.products, language())
        st.caption(tr("upload.live", version=live.version, products=products, phase=live.phase))
    else:
        st.caption(tr("upload.empty"))

    limit_mb = dona.settings.max_upload_mb
    upload = st.file_uploader(
        tr("upload.file", limit=limit_mb),
        type=["csv", "json", "jsonl", "ndjson", "gz", "txt", "xlsx"],
        key=f"merchant_file_{st.session_state.get('merchant_upload_round', 0)}",
    )
    if upload is None:
        st.info(tr("upload.choose"))
        return
    data = upload.getvalue()
    if len(data) > limit_mb * 1024 * 1024:
        st.error(tr("upload.too_large", name=upload.name, limit=limit_mb))
        return
    sha = hashlib.sha256(data).hexdigest()
    file_key = sha[:12]
    limits = Limits.for_upload(len(data))
    columns, sample, fmt = checked(
        sha,
        ("preview", upload.name),
        lambda: preview_isolated(
            data, upload.name, max_bytes=limit_mb * 1024 * 1024, limits=limits
        ),
    )
    st.subheader(tr("upload.preview"))
    st.caption(
        tr("upload.preview_caption", name=upload.name, format=fmt, columns=len(columns),
           rows=len(sample))
    )  # fmt: skip
    st.dataframe(
        [{c: snippet(str(row.get(c, "") or ""), 80) for c in columns} for row in sample],
        hide_index=True,
        width="stretch",
    )
    choices = column_mapping(columns, file_key)
    left, right = st.columns(2)
    currency = left.text_input(
        tr("upload.currency"), value=dona.settings.default_currency,
        max_chars=3, key=f"merchant_currency_{file_key}",
    )  # fmt: skip
    in_cents = right.checkbox(
        tr("upload.cents"), key=f"merchant_cents_{file_key}", help=tr("upload.cents_help"),
    )  # fmt: skip
    options = {"currency": currency or None, "prices_in_minor_units": in_cents, "columns": choices}

    st.subheader(tr("upload.validation"))
    parse_options = dona.parse_options(**options)
    result = checked(
        sha,
        ("check", upload.name, repr(parse_options)),
        lambda: parse_isolated(data, upload.name, parse_options, limits),
    )
    skip = False
    if result.problems:
        show_problems(result.problems, result.total_rows, result.problem_count)
        valid = number(len(result.products), language())
        skip = st.checkbox(
            tr("upload.skip_one" if result.problem_count == 1 else "upload.skip_many", count=valid),
            key=f"merchant_skip_{file_key}",
        )
    else:
        lang = language()
        total, valid = number(result.total_rows, lang), number(len(result.products), lang)
        st.success(tr("upload.valid", total=total, count=valid))
    ready = bool(result.products) and (skip or not result.problems)
    ingest_label = tr("upload.ingest")
    if st.button(
        ingest_label, type="primary", disabled=not ready, key=f"merchant_ingest_{file_key}"
    ):
        ingest(data, upload.name, merchant, skip, options)


run_guarded(upload_page)
