"""Checking an upload in a child process with memory and CPU limits (the upload page's
path): the same results and messages as in-process, and a plain refusal when the child
runs past a limit. Real child processes, real limits."""

from __future__ import annotations

import json

import pytest

from dona.catalog import ParseOptions, parse_catalog, preview_rows
from dona.catalog.isolated import Limits, parse_isolated, preview_isolated
from dona.errors import CatalogFileError

CSV = b"id,title,brand,price\n1,Red Kettle,Acme,20\n2,,Acme,35\n3,Steel Toaster,Bolt,12,5\n"


def test_same_results_as_in_process():
    options = ParseOptions(default_currency="EUR")
    assert parse_isolated(CSV, "c.csv", options) == parse_catalog(CSV, "c.csv", options)
    assert preview_isolated(CSV, "c.csv", limit=2) == preview_rows(CSV, "c.csv", limit=2)


def test_refusals_keep_their_message():
    with pytest.raises(CatalogFileError, match="the JSON is nested too deeply"):
        parse_isolated(b"[" * 100_000, "c.json")
    with pytest.raises(CatalogFileError, match="column name is 1,602 characters long"):
        preview_isolated(b"id,title," + b"x" * 1602 + b"\n1,a,b\n", "c.csv")


def test_a_check_past_its_memory_limit_is_refused():
    """60,000 valid products need far more than 32 MB once parsed."""
    items = [{"id": i, "title": f"Product {i}", "description": "d" * 200} for i in range(60_000)]
    data = json.dumps(items).encode()
    with pytest.raises(CatalogFileError, match="needed more than 32 MB of memory; split"):
        parse_isolated(data, "c.json", limits=Limits(memory_mb=32))
    assert len(parse_isolated(data, "c.json").products) == 60_000  # the default limits fit


def test_a_check_past_its_cpu_limit_is_refused():
    """A zero-second CPU budget is spent before the parse starts: the child is stopped by
    the kernel (SIGXCPU), and the page gets a sentence, not a dead worker."""
    with pytest.raises(CatalogFileError, match="took longer than 0 s; split"):
        parse_isolated(CSV, "c.csv", limits=Limits(cpu_seconds=0))


def test_limits_grow_with_the_upload():
    small, large = Limits.for_upload(1024), Limits.for_upload(200 * 1024 * 1024)
    assert small.memory_mb == 1024 and small.cpu_seconds == 60
    assert large.memory_mb > small.memory_mb and large.cpu_seconds > small.cpu_seconds
    assert large.wall_seconds > large.cpu_seconds
