"""Upload a catalog: preview, column mapping, the validation report, then ingest.

Nothing changes until the merchant presses Ingest, and then only if the file is valid
(or the merchant chose to leave the bad rows out). The ingest builds a new version beside
the live one, which keeps serving shoppers until the new one is complete.
"""

from __future__ import annotations

import hashlib

import streamlit as st
from shared import current_dona, require_merchant, run_guarded

from dona.catalog import PRODUCT_FIELDS, map_columns, preview_rows
from dona.formatting import snippet
from dona.service import INGEST_STAGES

NOT_USED = "(not used)"
FIELD_HELP = {
    "id": "required, unique per product",
    "title": "required",
    "price_minor": "integer cents",
}


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


def show_problems(problems, total_rows: int) -> None:
    st.error(
        f"{len(problems)} of {total_rows} rows have problems. Fix them in your file and "
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


def ingest(data: bytes, name: str, catalog: str, skip: bool, options: dict) -> None:
    bar = st.progress(0.0, text="Starting…")

    def progress(stage: str, done: int, total: int) -> None:
        step = INGEST_STAGES.index(stage) if stage in INGEST_STAGES else 0
        fraction = (step + (done / total if total else 1.0)) / len(INGEST_STAGES)
        detail = f" {done:,}/{total:,}" if stage == "embed" and total else ""
        bar.progress(min(fraction, 1.0), text=f"{stage}{detail}")

    report = current_dona().ingest_bytes(
        data, filename=name, catalog=catalog, skip_bad_rows=skip, progress=progress, **options
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
    file_key = hashlib.sha256(data).hexdigest()[:12]
    columns, sample, fmt = preview_rows(data, upload.name, max_bytes=limit_mb * 1024 * 1024)
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
    result = dona.check_upload(data, upload.name, **options)
    skip = False
    if result.problems:
        show_problems(result.problems, result.total_rows)
        skip = st.checkbox(
            f"Leave the bad {'row' if len(result.problems) == 1 else 'rows'} out and ingest "
            f"the {len(result.products):,} valid products",
            key=f"merchant_skip_{file_key}",
        )
    else:
        st.success(f"All {result.total_rows:,} rows are valid: {len(result.products):,} products.")
    ready = bool(result.products) and (skip or not result.problems)
    if st.button("Ingest", type="primary", disabled=not ready, key=f"merchant_ingest_{file_key}"):
        ingest(data, upload.name, catalog, skip, options)


run_guarded(upload_page)
