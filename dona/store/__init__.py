"""SQL storage (SQLAlchemy 2): catalogs, versions, products, ingest runs, the embedding
cache and merchant accounts. Only `dona.service` (and this package) touches it."""

from dona.store.accounts import Accounts, Merchant
from dona.store.rows import text_hash
from dona.store.store import Store

__all__ = ["Accounts", "Merchant", "Store", "text_hash"]
