"""Quality reports: the committed retrieval, phase, scale and chat evaluations, and the
evidence behind the merchant's own catalog's index."""

from __future__ import annotations

import json
from pathlib import Path

import streamlit as st
from shared import current_dona, require_merchant, run_guarded, tr

from dona.errors import CatalogNotFoundError

REPORTS = Path(__file__).resolve().parents[2] / "evals" / "reports"
LLM_COLUMNS = (
    "backend", "model", "grounded", "correct", "nothing_fits_ok", "language_ok",
    "ttft_s_p50", "tokens_per_s", "prompt_tokens_mean", "peak_rss_mb",
)  # fmt: skip


def report_text(name: str) -> str | None:
    path = REPORTS / name
    return path.read_text() if path.is_file() else None


def own_catalog_evidence(catalog: str) -> None:
    dona = current_dona()
    try:
        served = dona.served(catalog)
    except CatalogNotFoundError:
        st.info(tr("quality.no_version"))
        return
    evidence = served.manifest.get("quantization")
    if not evidence:
        st.info(tr("quality.reference", phase=served.manifest["phase"]))
        return
    kind = "quality.label_free" if evidence["label_free"] else "quality.labelled"
    st.text(
        tr(
            "quality.adopted",
            candidate=evidence["adopted"],
            dataset=evidence["dataset"],
            threshold=f"{evidence['threshold']:.0%}",
            kind=tr(kind),
        )
    )
    st.dataframe(
        [
            {
                tr("quant.column.candidate"): m["candidate"],
                tr("quant.column.mode"): m["mode"],
                "nDCG@10": m["ndcg@10"],
                tr("quant.column.drop"): f"{m['drop'].get('ndcg@10', 0):+.1%}",
                tr("quant.column.ram"): m["ram_bytes_per_vector"],
                tr("quant.column.gate"): tr("quant.pass") if m["passes_gate"] else tr("quant.fail"),
            }
            for m in evidence["measured"]
        ],
        hide_index=True,
        width="stretch",
    )


def quality_page() -> None:
    merchant = require_merchant()
    st.header(tr("quality.title"))
    st.subheader(tr("quality.yours", catalog=merchant.catalog))
    own_catalog_evidence(merchant.catalog)

    st.subheader(tr("quality.phases"))
    phases = report_text("phases_demo.md")
    if phases is None:
        st.info(tr("quality.no_phases"))
    else:
        if (REPORTS / "phases_demo.png").is_file():
            st.image(str(REPORTS / "phases_demo.png"))
        st.markdown(phases)  # our own generated report: numbers and phase names only

    st.subheader(tr("quality.chat"))
    llm = report_text("llm_demo.json")
    if llm is None:
        st.info(tr("quality.no_chat"))
    else:
        rows = json.loads(llm)["results"]
        st.dataframe(
            [{k: row.get(k) for k in LLM_COLUMNS} for row in rows],
            hide_index=True,
            width="stretch",
        )
        st.caption(tr("quality.chat_caption"))
        speed, correct, size = tr("quality.speed"), tr("quality.correct"), tr("quality.size")
        st.scatter_chart(
            [
                {
                    "model": row["model"],
                    speed: row["tokens_per_s"],
                    correct: row["correct"],
                    size: row["model_file_mb"],
                }
                for row in rows
            ],
            x=speed,
            y=correct,
            color="model",
            size=size,
        )
        st.caption(tr("quality.chart_caption"))

    for name, key in (
        ("bench_search.md", "quality.search_speed"),
        ("bench_scale.md", "quality.scale"),
    ):
        text = report_text(name)
        if text is not None:
            with st.expander(tr(key)):
                st.markdown(text)


run_guarded(quality_page)
