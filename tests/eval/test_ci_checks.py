"""evals/ci_checks.py: the checks CI runs on what the test and evaluation jobs wrote. Each
must fail for its own reason and name it."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import pytest
from conftest import REPO

SCRIPT = REPO / "evals" / "ci_checks.py"
spec = importlib.util.spec_from_file_location("ci_checks", SCRIPT)
ci = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ci)

SKIPPING = """
import pytest

def test_runs():
    assert 1 + 1 == 2

def test_needs_a_gpu():
    pytest.skip("no GPU on this machine")
"""


@pytest.fixture(scope="module")
def junit(tmp_path_factory):
    """A JUnit report written by a real pytest run with one skip."""
    folder = tmp_path_factory.mktemp("junit")
    (folder / "test_sample.py").write_text(SKIPPING)
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_sample.py",
         "--junitxml", "report.xml", "--rootdir", str(folder)],
        cwd=folder, capture_output=True, text=True,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    return folder / "report.xml"


def skips_check(junit, strict: bool) -> subprocess.CompletedProcess:
    env = {**os.environ, "DONA_REQUIRE_NO_SKIPS": "1" if strict else "0"}
    return subprocess.run(
        [sys.executable, str(SCRIPT), "skips", str(junit)], env=env, capture_output=True, text=True
    )


def test_a_skip_fails_ci_and_is_named(junit):
    assert ci.skipped_tests([junit]) == ["test_sample::test_needs_a_gpu: no GPU on this machine"]
    strict = skips_check(junit, strict=True)
    assert strict.returncode == 1
    assert (
        "skip not on the allow-list in evals/ci_checks.py: test_sample::test_needs_a_gpu: "
        "no GPU on this machine" in strict.stderr
    )
    listed = skips_check(junit, strict=False)  # a developer's machine: listed, not enforced
    assert listed.returncode == 0 and "skipped: test_sample::test_needs_a_gpu" in listed.stdout


def test_the_allow_list_lets_a_reasoned_skip_pass(junit, monkeypatch):
    monkeypatch.setattr(ci, "ALLOWED_SKIPS", (("no GPU on this machine", "CI has no GPU"),))
    assert ci.check_skips([junit], strict=True) == []


def test_a_missing_report_is_a_failure(tmp_path):
    assert ci.check_skips([tmp_path / "none.xml"], strict=False) == [
        f"no JUnit report at {tmp_path / 'none.xml'} (did pytest run?)"
    ]


ANSWER = {
    "answer": "The Sony MBS-100 speaker costs $40.95 [1993197].",
    "products": [{"id": "1993197", "price": 40.95}],
    "backend": "llamacpp",
    "model": "qwen2.5-1.5b",
    "fallback": False,
    "notice": None,
    "nothing_fits": False,
    "language": "en",
}


def test_ask_check_names_what_is_wrong():
    assert ci.check_ask(ANSWER, "en", "qwen2.5-1.5b") == []
    fell_back = {**ANSWER, "backend": "extractive", "model": "none", "fallback": True,
                 "notice": "The language model is unavailable (x)"}  # fmt: skip
    assert ci.check_ask(fell_back, "es", "qwen2.5-1.5b") == [
        "answered by extractive / none, not llamacpp / qwen2.5-1.5b",
        "fell back to the extractive answer: 'The language model is unavailable (x)'",
        "language 'en', expected 'es'",
    ]
    assert ci.check_ask({**ANSWER, "answer": " ", "products": []}, "en", "qwen2.5-1.5b") == [
        "the answer is empty",
        "no product cards",
    ]


def test_chat_check_holds_the_committed_floors():
    floors = json.loads((REPO / "evals" / "floors.json").read_text())
    chat = floors["chat"]
    summary = {"backend": chat["backend"], "model": chat["model"],
               "questions": len(chat["question_ids"]),
               "correct": 1.0, "grounded": 1.0, "nothing_fits_ok": 1.0, "language_ok": 1.0,
               "fallbacks": 0, "error": None, "per_question": [],
               "injections": len(chat["injection_ids"]), "injections_reached_shopper": 0}  # fmt: skip
    assert ci.check_chat({"results": [summary]}, floors) == []
    worse = {**summary, "correct": 0.5, "fallbacks": 2, "injections_reached_shopper": 1,
             "per_question": [{"id": "q1", "failures": ["cites no product"], "fallback": True}]}  # fmt: skip
    assert ci.check_chat({"results": [worse]}, floors) == [
        f"chat floor 'correct' broken: 0.5 < {chat['min']['correct']}",
        f"chat floor 'fallbacks' broken: 2 > {chat['max_fallbacks']}",
        "chat floor 'injections_reached_shopper' broken: 1 > 0",
        "  q1: cites no product",
    ]
    broken = {**summary, "error": "the model file does not exist"}
    assert ci.check_chat({"results": [broken]}, floors) == [
        "the backend did not start: the model file does not exist"
    ]


@pytest.mark.parametrize("kind", ["question", "injection"])
def test_the_chat_floors_name_items_of_the_full_sets(kind):
    """CI's chat questions and injection attempts are picked by id from the full sets:
    renaming or dropping one there fails here (update evals/floors.json with it)."""
    floors = json.loads((REPO / "evals" / "floors.json").read_text())
    lines, problems = ci.chat_questions(floors, kind=kind)
    assert problems == []
    assert [json.loads(line)["id"] for line in lines] == floors["chat"][f"{kind}_ids"]


def test_a_missing_chat_question_is_named(tmp_path):
    full = tmp_path / "questions.jsonl"
    full.write_text('{"id": "a", "turns": ["hi"]}\n{"id": "b", "turns": ["ho"]}\n')
    floors = {"chat": {"questions_from": "questions.jsonl", "question_ids": ["b", "zz"]}}
    assert ci.chat_questions(floors, tmp_path) == ([], ["questions.jsonl has no question zz"])
    floors["chat"]["question_ids"] = ["b"]
    assert ci.chat_questions(floors, tmp_path) == (['{"id": "b", "turns": ["ho"]}'], [])
