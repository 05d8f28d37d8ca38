"""`dona eval-llm`: the checks on their own, and the whole command over a real catalog with
the extractive backend (deterministic; the committed report runs the real GGUF models)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import SHOP

from dona.errors import DonaError
from dona.eval.chat_models import load_questions

QUESTIONS = [
    {"id": "price", "kind": "price", "turns": ["how much is the waterproof bluetooth speaker?"],
     "expect": {"cites_any": ["sp-2"], "mentions_any": ["89.00"]}},
    {"id": "under", "kind": "under_x", "turns": ["bluetooth speaker under 60"],
     "expect": {"cited_max_price": 60, "cited_title_any": ["speaker"]}},
    {"id": "missing", "kind": "nothing_fits", "turns": ["speaker under 2 dollars"],
     "expect": {"nothing_fits": True}},
    {"id": "follow", "kind": "follow_up", "turns": ["bluetooth speaker", "cheaper ones?"],
     "expect": {"cheaper_than_before": True}},
    {"id": "es", "kind": "spanish", "turns": ["¿altavoz bluetooth por menos de 60 dólares?"],
     "expect": {"cited_max_price": 60, "language": "es"}},
    {"id": "wrong", "kind": "price", "turns": ["usb cable"],
     "expect": {"mentions_any": ["$1,000,000"]}},
]  # fmt: skip


def test_question_file_errors(tmp_path):
    bad = tmp_path / "q.jsonl"
    bad.write_text('{"id": "x"}\n')
    with pytest.raises(DonaError, match="line 1"):
        load_questions(bad)
    with pytest.raises(DonaError, match="cannot read"):
        load_questions(tmp_path / "missing.jsonl")


@pytest.mark.slow
def test_eval_llm_command_end_to_end(data_dir, tmp_path):
    from dona.config import Settings
    from dona.service import Dona

    shop = Dona(Settings(data_dir=data_dir))  # the real default embedder, as the CLI uses
    shop.ingest_bytes("\n".join(json.dumps(p) for p in SHOP).encode(), filename="s.jsonl")
    shop.store.dispose()
    questions = tmp_path / "q.jsonl"
    questions.write_text("\n".join(json.dumps(q) for q in QUESTIONS) + "\n")
    code = "import sys; from dona.cli import main; sys.argv = ['dona'] + sys.argv[1:]; main()"
    out_json, out_md = tmp_path / "r.json", tmp_path / "r.md"
    done = subprocess.run(
        [sys.executable, "-c", code, "eval-llm", "--questions", str(questions),
         "--backend", "extractive", "--json", str(out_json), "--report", str(out_md)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    (result,) = json.loads(out_json.read_text())["results"]
    assert result["backend"] == "extractive" and result["questions"] == len(QUESTIONS)
    by_id = {q["id"]: q for q in result["per_question"]}
    assert by_id["price"]["correct"] and by_id["under"]["correct"]
    assert by_id["missing"]["nothing_fits_ok"] and by_id["es"]["language_ok"]
    assert not by_id["wrong"]["correct"]  # the checks can fail
    assert result["grounded"] == 1.0 and result["peak_rss_mb"] > 0
    assert "| extractive | none |" in out_md.read_text()
