"""Quality reports: the committed retrieval, phase, scale and chat evaluations, and the
evidence behind the merchant's own catalog's index."""

from __future__ import annotations

import json
from pathlib import Path

import streamlit as st
from shared import current_dona, require_merchant, run_guarded

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
        st.info("Your catalog has no live version yet.")
        return
    evidence = served.manifest.get("quantization")
    if not evidence:
        st.info(f"Your catalog is served with {served.manifest['phase']}, the float32 "
                "reference; no cheaper phase has been adopted yet (see Quantization).")  # fmt: skip
        return
    st.text(
        f"Adopted {evidence['adopted']} on {evidence['dataset']} "
        f"(gate {evidence['threshold']:.0%}, {'label-free' if evidence['label_free'] else 'labelled'})"
    )
    st.dataframe(
        [
            {
                "candidate": m["candidate"],
                "mode": m["mode"],
                "nDCG@10": m["ndcg@10"],
                "nDCG drop": f"{m['drop'].get('ndcg@10', 0):+.1%}",
                "RAM B/vector": m["ram_bytes_per_vector"],
                "gate": "pass" if m["passes_gate"] else "FAIL",
            }
            for m in evidence["measured"]
        ],
        hide_index=True,
        width="stretch",
    )


def quality_page() -> None:
    merchant = require_merchant()
    st.header("Quality reports")
    st.subheader(f"Your catalog: {merchant.catalog}")
    own_catalog_evidence(merchant.catalog)

    st.subheader("Index phases on the demo catalog (judged queries)")
    phases = report_text("phases_demo.md")
    if phases is None:
        st.info("No phase report yet; `make eval-report` writes it.")
    else:
        if (REPORTS / "phases_demo.png").is_file():
            st.image(str(REPORTS / "phases_demo.png"))
        st.markdown(phases)  # our own generated report: numbers and phase names only

    st.subheader("Chat models (bundled GGUF)")
    llm = report_text("llm_demo.json")
    if llm is None:
        st.info("No chat report yet; `make eval-llm` writes it.")
    else:
        rows = json.loads(llm)["results"]
        st.dataframe(
            [{k: row.get(k) for k in LLM_COLUMNS} for row in rows],
            hide_index=True,
            width="stretch",
        )
        st.caption("Shares of 12 questions (higher is better); time to first token in "
                   "seconds; peak memory of the whole process in MB.")  # fmt: skip
        st.scatter_chart(
            [
                {
                    "model": row["model"],
                    "tokens per second": row["tokens_per_s"],
                    "correct answers (share)": row["correct"],
                    "model file MB": row["model_file_mb"],
                }
                for row in rows
            ],
            x="tokens per second",
            y="correct answers (share)",
            color="model",
            size="model file MB",
        )
        st.caption("Quality against speed; the bigger the point, the bigger the model file.")

    for name, title in (("bench_search.md", "Search speed"), ("bench_scale.md", "Scale")):
        text = report_text(name)
        if text is not None:
            with st.expander(title):
                st.markdown(text)


run_guarded(quality_page)
