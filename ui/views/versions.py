"""A catalog's versions and recent ingests; restore an earlier version in one click."""

from __future__ import annotations

import streamlit as st
from shared import current_dona, require_merchant, run_guarded

from dona.errors import CatalogNotFoundError


def versions_page() -> None:
    merchant = require_merchant()
    dona = current_dona()
    st.header(f"Versions: {merchant.catalog}")
    restored = st.session_state.pop("merchant_restored", None)
    if restored:
        st.success(restored)
    try:
        versions = dona.versions(merchant.catalog, merchant=merchant)
    except CatalogNotFoundError:
        st.info("No versions yet: upload a catalog first.")
        return
    st.caption(
        f"The live version and up to {dona.settings.keep_versions - 1} earlier ones are kept "
        "on disk and can be restored; restoring switches shoppers over at once."
    )
    for row in versions:
        with st.container(border=True, key=f"merchant_version_{row.version}"):
            left, right = st.columns([4, 1])
            left.text(
                f"Version {row.version} · {row.status} · {row.products:,} products · "
                f"index {row.phase or '-'} · {row.source or '-'} · "
                f"{(row.created or '')[:19].replace('T', ' ')}"
            )
            if row.restorable and right.button(
                f"Restore v{row.version}", key=f"merchant_restore_{row.version}"
            ):
                number = dona.rollback(merchant.catalog, row.version, merchant=merchant)
                st.session_state["merchant_restored"] = f"Version {number} is live again."
                st.rerun()

    st.subheader("Recent ingests")
    runs = dona.ingest_runs(merchant.catalog, limit=20, merchant=merchant)
    st.dataframe(
        [
            {
                "started": run.started[:19].replace("T", " "),
                "file": run.source or "",
                "status": run.status,
                "rows": run.rows_total,
                "ingested": run.rows_ingested,
                "left out": run.rows_skipped,
                "message": (run.message or "")[:200],
            }
            for run in runs
        ],
        hide_index=True,
        width="stretch",
    )


run_guarded(versions_page)
