"""The quantization panel: measure cheaper index phases on the merchant's own catalog and
adopt one only through the 3% gate (dona/eval/harness.py does the measuring and the gate)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import streamlit as st
from shared import current_dona, language, require_merchant, run_guarded, tr

from dona.errors import CatalogNotFoundError
from dona.eval.harness import (
    DEFAULT_CANDIDATES,
    DEFAULT_THRESHOLD,
    autopilot,
    evaluate_phases,
    plot_quality_vs_memory,
    probe_queries,
)
from dona.i18n import number

PROBES = 300


def result_table(result) -> list[dict]:
    return [
        {
            tr("quant.column.candidate"): m.candidate.label,
            tr("quant.column.mode"): m.mode,
            "nDCG@10": round(m.mean("ndcg@10"), 4),
            "R@10": round(m.mean("recall@10"), 3),
            "R@100": round(m.mean("recall@100"), 3),
            tr("quant.column.drop"): f"{m.drop.get('ndcg@10', 0.0):+.1%}",
            tr("quant.column.ram"): round(m.ram_bytes_per_vector),
            tr("quant.column.disk"): round(m.disk_bytes_per_vector),
            "p50 ms": round(float(np.percentile(m.latencies_ms, 50)), 2),
            tr("quant.column.gate"): tr("quant.pass") if m.passes_gate else tr("quant.fail"),
        }
        for m in result.measurements
    ]


def per_vector(bytes_: float) -> str:
    return number(round(bytes_), language())


def show_result(result, adopted_version: int | None, adopt: bool) -> None:
    st.dataframe(result_table(result), hide_index=True, width="stretch")
    with tempfile.TemporaryDirectory() as tmp:
        plot = Path(tmp) / "quality_vs_memory.png"
        plot_quality_vs_memory(result, plot)
        st.image(plot.read_bytes(), caption=tr("quant.plot"))
    if result.adopted is None:
        st.warning(tr("quant.none_passes"))
        return
    candidate = result.adopted.candidate.label
    size = per_vector(result.adopted.ram_bytes_per_vector)
    if adopt and adopted_version is not None:
        st.success(tr("quant.adopted", candidate=candidate, version=adopted_version, bytes=size))
    elif adopt:
        st.info(tr("quant.already", candidate=candidate))
    else:
        st.info(tr("quant.would_adopt", candidate=candidate, bytes=size))


def quantization_page() -> None:
    merchant = require_merchant()
    dona = current_dona()
    catalog = merchant.catalog
    st.header(tr("quant.title", catalog=catalog))
    try:
        serving = dona.index_setting(catalog, merchant=merchant)  # the core checks
    except CatalogNotFoundError:
        st.info(tr("quant.no_catalog"))
        return
    st.caption(
        tr(
            "quant.serving",
            version=serving.version,
            phase=serving.phase,
            config=serving.config or "",
            threshold=f"{DEFAULT_THRESHOLD:.0%}",
        )
    )
    st.caption(tr("quant.probes", count=PROBES))
    labels = {c.label: c for c in DEFAULT_CANDIDATES}
    chosen = st.multiselect(
        tr("quant.candidates"), list(labels), default=list(labels), key="merchant_candidates"
    )
    left, right = st.columns(2)
    measure = left.button(tr("quant.measure"), key="merchant_measure")
    adopt = right.button(tr("quant.adopt"), type="primary", key="merchant_autopilot")
    if not (measure or adopt):
        return
    candidates = [labels[label] for label in chosen]
    status = st.status(tr("quant.measuring"), expanded=False)
    products = dona.all_products(catalog)
    data = probe_queries(products, n=PROBES)
    dataset = f"{catalog} (probes)"
    if adopt:
        result, version = autopilot(
            dona, catalog, data, dataset, label_free=True, candidates=candidates,
            progress=status.write, merchant=merchant,
        )  # fmt: skip
    else:
        result = evaluate_phases(
            dona, catalog, data, dataset, candidates, label_free=True, progress=status.write
        )
        version = None
    status.update(label=tr("quant.measured"), state="complete")
    show_result(result, version, adopt)


run_guarded(quantization_page)
