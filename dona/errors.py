"""Errors a user can act on.

Every error that should reach a merchant or shopper is a `DonaError`: its `str()` is a
plain, complete sentence that says what went wrong and what to do. The CLI prints it on
one line and exits non-zero; the UI shows it in a banner. Anything else is a bug.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


class DonaError(Exception):
    """Base class: the message is meant for the person using DONA.

    The message is English. `code` (stable, optional) and `params` let the pages and the
    CLI say the same in the user's language (`dona.i18n.localized`); they travel with
    the error, pickled too."""

    exit_code = 1

    def __init__(
        self, *args: object, code: str | None = None, params: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(*args)
        self.code = code
        self.params: dict[str, Any] = dict(params or {})


class ConfigError(DonaError):
    """A setting is missing or invalid."""

    exit_code = 2


class AuthError(DonaError):
    """A merchant sign-in failed, was rate limited, or a merchant acted outside their catalog."""

    exit_code = 3


class SignedOutError(AuthError):
    """A merchant's session ended: idle too long, or the account was removed or its
    password changed since the sign-in. Signing in again is the fix."""


class CatalogNotFoundError(DonaError):
    """The requested catalog does not exist or has no live version."""


class CatalogBusyError(DonaError):
    """Another ingest, phase change or rollback of the same catalog is running."""


class CatalogFileError(DonaError):
    """The uploaded file cannot be read as a catalog at all (empty, wrong encoding, ...)."""


@dataclass(frozen=True)
class RowProblem:
    """One bad row of an upload. `row` is what the merchant sees in their editor:
    the line number for CSV and JSON Lines (header is line 1), the 1-based item for JSON."""

    row: int
    reason: str
    product_id: str | None = None

    def __str__(self) -> str:
        ident = f" (id {self.product_id!r})" if self.product_id else ""
        return f"row {self.row}{ident}: {self.reason}"


class CatalogValidationError(DonaError):
    """Some rows are invalid; nothing was changed. Carries every problem found."""

    def __init__(
        self,
        problems: list[RowProblem],
        total_rows: int,
        max_listed: int = 20,
        problem_count: int | None = None,  # when `problems` lists only the first ones
    ):
        self.problems = problems
        self.total_rows = total_rows
        self.max_listed = max_listed
        self.problem_count = count = len(problems) if problem_count is None else problem_count
        listed = "; ".join(str(p) for p in problems[:max_listed])
        more = f"; and {count - max_listed} more" if count > max_listed else ""
        super().__init__(
            f"{count} of {total_rows} rows are invalid, so nothing was changed: "
            f"{listed}{more}. Fix those rows, or ingest with --skip-bad-rows to leave them out.",
            code="rows_invalid",
            params={"count": count, "total": total_rows},
        )


class IndexIntegrityError(DonaError):
    """The index files on disk do not match their manifest or the current settings."""


class ModelUnavailableError(DonaError):
    """A bundled model could not be loaded offline."""


class QueryError(DonaError):
    """The shopper's query or filters cannot be used as given."""


class LLMError(DonaError):
    """The language model backend failed (server down, timeout, bad key, missing model).

    The chat turns this into an extractive answer plus a one-line notice; the CLI's
    `--strict` and the LLM evaluation see it as it is."""
