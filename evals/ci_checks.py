"""CI's checks on what the test and evaluation runs wrote; each exits 1 with its reason.

    python evals/ci_checks.py skips JUNIT.xml...        # no skip outside ALLOWED_SKIPS
    python evals/ci_checks.py ask ANSWER.json --language en --model qwen2.5-1.5b
    python evals/ci_checks.py questions --floors evals/floors.json [--injections] > SUBSET.jsonl
    python evals/ci_checks.py chat EVAL_LLM.json --floors evals/floors.json

`skips` only lists the skips unless DONA_REQUIRE_NO_SKIPS=1 (CI sets it): on a developer's
machine without PostgreSQL the storage tests are meant to skip.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# (pattern matched against "test id: reason", why CI may skip it). In CI everything the
# tests need is installed (PostgreSQL, Chromium, gcc, the LangChain test suite), so no
# skip is expected there; an entry needs a reason a reviewer accepts.
ALLOWED_SKIPS: tuple[tuple[str, str], ...] = ()


def skipped_tests(junit_files: list[Path]) -> list[str]:
    """'test id: reason' of every skipped test case in JUnit XML files written by pytest."""
    out = []
    for path in junit_files:
        for case in ET.parse(path).getroot().iter("testcase"):
            skip = case.find("skipped")
            if skip is None:
                continue
            test_id = f"{case.get('classname', '')}::{case.get('name', '')}".strip(":")
            reason = (skip.get("message") or skip.text or "").strip()
            out.append(f"{test_id}: {reason}")
    return out


def check_skips(junit_files: list[Path], strict: bool) -> list[str]:
    """Problems: skips not on the allow-list (only when `strict`), missing reports."""
    missing = [str(p) for p in junit_files if not p.is_file()]
    if missing:
        return [f"no JUnit report at {', '.join(missing)} (did pytest run?)"]
    skips = skipped_tests(junit_files)
    for line in skips:
        print(f"skipped: {line}")
    if not strict:
        return []
    return [
        f"skip not on the allow-list in evals/ci_checks.py: {line}"
        for line in skips
        if not any(re.search(pattern, line) for pattern, _ in ALLOWED_SKIPS)
    ]


def check_ask(answer: dict, language: str, model: str) -> list[str]:
    """`dona ask --json` answered with the real model: no fallback, no notice, the
    shopper's language, products from the catalog, the model's own words."""
    problems = []
    if answer.get("backend") != "llamacpp" or answer.get("model") != model:
        problems.append(
            f"answered by {answer.get('backend')} / {answer.get('model')}, not llamacpp / {model}"
        )
    if answer.get("fallback") or answer.get("notice"):
        problems.append(f"fell back to the extractive answer: {answer.get('notice')!r}")
    if answer.get("language") != language:
        problems.append(f"language {answer.get('language')!r}, expected {language!r}")
    if not (answer.get("answer") or "").strip():
        problems.append("the answer is empty")
    if not answer.get("products"):
        problems.append("no product cards")
    return problems


def chat_questions(
    floors: dict, repo: Path = REPO, kind: str = "question"
) -> tuple[list[str], list[str]]:
    """(lines of the full question (or injection) set whose id the chat floors name, in
    that order; problems). Chosen by id, not copied: an item edited in the full set is
    edited here, and one renamed or dropped there is named here."""
    chat = floors.get("chat") or {}
    wanted, source = chat.get(f"{kind}_ids") or [], chat.get(f"{kind}s_from", "")
    if not wanted:
        return [], [f"the floors file names no chat {kind}_ids"]
    by_id = {}
    for line in (repo / source).read_text(encoding="utf-8").splitlines():
        if line.strip():
            by_id[json.loads(line)["id"]] = line
    missing = [q for q in wanted if q not in by_id]
    if missing:
        return [], [f"{source} has no {kind} {', '.join(missing)}"]
    return [by_id[q] for q in wanted], []


def check_chat(report: dict, floors: dict) -> list[str]:
    """The `dona eval-llm --json` summary of one model against the chat floors."""
    chat = floors.get("chat")
    if not chat:
        return ["the floors file has no 'chat' section"]
    results = report.get("results") or []
    if len(results) != 1:
        return [f"expected one model's results, got {len(results)}"]
    result = results[0]
    problems = []
    if result.get("error"):
        problems.append(f"the backend did not start: {result['error']}")
    if (result.get("backend"), result.get("model")) != (chat["backend"], chat["model"]):
        problems.append(
            f"evaluated {result.get('backend')} / {result.get('model')}, the floors are for "
            f"{chat['backend']} / {chat['model']}"
        )
    asked = len(chat["question_ids"])
    if result.get("questions") != asked:
        problems.append(f"{result.get('questions')} questions answered, {asked} asked")
    for name, minimum in chat["min"].items():
        value = result.get(name)
        if value is None or value < minimum:
            problems.append(f"chat floor {name!r} broken: {value} < {minimum}")
    if result.get("fallbacks", 0) > chat["max_fallbacks"]:
        problems.append(
            f"chat floor 'fallbacks' broken: {result['fallbacks']} > {chat['max_fallbacks']}"
        )
    if "injection_ids" in chat:
        tried, reached = result.get("injections"), result.get("injections_reached_shopper")
        if tried != len(chat["injection_ids"]):
            problems.append(f"{tried} injection attempts run, {len(chat['injection_ids'])} named")
        if reached is None or reached > chat["max_injections_reached_shopper"]:
            problems.append(
                f"chat floor 'injections_reached_shopper' broken: {reached} > "
                f"{chat['max_injections_reached_shopper']}"
            )
    if problems:
        for q in result.get("per_question", []):
            if q.get("failures") or q.get("fallback"):
                problems.append(f"  {q['id']}: {'; '.join(q['failures']) or 'fallback'}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="check", required=True)
    skips = sub.add_parser("skips", help="fail on skipped tests outside the allow-list")
    skips.add_argument("junit", type=Path, nargs="+")
    ask = sub.add_parser("ask", help="check a `dona ask --json` answer")
    ask.add_argument("answer", type=Path)
    ask.add_argument("--language", required=True)
    ask.add_argument("--model", required=True)
    questions = sub.add_parser("questions", help="print the chat floors' questions (JSONL)")
    questions.add_argument("--floors", type=Path, required=True)
    questions.add_argument("--injections", action="store_true", help="the injection subset")
    chat = sub.add_parser("chat", help="check a `dona eval-llm --json` result against floors")
    chat.add_argument("report", type=Path)
    chat.add_argument("--floors", type=Path, required=True)
    args = parser.parse_args(argv)

    if args.check == "skips":
        strict = os.environ.get("DONA_REQUIRE_NO_SKIPS") == "1"
        problems = check_skips(args.junit, strict)
        passed = "no skips outside the allow-list" if strict else "skips listed (not enforced)"
    elif args.check == "questions":
        kind = "injection" if args.injections else "question"
        lines, problems = chat_questions(json.loads(args.floors.read_text()), kind=kind)
        if not problems:
            print(*lines, sep="\n")
            return 0
        passed = ""
    elif args.check == "ask":
        problems = check_ask(json.loads(args.answer.read_text()), args.language, args.model)
        passed = f"{args.model} answered in {args.language} without a fallback"
    else:
        floors = json.loads(args.floors.read_text())
        problems = check_chat(json.loads(args.report.read_text()), floors)
        passed = f"chat floors hold ({args.floors})"
    if problems:
        print(f"{args.check} check failed:", *problems, sep="\n", file=sys.stderr)
        return 1
    print(passed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
