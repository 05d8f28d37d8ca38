"""Check the README's figures against the committed reports they come from.

    python evals/check_readme_figures.py [--readme README.md] [--reports evals/reports]

Every figure the README quotes from a measurement is rebuilt here from the report file
(evals/reports/*.md / *.json) as the README writes it, and must appear there word for
word (line breaks aside). Re-measuring changes the reports; this check then names every
README figure still to update, so the two cannot drift. tests/eval/test_readme_figures.py
runs it in `make test`.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_MODEL = "qwen2.5-1.5b"
ADOPTED = r"\*\*Adopted: `([^`]+)`"
MODEL_NAMES = {  # model -> how the README's LLM table names it
    "smollm2-135m": "SmolLM2-135M Q4_1",
    "qwen2.5-0.5b": "Qwen2.5-0.5B Q4_K_M",
    "qwen2.5-1.5b": "Qwen2.5-1.5B Q4_K_M",
}


def rounded(figure: str, places: int) -> str:
    """A report's figure as the README rounds it: half up, as people do ("1.65" -> "1.7")."""
    return str(Decimal(figure).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP))


def md_table(text: str, header_start: str) -> list[list[str]]:
    """The rows (cells, stripped) of the Markdown table whose header starts so."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header_start))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return rows


def phases_figures(reports: Path) -> list[tuple[str, str]]:
    """(what, text) from evals/reports/phases_demo.md: the README's candidate table and
    the figures its prose quotes."""
    rows = md_table((reports / "phases_demo.md").read_text(), "| candidate | mode |")
    by = {(r[0], r[1]): r for r in rows}  # (candidate, mode) -> cells

    def ndcg(candidate: str, mode: str) -> str:
        cells = by[(candidate, mode)]
        return f"{cells[2]} ({cells[7].split()[0]})"  # value (drop)

    out = []
    for candidate in dict.fromkeys(r[0] for r in rows):
        dense, hybrid = by[(candidate, "dense")], by[(candidate, "hybrid")]
        out.append(
            (
                f"phases table row {candidate}",
                f"| `{candidate}` | {dense[8]} | {ndcg(candidate, 'dense')} | "
                f"{ndcg(candidate, 'hybrid')} | {dense[10]} / {hybrid[10]} | {dense[12]} |",
            )
        )
    adopted = re.search(ADOPTED, (reports / "phases_demo.md").read_text())
    if adopted:
        name = adopted.group(1)
        for report in ("autopilot_demo.md", "autopilot_demo_label_free.md"):
            picked = re.search(ADOPTED, (reports / report).read_text())
            out.append((f"{report} adopts {name}", "The label-free probes pick the same candidate")
                       if picked and picked.group(1) == name
                       else (f"{report} adopts another candidate than {name}", "\0"))  # fmt: skip
        ram = float(by[(name, "dense")][8].replace(",", ""))
        f32_ram = float(by[("f32", "dense")][8].replace(",", ""))
        out += [
            ("adopted candidate", f"The autopilot adopts `{name}`:"),
            ("adopted RAM", f"{ram:.0f} hot-RAM bytes per vector ({f32_ram / ram:.0f}x less than f32)"),
            (
                "adopted latency",
                f"ranking p50 {by[(name, 'dense')][10]} vs {by[('f32', 'dense')][10]} ms dense, "
                f"{by[(name, 'hybrid')][10]} vs {by[('f32', 'hybrid')][10]} ms hybrid",
            ),
        ]  # fmt: skip

    drops = {  # the md shows nDCG drops only; the json of the same run has them all
        r["candidate"]: r["drop"]
        for r in json.loads((reports / "phases_demo.json").read_text())["results"]
        if r["mode"] == "dense"
    }

    def drop(candidate: str, column: int) -> str:
        return f"{drops[candidate]['ndcg@10' if column == 2 else 'recall@10']:.1%}"

    symmetric = "int8(metric=ip, symmetric=True)"
    native = "matryoshka(dims=192, rotation=native)"
    pca = "matryoshka(dims=192, rotation=pca)"
    whitened = "matryoshka(dims=192, rotation=pca, whiten=0.1)"
    whitened_int8 = "matryoshka(dims=192, quantization=int8, rotation=pca, whiten=0.1)"
    out += [
        ("symmetric int8 loss", f"loses {drop(symmetric, 2)} nDCG@10 and is refused"),
        ("truncation loss", f"plain truncation to 192 dims loses {drop(native, 2)}"),
        ("PCA prefix loss",
         f"prefix loses {drop(pca, 2)} nDCG@10 and {drop(pca, 3)} Recall@10 (refused)"),
        ("whitened prefix loss",
         f"it loses {drop(whitened, 2)} nDCG@10 and {drop(whitened, 3)} Recall@10 as float32 "
         f"({by[(whitened, 'dense')][8]} B), the same as int8 codes "
         f"({by[(whitened_int8, 'dense')][8]} B/vector)"),
        ("served figures",
         f"(dense {by[('f32', 'dense')][2]} / hybrid {by[('f32', 'hybrid')][2]} here"),
    ]  # fmt: skip
    return out


def llm_figures(reports: Path) -> list[tuple[str, str]]:
    """The README's chat-model table, from evals/reports/llm_demo.json."""
    out = []
    for r in json.loads((reports / "llm_demo.json").read_text())["results"]:
        bold = (lambda s: f"**{s}**") if r["model"] == DEFAULT_MODEL else (lambda s: s)
        quality = " | ".join(
            bold(f"{r[k]:.2f}") for k in ("correct", "grounded", "no_false_denial", "language_ok")
        )
        out.append(
            (
                f"LLM table row {r['model']}",
                f"| {r['backend']} / {bold(MODEL_NAMES[r['model']])} | "
                f"{r['model_file_mb']:,.0f} MB | {quality} | {r['repaired']} | "
                f"{r['ttft_s_p50']:.1f} s | {r['total_s_p50']:.1f} s | "
                f"{r['tokens_per_s']:.1f} | {r['prompt_tokens_mean']} "
                f"({r['new_prompt_tokens_mean']}) | {r['peak_rss_mb']:,.0f} MB |",
            )
        )
    return out


