"""SQL storage (SQLAlchemy 2): catalogs, immutable catalog versions, products, ingest runs
and the embedding cache. SQLite by default, PostgreSQL through `DONA_DATABASE_URL`.

A catalog points at its live version. A new version is written beside it with status
`building` and becomes live in one short transaction after rows, embeddings and index
files are complete; a process that dies before then leaves the old version serving.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import quote, quote_plus

import numpy as np
from sqlalchemy import (
    create_engine,
    delete,
    event,
    func,
    literal,
    select,
    update,
)
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker

from dona.catalog.product import Product, minor_unit_exponent
from dona.errors import CatalogNotFoundError, ConfigError
from dona.store.rows import (
    BUILDING,
    FAILED,
    READY,
    Base,
    CatalogRow,
    CatalogVersionRow,
    EmbeddingCacheRow,
    IngestRunRow,
    ProductRow,
    product_from_row,
    utcnow,
)

BAD_URL = (
    "DONA_DATABASE_URL is not a database URL DONA can use; write it as "
    "dialect+driver://user@host:port/database (e.g. postgresql+psycopg://dona@db:5432/dona) "
    "and put the password in DONA_DATABASE_PASSWORD"
)


def _scrub(text: str, secret: str | None) -> str:
    """A driver's message with the password taken out, plain and URL-encoded."""
    if secret:
        for form in {secret, quote_plus(secret), quote(secret, safe="")}:
            text = text.replace(form, "***")
    return text


def parse_database_url(url: str, password: str | None = None) -> URL:
    """The URL, with `password` set apart from it (any character works). A URL that does
    not parse is refused without echoing it: it may hold a password."""
    try:
        parsed = make_url(url)
    except Exception:  # ArgumentError, or ValueError from a port that is not a number
        raise ConfigError(BAD_URL) from None
    if "@" in (parsed.host or ""):  # an unencoded '@' in the password: the rest became host
        raise ConfigError(
            "DONA_DATABASE_URL has an '@' after its password part; a password with '@' "
            "must be URL-encoded (%40), or better, given in DONA_DATABASE_PASSWORD"
        )
    if password:
        parsed = parsed.set(password=password)
    return parsed


def make_engine(url: str, password: str | None = None) -> Engine:
    parsed = parse_database_url(url, password)
    try:
        if parsed.get_backend_name() == "sqlite":
            engine = create_engine(parsed, connect_args={"timeout": 30})

            @event.listens_for(engine, "connect")
            def _sqlite_pragmas(dbapi_conn, _record):  # WAL: readers never block the ingest
                cur = dbapi_conn.cursor()
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA foreign_keys=ON")
                cur.execute("PRAGMA synchronous=NORMAL")
                cur.close()

            return engine
        return create_engine(parsed, pool_pre_ping=True)
    except Exception as exc:  # unknown dialect, missing driver
        raise ConfigError(
            f"cannot use DONA_DATABASE_URL {parsed.render_as_string(hide_password=True)}: "
            f"{_scrub(str(exc), parsed.password)}"
        ) from None


