"""`dona eval-llm`: how well each backend and model answers questions about a catalog.

A question set (JSON Lines) names what a correct answer must contain; every model runs the
same turns through the real chat pipeline. Each model runs in its own process, so its peak
memory is its own. Measured per model:

- grounded: the model cited no product outside its context and wrote no price that no
  product in the context has (checked on its raw text, before DONA's own repairs);
- correct: the question's expectations hold (the price or brand is stated, the cited
  products fit the request, a follow-up narrowed correctly, ...);
- nothing fits: for questions the catalog cannot answer, the turn is flagged and the
  model says so; for the others, it is not flagged;
- language: the answer is in the language expected (the shopper's by default);
- time to first token, tokens per second, prompt tokens, peak resident memory.

Question format: {"id", "kind", "turns": [...], "expect": {...}} with expectation keys
cites_any, mentions_any, cited_title_all, cited_title_any, cited_brand, cited_max_price,
nothing_fits, cheaper_than_before, mentions_price_of_shown, language.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import re
import resource
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from dona.errors import DonaError

NEGATIONS = re.compile(
    r"\b(no|not|nothing|none|don't|doesn't|do not|does not|isn't|aren't|unfortunately|sorry|"
    r"ningún|ninguna|ninguno|nada|lo siento|lamentablemente|no hay|no tenemos)\b",
    re.I,
)


@dataclass
class QuestionResult:
    id: str
    kind: str
    answer: str
    cited: list[str]
    grounded: bool
    correct: bool
    nothing_fits_ok: bool
    language_ok: bool
    failures: list[str]
    ttft_s: float | None
    seconds: float
    completion_tokens: int
    prompt_tokens: int | None
    fallback: bool


@dataclass
class ModelResult:
    backend: str
    model: str
    model_file_mb: float | None
    questions: list[QuestionResult] = field(default_factory=list)
    peak_rss_mb: float = 0.0
    error: str | None = None

    def share(self, attribute: str) -> float:
        values = [getattr(q, attribute) for q in self.questions]
        return sum(values) / len(values) if values else 0.0

    def summary(self) -> dict[str, Any]:
        ttfts = [q.ttft_s for q in self.questions if q.ttft_s is not None]
        gen_s = sum(max(q.seconds - (q.ttft_s or 0), 1e-9) for q in self.questions)
        tokens = sum(q.completion_tokens for q in self.questions)
        prompts = [q.prompt_tokens for q in self.questions if q.prompt_tokens]
        return {
            "backend": self.backend,
            "model": self.model,
            "model_file_mb": self.model_file_mb,
            "questions": len(self.questions),
            "grounded": round(self.share("grounded"), 3),
            "correct": round(self.share("correct"), 3),
            "nothing_fits_ok": round(self.share("nothing_fits_ok"), 3),
            "language_ok": round(self.share("language_ok"), 3),
            "fallbacks": sum(q.fallback for q in self.questions),
            "ttft_s_p50": round(statistics.median(ttfts), 2) if ttfts else None,
            "tokens_per_s": round(tokens / gen_s, 1) if tokens else None,
            "prompt_tokens_mean": round(statistics.mean(prompts)) if prompts else None,
            "peak_rss_mb": round(self.peak_rss_mb),
            "error": self.error,
        }


def load_questions(path: str | Path) -> list[dict[str, Any]]:
    questions = []
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise DonaError(f"cannot read the question set {path}: {exc.strerror}") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            assert isinstance(item["turns"], list) and item["turns"] and "id" in item
        except (ValueError, KeyError, TypeError, AssertionError):
            raise DonaError(
                f"{path} line {number}: expected {{'id', 'turns': [...], 'expect': {{...}}}}"
            ) from None
        questions.append(item)
    if not questions:
        raise DonaError(f"{path} holds no questions")
    return questions


def _check(item: dict[str, Any], answers: list[Any]) -> tuple[list[str], bool, bool]:
    """(failed expectations, nothing-fits handled right, language right) of the last turn."""
    from dona.chat.checks import citations
    from dona.chat.understanding import detect_language

    last, expect = answers[-1], item.get("expect", {})
    text = last.model_text or last.text
    by_id = {p.id: p for p in last.products}
    cited = [by_id[i] for i in citations(text, set(by_id))[0]]
    failures = []
    if "cites_any" in expect and not set(expect["cites_any"]) & {p.id for p in cited}:
        failures.append(f"cites none of {expect['cites_any']}")
    if "mentions_any" in expect and not any(
        m.lower() in text.lower() for m in expect["mentions_any"]
    ):
        failures.append(f"mentions none of {expect['mentions_any']}")
    cited_keys = ("cited_title_all", "cited_title_any", "cited_brand", "cited_max_price")
    if any(k in expect for k in cited_keys):
        if not cited:
            failures.append("cites no product")
        for p in cited:
            title = p.title.lower()
            if "cited_title_all" in expect and not all(
                w in title for w in expect["cited_title_all"]
            ):
                failures.append(f"{p.id} is not {expect['cited_title_all']}")
            if "cited_title_any" in expect and not any(
                w in title for w in expect["cited_title_any"]
            ):
                failures.append(f"{p.id} is none of {expect['cited_title_any']}")
            if "cited_brand" in expect and (p.brand or "").lower() != expect["cited_brand"].lower():
                failures.append(f"{p.id} is not by {expect['cited_brand']}")
            if "cited_max_price" in expect and (
                p.price is None or p.price > expect["cited_max_price"]
            ):
                failures.append(f"{p.id} costs more than {expect['cited_max_price']}")
    if expect.get("cheaper_than_before"):
        before = [p.price for p in answers[-2].products if p.price is not None]
        shown = cited or last.products
        if not before or not shown or any(p.price is None or p.price >= min(before) for p in shown):
            failures.append("not cheaper than the products shown before")
    if "mentions_price_of_shown" in expect:
        earlier = answers[-2].products
        index = expect["mentions_price_of_shown"]
        price = earlier[index].price if index < len(earlier) else None
        if price is None or f"{price:.2f}" not in text.replace(",", "."):
            failures.append(f"does not state the price of product {index + 1} shown before")
    wants_none = bool(expect.get("nothing_fits"))
    says_none = bool(NEGATIONS.search(text))
    nothing_fits_ok = (last.nothing_fits and says_none) if wants_none else not last.nothing_fits
    if not nothing_fits_ok:
        failures.append("nothing-fits handled wrongly")
    language = expect.get("language") or detect_language(item["turns"][-1])
    return failures, nothing_fits_ok, detect_language(text) == language


def run_model(settings_data: dict[str, Any], questions: list[dict[str, Any]]) -> ModelResult:
    """Every question through the chat with one backend/model (in this process)."""
    from dona.chat import ChatEngine, Conversation
    from dona.config import Settings
    from dona.service import Dona

    settings = Settings(**settings_data)
    dona = Dona(settings)
    engine = ChatEngine(dona)
    backend = engine.backend
    model_file = getattr(backend, "model_path", None)
    result = ModelResult(
        backend=backend.name if backend else settings.llm_backend,
        model=backend.model if backend else settings.llm_model,
        model_file_mb=round(os.path.getsize(model_file) / 2**20, 1) if model_file else None,
    )
    if backend is None:
        result.error = engine._backend_error  # noqa: SLF001 - reported, then extractive
    for item in questions:
        conversation = Conversation(catalog=settings.catalog)
        answers = [engine.ask(turn, conversation) for turn in item["turns"]]
        failures, nothing_ok, language_ok = _check(item, answers)
        last = answers[-1]
        grounded = not last.dropped_citations and not last.unsupported_prices
        result.questions.append(
            QuestionResult(
                id=item["id"],
                kind=item.get("kind", ""),
                answer=last.model_text or last.text,
                cited=last.cited_ids,
                grounded=grounded,
                correct=not [f for f in failures if not f.startswith("nothing-fits")],
                nothing_fits_ok=nothing_ok,
                language_ok=language_ok,
                failures=failures,
                ttft_s=last.time_to_first_token_s,
                seconds=last.total_s,
                completion_tokens=last.usage.completion_tokens,
                prompt_tokens=last.usage.prompt_tokens,
                fallback=last.fallback,
            )
        )
    result.peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result


def evaluate_models(
    settings: Any, questions: list[dict[str, Any]], runs: list[tuple[str, str]]
) -> list[ModelResult]:
    """One fresh process per (backend, model), so peak memory is that model's."""
    context = multiprocessing.get_context("spawn")
    results = []
    for backend, model in runs:
        data = settings.model_dump() | {"llm_backend": backend, "llm_model": model}
        with context.Pool(1) as pool:
            results.append(pool.apply(run_model, (data, questions)))
    return results


