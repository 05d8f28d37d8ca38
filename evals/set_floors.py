"""Write the retrieval floors of evals/floors.json from a measurement of f32 on half B.

    DONA_DATA_DIR=.dona-eval python evals/set_floors.py [--catalog demo] [--out evals/floors.json]
    DONA_DATA_DIR=.dona-eval python evals/set_floors.py \
        --queries evals/datasets/chorus_icecat/queries_dev_es.tsv --out evals/floors_es.json

For each mode (dense, hybrid) and metric (nDCG@10, Recall@100) the floor is the lower end
of the 95% bootstrap interval of f32's mean over the judged queries of half B (2,000
resamples, seed 0), rounded down to 3 decimals: a served configuration below it has lost
more than resampling the queries can explain. The relative 3% gate cannot see such a loss
when it hits f32 too (a weaker fusion, BM25 or embedder). Other sections of the file (the
chat floors) are kept as they are. Run it when a deliberate change moves the figures, and
say why in the commit.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
from pathlib import Path

import numpy as np

from dona.eval.harness import BASELINE, evaluate_phases, load_query_set
from dona.service import Dona

REPO = Path(__file__).resolve().parent.parent
QUERIES = REPO / "evals/datasets/chorus_icecat/queries_dev.tsv"
LABELS = REPO / "evals/datasets/chorus_icecat/labels_dev.tsv"
FLOORS = (("dense", "ndcg@10"), ("dense", "recall@100"), ("hybrid", "ndcg@10"),
          ("hybrid", "recall@100"))  # fmt: skip
NAMES = {"ndcg@10": "nDCG@10", "recall@100": "Recall@100"}
HALF = "B"


def bootstrap_interval(
    values: np.ndarray, rounds: int = 2000, seed: int = 0
) -> tuple[float, float]:
    """95% percentile interval of the mean, resampling queries."""
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, values.size, size=(rounds, values.size))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return float(low), float(high)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--catalog", default="demo")
    parser.add_argument("--out", type=Path, default=REPO / "evals/floors.json")
    parser.add_argument(
        "--queries", type=Path, default=QUERIES, help="the same ids in another language"
    )
    args = parser.parse_args()

    dona = Dona()
    data, dataset, _ = load_query_set(dona, args.catalog, args.queries, LABELS, half=HALF)
    result = evaluate_phases(dona, args.catalog, data, dataset, [BASELINE])
    floors = {}
    for mode, metric in FLOORS:
        values = result.find(BASELINE, mode).per_query[metric]
        low, high = bootstrap_interval(values)
        floors[f"{mode} {NAMES[metric]}"] = {
            "mode": mode,
            "metric": metric,
            "min": math.floor(low * 1000) / 1000,
            "f32": round(float(values.mean()), 4),
            "ci95": [round(low, 4), round(high, 4)],
        }
    previous = json.loads(args.out.read_text()) if args.out.exists() else {}
    served = dona.served(args.catalog).manifest
    payload = {
        "about": "Absolute quality floors for CI (`make gate`: dona eval --gate --floors). "
        "Retrieval floors are written by evals/set_floors.py; see its docstring for the rule.",
        "dataset": args.queries.parent.name,
        "queries": args.queries.name,
        "half": HALF,
        "judged_queries": result.judged,
        "embedder": served["embedder"],
        "rule": "min = lower end of the 95% bootstrap interval of f32's mean on the half's "
        "judged queries (2,000 resamples, seed 0), rounded down to 3 decimals",
        "measured": datetime.date.today().isoformat(),
        "floors": floors,
        **{k: v for k, v in previous.items() if k == "chat"},
    }
    args.out.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
    for name, floor in floors.items():
        print(f"{name}: f32 {floor['f32']:.4f}, 95% interval {floor['ci95']}, floor {floor['min']}")


if __name__ == "__main__":
    main()