class Store:
    """All SQL access goes through here."""

    def __init__(self, url: str, password: str | None = None):
        self.engine = make_engine(url, password)
        self.Session = sessionmaker(self.engine, expire_on_commit=False)

    def create_schema(self) -> None:
        try:
            Base.metadata.create_all(self.engine)
        except Exception as exc:  # unreachable server, wrong password, no such database
            detail = _scrub(str(exc).split("\n(Background")[0], self.engine.url.password)
            raise ConfigError(f"cannot open the database at {self._safe_url()}: {detail}") from None

    def _safe_url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    def dispose(self) -> None:
        self.engine.dispose()

    # ---- catalogs and versions ------------------------------------------------------

    def catalog(self, name: str) -> CatalogRow | None:
        with self.Session() as s:
            return s.scalar(select(CatalogRow).where(CatalogRow.name == name))

    def ensure_catalog(self, name: str) -> CatalogRow:
        with self.Session.begin() as s:
            row = s.scalar(select(CatalogRow).where(CatalogRow.name == name))
            if row is None:
                twin = s.scalar(
                    select(CatalogRow.name).where(func.lower(CatalogRow.name) == name.lower())
                )
                if twin is not None:  # 'Shop' beside 'shop' would share folders on some disks
                    raise ConfigError(
                        f"catalog {name!r} differs only by case from the existing catalog "
                        f"{twin!r}; use {twin!r}"
                    )
                row = CatalogRow(name=name)
                s.add(row)
                s.flush()
            return row

    def catalogs(self) -> list[tuple[CatalogRow, CatalogVersionRow | None]]:
        with self.Session() as s:
            rows = s.scalars(select(CatalogRow).order_by(CatalogRow.name)).all()
            return [
                (c, s.get(CatalogVersionRow, c.live_version_id) if c.live_version_id else None)
                for c in rows
            ]

    def live_version(self, name: str) -> CatalogVersionRow:
        with self.Session() as s:
            row = s.execute(
                select(CatalogVersionRow)
                .join(CatalogRow, CatalogRow.live_version_id == CatalogVersionRow.id)
                .where(CatalogRow.name == name)
            ).scalar_one_or_none()
        if row is None:
            if self.catalog(name) is None:
                raise CatalogNotFoundError(
                    f"there is no catalog named {name!r}; ingest one with 'dona ingest FILE "
                    f"--catalog {name}' (see 'dona catalogs')",
                    code="catalog_unknown",
                    params={"name": name},
                )
            raise CatalogNotFoundError(
                f"catalog {name!r} has no live version yet; ingest a file",
                code="catalog_not_live",
                params={"name": name},
            )
        return row

    def versions(self, name: str) -> list[CatalogVersionRow]:
        with self.Session() as s:
            return list(
                s.scalars(
                    select(CatalogVersionRow)
                    .join(CatalogRow, CatalogRow.id == CatalogVersionRow.catalog_id)
                    .where(CatalogRow.name == name)
                    .order_by(CatalogVersionRow.number.desc())
                )
            )

    def version(self, version_id: int) -> CatalogVersionRow | None:
        with self.Session() as s:
            return s.get(CatalogVersionRow, version_id)

    def new_version(
        self, catalog_id: int, source_name: str | None, source_sha256: str
    ) -> CatalogVersionRow:
        with self.Session.begin() as s:
            number = (
                s.scalar(
                    select(func.max(CatalogVersionRow.number)).where(
                        CatalogVersionRow.catalog_id == catalog_id
                    )
                )
                or 0
            ) + 1
            row = CatalogVersionRow(
                catalog_id=catalog_id,
                number=number,
                status=BUILDING,
                source_name=source_name,
                source_sha256=source_sha256,
            )
            s.add(row)
            s.flush()
            return row

    def update_version(self, version_id: int, **values: Any) -> None:
        with self.Session.begin() as s:
            s.execute(
                update(CatalogVersionRow).where(CatalogVersionRow.id == version_id).values(**values)
            )

    def activate(
        self,
        catalog_id: int,
        version_id: int,
        phase: str | None = None,
        phase_config: dict[str, Any] | None = None,
    ) -> None:
        """The atomic switch: one transaction flips the live pointer and the status (and,
        for a rollback, the catalog's index phase to the restored version's)."""
        catalog_values: dict[str, Any] = {"live_version_id": version_id}
        if phase is not None:
            catalog_values.update(phase=phase, phase_config=phase_config or {})
        with self.Session.begin() as s:
            s.execute(
                update(CatalogVersionRow)
                .where(CatalogVersionRow.id == version_id)
                .values(status=READY, activated_at=utcnow())
            )
            s.execute(
                update(CatalogRow).where(CatalogRow.id == catalog_id).values(**catalog_values)
            )

    def set_catalog_phase(self, catalog_id: int, phase: str, config: dict[str, Any]) -> None:
        with self.Session.begin() as s:
            s.execute(
                update(CatalogRow)
                .where(CatalogRow.id == catalog_id)
                .values(phase=phase, phase_config=config)
            )

    def copy_products(self, source_version_id: int, target_version_id: int) -> int:
        """Same products under a new version (a new index over an unchanged catalog)."""
        columns = [
            c.name for c in ProductRow.__table__.columns if c.name not in ("pk", "version_id")
        ]
        with self.Session.begin() as s:
            source = select(
                literal(target_version_id).label("version_id"),
                *[ProductRow.__table__.c[name] for name in columns],
            ).where(ProductRow.version_id == source_version_id)
            result = s.execute(
                ProductRow.__table__.insert().from_select(["version_id", *columns], source)
            )
            return result.rowcount

    def abandon_stale_builds(self, catalog_id: int) -> list[CatalogVersionRow]:
        """Versions left `building` by a process that died; the caller holds the catalog lock,
        so no live ingest owns them."""
        with self.Session.begin() as s:
            stale = list(
                s.scalars(
                    select(CatalogVersionRow).where(
                        CatalogVersionRow.catalog_id == catalog_id,
                        CatalogVersionRow.status == BUILDING,
                    )
                )
            )
            for row in stale:
                row.status = FAILED
            s.execute(
                update(IngestRunRow)
                .where(IngestRunRow.catalog_id == catalog_id, IngestRunRow.status == "running")
                .values(status="failed", message="interrupted", finished_at=utcnow())
            )
        return stale

    def catalogs_with_stale_builds(self) -> list[str]:
        """Catalogs with a version still `building` (an ingest running, or one that died)."""
        with self.Session() as s:
            return list(
                s.scalars(
                    select(CatalogRow.name)
                    .join(CatalogVersionRow, CatalogVersionRow.catalog_id == CatalogRow.id)
                    .where(CatalogVersionRow.status == BUILDING)
                    .distinct()
                )
            )

    def delete_version_rows(self, version_id: int) -> None:
        with self.Session.begin() as s:
            s.execute(delete(ProductRow).where(ProductRow.version_id == version_id))

    # ---- products ----------------------------------------------------------------

    def insert_products(
        self, version_id: int, products: Sequence[Product], batch: int = 2000
    ) -> None:
        with self.Session.begin() as s:
            for start in range(0, len(products), batch):
                s.execute(
                    ProductRow.__table__.insert(),
                    [
                        {
                            "version_id": version_id,
                            "position": start + i,
                            "product_id": p.id,
                            "title": p.title,
                            "brand": p.brand,
                            "description": p.description,
                            "price_minor": p.price_minor,
                            "currency": p.currency,
                            "category": p.category,
                            "url": p.url,
                            "image_url": p.image_url,
                            "stock": p.stock,
                            "attributes": p.attributes,
                        }
                        for i, p in enumerate(products[start : start + batch])
                    ],
                )

    def products_at(self, version_id: int, positions: Iterable[int]) -> dict[int, Product]:
        positions = [int(p) for p in positions]
        if not positions:
            return {}
        with self.Session() as s:
            rows = s.scalars(
                select(ProductRow).where(
                    ProductRow.version_id == version_id, ProductRow.position.in_(positions)
                )
            ).all()
        return {row.position: product_from_row(row) for row in rows}

    def products_by_id(self, version_id: int, product_ids: Iterable[str]) -> dict[str, Product]:
        ids = list(product_ids)
        with self.Session() as s:
            rows = s.scalars(
                select(ProductRow).where(
                    ProductRow.version_id == version_id, ProductRow.product_id.in_(ids)
                )
            ).all()
        return {row.product_id: product_from_row(row) for row in rows}

    def facets(self, version_id: int) -> dict[str, np.ndarray]:
        """Per-position filter columns, loaded once per served version."""
        with self.Session() as s:
            rows = s.execute(
                select(
                    ProductRow.position,
                    ProductRow.product_id,
                    ProductRow.price_minor,
                    ProductRow.currency,
                    ProductRow.brand,
                    ProductRow.category,
                    ProductRow.stock,
                )
                .where(ProductRow.version_id == version_id)
                .order_by(ProductRow.position)
            ).all()
        n = len(rows)
        price = np.full(n, np.nan)
        for i, r in enumerate(rows):
            if r.price_minor is not None:
                price[i] = r.price_minor / 10 ** minor_unit_exponent(r.currency or "USD")
        return {
            "product_id": np.array([r.product_id for r in rows], dtype=object),
            "price": price,
            "brand": np.array([(r.brand or "").casefold() for r in rows], dtype=object),
            "category": np.array([(r.category or "").casefold() for r in rows], dtype=object),
            "stock": np.array([-1 if r.stock is None else r.stock for r in rows], dtype=np.int64),
        }

    def all_products(self, version_id: int) -> list[Product]:
        with self.Session() as s:
            rows = s.scalars(
                select(ProductRow)
                .where(ProductRow.version_id == version_id)
                .order_by(ProductRow.position)
            ).all()
        return [product_from_row(r) for r in rows]

    def brands(self, version_id: int) -> list[str]:
        with self.Session() as s:
            return [
                b
                for b in s.scalars(
                    select(ProductRow.brand)
                    .where(ProductRow.version_id == version_id, ProductRow.brand.is_not(None))
                    .distinct()
                    .order_by(ProductRow.brand)
                )
            ]

    # ---- ingest runs ---------------------------------------------------------------

    def start_run(self, catalog_id: int, source_name: str | None) -> int:
        with self.Session.begin() as s:
            row = IngestRunRow(catalog_id=catalog_id, source_name=source_name)
            s.add(row)
            s.flush()
            return row.id

    def finish_run(self, run_id: int, status: str, **values: Any) -> None:
        with self.Session.begin() as s:
            s.execute(
                update(IngestRunRow)
                .where(IngestRunRow.id == run_id)
                .values(status=status, finished_at=utcnow(), **values)
            )

    def record_event(self, catalog_name: str, status: str, message: str) -> None:
        """A line in the catalog's run history for its merchant (e.g. a damaged version
        skipped at load); written once, not again by every process that meets it."""
        with self.Session.begin() as s:
            catalog = s.scalar(select(CatalogRow).where(CatalogRow.name == catalog_name))
            if catalog is None:
                return
            latest = s.scalar(
                select(IngestRunRow)
                .where(IngestRunRow.catalog_id == catalog.id)
                .order_by(IngestRunRow.id.desc())
                .limit(1)
            )
            if latest is not None and (latest.status, latest.message) == (status, message):
                return
            now = utcnow()
            s.add(
                IngestRunRow(
                    catalog_id=catalog.id,
                    status=status,
                    message=message,
                    started_at=now,
                    finished_at=now,
                )
            )

    def runs(self, catalog_name: str, limit: int = 20) -> list[IngestRunRow]:
        with self.Session() as s:
            return list(
                s.scalars(
                    select(IngestRunRow)
                    .join(CatalogRow, CatalogRow.id == IngestRunRow.catalog_id)
                    .where(CatalogRow.name == catalog_name)
                    .order_by(IngestRunRow.id.desc())
                    .limit(limit)
                )
            )

    # ---- embedding cache -------------------------------------------------------------

    def cached_embeddings(
        self, model_id: str, hashes: Sequence[str], dims: int
    ) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        unique = list(dict.fromkeys(hashes))
        with self.Session() as s:
            for start in range(0, len(unique), 900):  # stay under SQLite's bound-variable limit
                chunk = unique[start : start + 900]
                for h, blob in s.execute(
                    select(EmbeddingCacheRow.text_hash, EmbeddingCacheRow.vector).where(
                        EmbeddingCacheRow.model_id == model_id,
                        EmbeddingCacheRow.text_hash.in_(chunk),
                    )
                ):
                    vec = np.frombuffer(blob, dtype=np.float32)
                    if vec.shape[0] == dims:
                        found[h] = vec
        return found

    def cache_embeddings(self, model_id: str, items: dict[str, np.ndarray]) -> None:
        """Store vectors for texts that were cache misses."""
        rows = [
            {"model_id": model_id, "text_hash": h, "vector": np.asarray(v, np.float32).tobytes()}
            for h, v in items.items()
        ]
        try:
            with self.Session.begin() as s:
                for start in range(0, len(rows), 2000):
                    s.execute(EmbeddingCacheRow.__table__.insert(), rows[start : start + 2000])
        except IntegrityError:  # another catalog's ingest cached some of them meanwhile
            with self.Session.begin() as s:
                for row in rows:
                    s.merge(EmbeddingCacheRow(**row))