def markdown(results: list[ModelResult], dataset: str) -> str:
    rows = [r.summary() for r in results]
    out = [
        f"# LLM evaluation: {dataset}",
        "",
        f"{rows[0]['questions'] if rows else 0} questions; shares of questions, higher is "
        "better. Peak RSS is the whole DONA process (embedder and index included).",
        "",
        "| backend | model | file MB | grounded | correct | nothing-fits ok | language ok | "
        "fallbacks | TTFT p50 s | tokens/s | prompt tokens | peak RSS MB |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        out.append(
            f"| {r['backend']} | {r['model']} | {r['model_file_mb'] or '-'} | {r['grounded']:.2f} "
            f"| {r['correct']:.2f} | {r['nothing_fits_ok']:.2f} | {r['language_ok']:.2f} | "
            f"{r['fallbacks']} | {r['ttft_s_p50'] or '-'} | {r['tokens_per_s'] or '-'} | "
            f"{r['prompt_tokens_mean'] or '-'} | {r['peak_rss_mb']} |"
        )
    for result in results:
        out += ["", f"## {result.backend} / {result.model}", ""]
        if result.error:
            out += [f"Backend error: {result.error}", ""]
        out += ["| question | ok | answer | failures |", "|---|---|---|---|"]
        for q in result.questions:
            answer = " ".join(q.answer.split()).replace("|", "\\|")
            answer = answer if len(answer) <= 160 else answer[:159] + "…"
            ok = "yes" if q.correct and q.nothing_fits_ok and q.language_ok else "no"
            out.append(f"| {q.id} | {ok} | {answer} | {'; '.join(q.failures)} |")
    return "\n".join(out) + "\n"


def to_json(results: list[ModelResult], dataset: str) -> dict[str, Any]:
    return {
        "dataset": dataset,
        "results": [r.summary() | {"per_question": [asdict(q) for q in r.questions]}
                    for r in results],
    }  # fmt: skip
