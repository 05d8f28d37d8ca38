"""The SQL tables (SQLAlchemy 2 declarative rows) and the row -> `Product` mapping."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from dona.catalog.product import Product

BUILDING, READY, FAILED, RETIRED = "building", "ready", "failed", "retired"


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class CatalogRow(Base):
    __tablename__ = "catalogs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    live_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("catalog_versions.id", use_alter=True, name="fk_catalog_live_version")
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # the index phase adopted through the gate; new versions are built with it
    phase: Mapped[str] = mapped_column(String(50), default="f32")
    phase_config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class CatalogVersionRow(Base):
    __tablename__ = "catalog_versions"
    __table_args__ = (UniqueConstraint("catalog_id", "number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    catalog_id: Mapped[int] = mapped_column(ForeignKey("catalogs.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), default=BUILDING)
    product_count: Mapped[int] = mapped_column(Integer, default=0)
    index_dir: Mapped[str | None] = mapped_column(String(500))
    embedder: Mapped[str | None] = mapped_column(String(200))
    phase: Mapped[str | None] = mapped_column(String(50))
    source_name: Mapped[str | None] = mapped_column(String(500))
    source_sha256: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    activated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ProductRow(Base):
    __tablename__ = "products"
    __table_args__ = (
        UniqueConstraint("version_id", "product_id"),
        UniqueConstraint("version_id", "position"),
    )

    pk: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("catalog_versions.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)  # row in the version's vector files
    product_id: Mapped[str] = mapped_column(String(200))
    title: Mapped[str] = mapped_column(String(500))
    brand: Mapped[str | None] = mapped_column(String(500))
    description: Mapped[str | None] = mapped_column(Text)
    price_minor: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[str | None] = mapped_column(String(3))
    category: Mapped[str | None] = mapped_column(String(500))
    url: Mapped[str | None] = mapped_column(String(2000))
    image_url: Mapped[str | None] = mapped_column(String(2000))
    stock: Mapped[int | None] = mapped_column(Integer)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class IngestRunRow(Base):
    __tablename__ = "ingest_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    catalog_id: Mapped[int] = mapped_column(ForeignKey("catalogs.id"), index=True)
    version_id: Mapped[int | None] = mapped_column(ForeignKey("catalog_versions.id"))
    source_name: Mapped[str | None] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(20), default="running")
    rows_total: Mapped[int] = mapped_column(Integer, default=0)
    rows_ingested: Mapped[int] = mapped_column(Integer, default=0)
    rows_skipped: Mapped[int] = mapped_column(Integer, default=0)
    problems: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    timings: Mapped[dict[str, float]] = mapped_column(JSON, default=dict)
    message: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class EmbeddingCacheRow(Base):
    __tablename__ = "embedding_cache"

    model_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    text_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    vector: Mapped[bytes] = mapped_column(LargeBinary)


class MerchantRow(Base):
    """A merchant's sign-in: one account changes exactly one catalog (dona/store/accounts.py)."""

    __tablename__ = "merchants"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    catalog: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class SignInAttemptRow(Base):
    """Sign-in attempts that count against the limits: a row is written before the password
    is checked (so parallel attempts cannot all slip under the limit) and deleted when it
    turns out right. Kept in SQL so every app process and restart sees them."""

    __tablename__ = "sign_in_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), index=True)
    client: Mapped[str | None] = mapped_column(String(100), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)


class LockRow(Base):
    """A named mutex for short transactions: updating the row takes PostgreSQL's row lock
    or SQLite's write lock until commit, on every database SQLAlchemy speaks."""

    __tablename__ = "locks"

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    counter: Mapped[int] = mapped_column(BigInteger, default=0)


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def product_from_row(row: ProductRow) -> Product:
    return Product(
        id=row.product_id,
        title=row.title,
        brand=row.brand,
        description=row.description,
        price_minor=row.price_minor,
        currency=row.currency,
        category=row.category,
        url=row.url,
        image_url=row.image_url,
        stock=row.stock,
        attributes=row.attributes or {},
    )
