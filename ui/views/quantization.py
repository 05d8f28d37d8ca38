"""The quantization panel: measure cheaper index phases on the merchant's own catalog and
adopt one only through the 3% gate (dona/eval/harness.py does the measuring and the gate)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import streamlit as st
from shared import current_dona, require_merchant, run_guarded

from dona.errors import CatalogNotFoundError
from dona.eval.harness import (
    DEFAULT_CANDIDATES,
    DEFAULT_THRESHOLD,
    autopilot,
    evaluate_phases,
    plot_quality_vs_memory,
    probe_queries,
)

PROBES = 300


def result_table(result) -> list[dict]:
    return [
        {
            "candidate": m.candidate.label,
            "mode": m.mode,
            "nDCG@10": round(m.mean("ndcg@10"), 4),
            "R@10": round(m.mean("recall@10"), 3),
            "R@100": round(m.mean("recall@100"), 3),
            "nDCG drop": f"{m.drop.get('ndcg@10', 0.0):+.1%}",
            "RAM B/vector": round(m.ram_bytes_per_vector),
            "disk B/vector": round(m.disk_bytes_per_vector),
            "p50 ms": round(float(np.percentile(m.latencies_ms, 50)), 2),
            "gate": "pass" if m.passes_gate else "FAIL",
        }
        for m in result.measurements
    ]


def show_result(result, adopted_version: int | None, adopt: bool) -> None:
    st.dataframe(result_table(result), hide_index=True, width="stretch")
    with tempfile.TemporaryDirectory() as tmp:
        plot = Path(tmp) / "quality_vs_memory.png"
        plot_quality_vs_memory(result, plot)
        st.image(plot.read_bytes(), caption="Quality against memory (green: passes the gate)")
    if result.adopted is None:
        st.warning("No candidate passes the gate; the catalog keeps its current index.")
    elif adopt and adopted_version is not None:
        st.success(
            f"Adopted {result.adopted.candidate.label}: version {adopted_version} is live "
            f"({result.adopted.ram_bytes_per_vector:,.0f} hot-RAM bytes per vector)."
        )
    elif adopt:
        st.info(f"{result.adopted.candidate.label} is already serving; nothing changed.")
    else:
        st.info(
            f"The gate would adopt {result.adopted.candidate.label} "
            f"({result.adopted.ram_bytes_per_vector:,.0f} hot-RAM bytes per vector)."
        )


def quantization_page() -> None:
    merchant = require_merchant()
    dona = current_dona()
    catalog = merchant.catalog
    st.header(f"Quantization: {catalog}")
    try:
        serving = dona.index_setting(catalog, merchant=merchant)  # the core checks
    except CatalogNotFoundError:
        st.info("Upload a catalog first; then cheaper index phases can be measured on it.")
        return
    st.caption(
        f"Serving version {serving.version} with index phase {serving.phase} "
        f"{serving.config or ''}. A cheaper phase is adopted only when it loses less "
        f"than {DEFAULT_THRESHOLD:.0%} nDCG@10, Recall@10 and Recall@100 against float32, in "
        "dense and hybrid retrieval, measured here on your catalog."
    )
    st.caption(
        f"Without judged queries the measurement uses {PROBES} probe queries made from your "
        "own products (titles, brand + category, attribute phrases), each of which should "
        "find its product."
    )
    labels = {c.label: c for c in DEFAULT_CANDIDATES}
    chosen = st.multiselect(
        "Candidates (f32 is always measured as the reference)",
        list(labels),
        default=list(labels),
        key="merchant_candidates",
    )
    left, right = st.columns(2)
    measure = left.button("Measure", key="merchant_measure")
    adopt = right.button("Measure and adopt the cheapest that passes", type="primary",
                         key="merchant_autopilot")  # fmt: skip
    if not (measure or adopt):
        return
    candidates = [labels[label] for label in chosen]
    status = st.status("Measuring…", expanded=False)
    products = dona.all_products(catalog)
    data = probe_queries(products, n=PROBES)
    dataset = f"{catalog} (probes)"
    if adopt:
        result, version = autopilot(
            dona, catalog, data, dataset, label_free=True, candidates=candidates,
            progress=status.write,
        )  # fmt: skip
    else:
        result = evaluate_phases(
            dona, catalog, data, dataset, candidates, label_free=True, progress=status.write
        )
        version = None
    status.update(label="Measured", state="complete")
    show_result(result, version, adopt)


run_guarded(quantization_page)