def bench_figures(reports: Path) -> list[tuple[str, str]]:
    """The README's benchmark table, from evals/reports/bench_search.md."""
    text = (reports / "bench_search.md").read_text()
    ingest = {r[0]: r for r in md_table(text, "| run | products |")}
    latency = {r[0]: r for r in md_table(text, "| stage | English p50 ms |")}
    rows = md_table(text, "| queries | mode | nDCG@10 |")
    quality = {r[1]: r[1:] for r in rows if r[0] == "English"}
    spanish = {(r[0], r[1]): r[2:] for r in rows if r[0].startswith("Spanish")}
    first, again = ingest["first ingest"], ingest["unchanged re-ingest"]

    def ms(stage: str, column: int = 1) -> str:
        return rounded(latency[stage][column], 1)

    stages = "/".join(("embed", "dense", "bm25", "fusion"))
    return [
        ("first ingest",
         f"| first ingest of {int(first[1]):,} products (parse {first[2]} s, store {first[3]} s, "
         f"embed {first[4]} s, index {first[5]} s) | {first[6]} s ({first[7]} products/s) |"),
        ("re-ingest", f"(everything from the cache; index files hard-linked) | {again[6]} s |"),
        ("hybrid latency",
         f"incl. product rows | {ms('search() incl. product rows')} / "
         f"{ms('search() incl. product rows', 2)} ms |"),
        ("stage latency",
         f"| of which query embedding / dense / BM25 / fusion (p50) | "
         f"{' / '.join(ms(s) for s in stages.split('/'))} ms |"),
        ("hybrid quality",
         f"| hybrid nDCG@10 on the dev split (BM25 {float(quality['lexical'][1]):.3f}, dense "
         f"{float(quality['dense'][1]):.3f}) | {float(quality['hybrid'][1]):.3f} |"),
        ("Spanish latency",
         f"(language bridge {ms('bridge', 3)} ms p50 of it) | {ms('hybrid ranking total', 3)} / "
         f"{ms('hybrid ranking total', 4)} ms |"),
        ("Spanish quality",
         f"hybrid nDCG@10 (without the bridge "
         f"{float(spanish[('Spanish, no bridge', 'hybrid')][0]):.3f}) | "
         f"{float(spanish[('Spanish', 'hybrid')][0]):.3f} |"),
    ]  # fmt: skip


def embedder_figures(reports: Path) -> list[tuple[str, str]]:
    """The embedder figures of the README's prose, from evals/reports/bench_embedders.md."""
    rows = {r[0]: r for r in md_table((reports / "bench_embedders.md").read_text(), "| variant |")}
    torch, fp32, int8 = rows["torch fp32"], rows["onnx fp32"], rows["onnx int8 (chosen)"]
    low, high = (float(x) for x in re.findall(r"[-+]\d+\.\d+", int8[6].split("[")[1]))
    same = fp32[5] == torch[5] and fp32[8].startswith("1.0000 / 1.0000")
    return [
        ("embedder speeds",
         f"torch {torch[1]} texts/s, ONNX float32 {fp32[1]} "
         f"({'vectors identical to torch' if same else 'vectors differ from torch'}), "
         f"ONNX int8 {int8[1]} ({float(int8[2]):.1f}x torch)"),
        ("embedder quality",
         f"dense nDCG@10 is {int8[5]} with the int8 documents against {torch[5]} with torch "
         f"({int8[6].split()[0]}, 95% CI {low:+.1f}% to {high:+.1f}%; top-10 overlap "
         f"{float(int8[7]):.2f})"),
    ]  # fmt: skip


def problems(readme: str, reports: Path) -> list[str]:
    """Every report figure the README does not quote as the report has it."""
    flat = " ".join(readme.split())
    expected = [
        *phases_figures(reports),
        *llm_figures(reports),
        *bench_figures(reports),
        *embedder_figures(reports),
    ]
    return [
        f"{what}: README lacks {text!r}"
        for what, text in expected
        if " ".join(text.split()) not in flat
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--readme", type=Path, default=REPO / "README.md")
    parser.add_argument("--reports", type=Path, default=REPO / "evals" / "reports")
    args = parser.parse_args()
    found = problems(args.readme.read_text(), args.reports)
    for problem in found:
        print(problem, file=sys.stderr)
    if not found:
        print(f"README figures match {args.reports}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
