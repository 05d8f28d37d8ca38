"""A catalog's versions and recent ingests; restore an earlier version in one click."""

from __future__ import annotations

import streamlit as st
from shared import current_dona, language, require_merchant, run_guarded, tr

from dona.errors import CatalogNotFoundError
from dona.i18n import has, number


def status(value: str) -> str:
    """A version's or an ingest's status in the session's language (unknown ones as is)."""
    return tr(f"status.{value}") if has(f"status.{value}") else value


def versions_page() -> None:
    merchant = require_merchant()
    dona = current_dona()
    st.header(tr("versions.title", catalog=merchant.catalog))
    restored = st.session_state.pop("merchant_restored", None)
    if restored:
        st.success(tr("versions.restored", version=restored))
    try:
        versions = dona.versions(merchant.catalog, merchant=merchant)
    except CatalogNotFoundError:
        st.info(tr("versions.none"))
        return
    st.caption(tr("versions.kept", count=dona.settings.keep_versions - 1))
    for row in versions:
        with st.container(border=True, key=f"merchant_version_{row.version}"):
            left, right = st.columns([4, 1])
            left.text(
                tr(
                    "versions.row",
                    version=row.version,
                    status=status(row.status),
                    products=number(row.products, language()),
                    phase=row.phase or "-",
                    source=row.source or "-",
                    created=(row.created or "")[:19].replace("T", " "),
                )
            )
            if row.restorable and right.button(
                tr("versions.restore", version=row.version), key=f"merchant_restore_{row.version}"
            ):
                live = dona.rollback(merchant.catalog, row.version, merchant=merchant)
                st.session_state["merchant_restored"] = live
                st.rerun()

    st.subheader(tr("versions.recent"))
    runs = dona.ingest_runs(merchant.catalog, limit=20, merchant=merchant)
    st.dataframe(
        [
            {
                tr("versions.column.started"): run.started[:19].replace("T", " "),
                tr("versions.column.file"): run.source or "",
                tr("versions.column.status"): status(run.status),
                tr("versions.column.rows"): run.rows_total,
                tr("versions.column.ingested"): run.rows_ingested,
                tr("versions.column.left_out"): run.rows_skipped,
                tr("versions.column.message"): (run.message or "")[:200],
            }
            for run in runs
        ],
        hide_index=True,
        width="stretch",
    )


run_guarded(versions_page)
