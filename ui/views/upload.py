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
from shared import current_dona, require_merchant, run_guarded

from dona.catalog import PRODUCT_FIELDS, map_columns
from dona.catalog.isolated import Limits, parse_isolated, preview_isolated
from dona.errors import DonaError
from dona.formatting import snippet
from dona.service import INGEST_STAGES

if TYPE_CHECKING:
    from dona.store.accounts import Merchant

NOT_USED = "(not used)"
FIELD_HELP = {
    "id": "required, unique per product",
    "title": "required",
    "price_minor": "integer cents",
}
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
            with st.spinner("Checking the file…"):
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
    options = [NOT_USED, *columns]
    choices: dict[str, str] = {}
    with st.expander("Column mapping", expanded=not {"id", "title"} <= automatic.keys()):
        st.caption("Which column of your file holds each product field. Unmapped columns "
                   "are kept as product attributes.")  # fmt: skip
        grid = st.columns(3)
        for number, field in enumerate(PRODUCT_FIELDS):
            preset = automatic.get(field)
            with grid[number % 3]:
                chosen = st.selectbox(
                    field + (f" ({FIELD_HELP[field]})" if field in FIELD_HELP else ""),
                    options,
                    index=options.index(preset) if preset in options else 0,
                    key=f"merchant_map_{file_key}_{field}",
                )
            choices[field] = "" if chosen == NOT_USED else chosen
    return choices


def show_problems(problems, total_rows: int, count: int) -> None:
    listed = f" (the first {len(problems):,} are listed)" if count > len(problems) else ""
    st.error(
        f"{count} of {total_rows} rows have problems{listed}. Fix them in your file and "
        "upload it again, or leave them out below."
    )
    st.dataframe(
        [
            {"row": p.row, "product id": p.product_id or "", "problem": p.reason}
            for p in problems[:1000]
        ],
        hide_index=True,
        width="stretch",
    )


def ingest(data: bytes, name: str, merchant: Merchant, skip: bool, options: dict) -> None:
    bar = st.progress(0.0, text="Starting…")

    def progress(stage: str, done: int, total: int) -> None:
        step = INGEST_STAGES.index(stage) if stage in INGEST_STAGES else 0
        fraction = (step + (done / total if total else 1.0)) / len(INGEST_STAGES)
        detail = f" {done:,}/{total:,}" if stage == "embed" and total else ""
        bar.progress(min(fraction, 1.0), text=f"{stage}{detail}")

    report = current_dona().ingest_bytes(
        data,
        filename=name,
        catalog=merchant.catalog,
        skip_bad_rows=skip,
        progress=progress,
        merchant=merchant,  # the core refuses any other catalog
        **options,
    )
    bar.progress(1.0, text="done")
    left_out = f", {len(report.skipped)} bad rows left out" if report.skipped else ""
    st.session_state["merchant_last_ingest"] = (
        f"Version {report.version} of {report.catalog} is live: {report.products:,} products "
        f"({report.embedded:,} embedded, {report.cached:,} from cache{left_out}) in "
        f"{report.seconds:.1f} s."
    )
    st.session_state["merchant_upload_round"] = st.session_state.get("merchant_upload_round", 0) + 1
    st.rerun()


def upload_page() -> None:
    merchant = require_merchant()
    dona = current_dona()
    catalog = merchant.catalog
    st.header(f"Upload catalog: {catalog}")
    done = st.session_state.pop("merchant_last_ingest", None)
    if done:
        st.success(done)
    live = next((c for c in dona.catalogs() if c.name == catalog and c.version), None)
    if live:
        st.caption(
            f"Live now: version {live.version}, {live.products:,} products, index "
            f"phase {live.phase}. Shoppers keep using it until a new upload is complete."
        )
    else:
        st.caption("This catalog has no products yet.")

    limit_mb = dona.settings.max_upload_mb
    upload = st.file_uploader(
        f"Catalog file: CSV, JSON array, JSON Lines (optionally .gz) or XLSX (up to {limit_mb} MB)",
        type=["csv", "json", "jsonl", "ndjson", "gz", "txt", "xlsx"],
        key=f"merchant_file_{st.session_state.get('merchant_upload_round', 0)}",
    )
    if upload is None:
        st.info("Choose a file; you will see a preview and a validation report before "
                "anything changes.")  # fmt: skip
        return
    data = upload.getvalue()
    if len(data) > limit_mb * 1024 * 1024:
        st.error(f"{upload.name} is over the {limit_mb} MB limit (DONA_MAX_UPLOAD_MB).")
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
    st.subheader("Preview")
    st.caption(f"{upload.name}: {fmt}, {len(columns)} columns; the first {len(sample)} rows")
    st.dataframe(
        [{c: snippet(str(row.get(c, "") or ""), 80) for c in columns} for row in sample],
        hide_index=True,
        width="stretch",
    )
    choices = column_mapping(columns, file_key)
    left, right = st.columns(2)
    currency = left.text_input(
        "Currency of prices that name none", value=dona.settings.default_currency,
        max_chars=3, key=f"merchant_currency_{file_key}",
    )  # fmt: skip
    in_cents = right.checkbox(
        "Prices are integer cents", key=f"merchant_cents_{file_key}",
        help="Tick when the price column holds minor units (1299 for 12.99).",
    )  # fmt: skip
    options = {"currency": currency or None, "prices_in_minor_units": in_cents, "columns": choices}

    st.subheader("Validation")
    parse_options = dona.parse_options(**options)
    result = checked(
        sha,
        ("check", upload.name, repr(parse_options)),
        lambda: parse_isolated(data, upload.name, parse_options, limits),
    )
    skip = False
    if result.problems:
        show_problems(result.problems, result.total_rows, result.problem_count)
        skip = st.checkbox(
            f"Leave the bad {'row' if result.problem_count == 1 else 'rows'} out and ingest "
            f"the {len(result.products):,} valid products",
            key=f"merchant_skip_{file_key}",
        )
    else:
        st.success(f"All {result.total_rows:,} rows are valid: {len(result.products):,} products.")
    ready = bool(result.products) and (skip or not result.problems)
    if st.button("Ingest", type="primary", disabled=not ready, key=f"merchant_ingest_{file_key}"):
        ingest(data, upload.name, merchant, skip, options)


run_guarded(upload_page)
