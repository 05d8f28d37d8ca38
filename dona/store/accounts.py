"""Merchant accounts: who may change which catalog.

Each account belongs to exactly one catalog. Passwords are stored as salted scrypt
hashes (stdlib `hashlib.scrypt` at OWASP's N=2^17, r=8, p=1; the parameters are kept in
the hash, and an older hash is replaced at the next successful sign-in).

Failed sign-ins are limited per username, per client (the address the UI passes) and in
all, within `window_s`. An attempt is written down *before* its password is checked, in
a transaction that first takes a lock row, so thirty parallel attempts check at most
`max_failures` passwords; a right password removes the username's attempts again. Over a
limit, attempts are refused without checking the password, even the right one, and
unknown usernames count the same way, so the limit reveals no accounts.

A signed-in merchant carries a fingerprint of its row (id, catalog, password hash):
`check` refuses a merchant whose account was removed or whose password changed since.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache

from sqlalchemy import delete, func, select, true, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dona.catalog.names import check_catalog_name
from dona.errors import AuthError, ConfigError, SignedOutError
from dona.store.rows import CatalogRow, LockRow, MerchantRow, SignInAttemptRow, utcnow
from dona.store.store import Store

USERNAME_RE = re.compile(r"[a-z0-9][a-z0-9._-]{1,63}")
MIN_PASSWORD_LENGTH = 10
# OWASP's scrypt minimum: ~0.35 s and 128 MiB per check on a small CPU; costly for
# anyone guessing offline from a stolen database.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**17, 8, 1
# Stored hashes above these would ask for more than 1 GiB per check: refused, not run.
MAX_SCRYPT_N, MAX_SCRYPT_R, MAX_SCRYPT_P = 2**20, 16, 4
# At most this many scrypt runs at once per process: memory stays ~128 MiB x slots
# however many sign-ins arrive together.
_HASH_SLOTS = threading.BoundedSemaphore(2)
WRONG_CREDENTIALS = "wrong username or password"
SIGNED_OUT = "your merchant account was removed or its password changed; sign in again"
SIGN_IN_LOCK = "sign-in"


@dataclass(frozen=True)
class Merchant:
    """A signed-in merchant; the pages act on `catalog` only, never on a catalog chosen
    in the browser. `fingerprint` ties it to the account row as it was at sign-in."""

    username: str
    catalog: str
    fingerprint: str = field(default="", compare=False, repr=False)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def scrypt_maxmem(n: int, r: int, p: int) -> int:
    """The memory scrypt needs (OpenSSL: 128·r·(N+p+2) bytes) plus slack. Python's
    default cap is 32 MiB: without this, N=2^17 fails on every check."""
    return 128 * r * (n + p + 2) + 2**20


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int, dklen: int) -> bytes:
    if not (1 < n <= MAX_SCRYPT_N and n & (n - 1) == 0):
        raise ValueError("scrypt N out of range")
    if not (1 <= r <= MAX_SCRYPT_R and 1 <= p <= MAX_SCRYPT_P and 16 <= dklen <= 64):
        raise ValueError("scrypt parameters out of range")
    with _HASH_SLOTS:
        return hashlib.scrypt(
            password.encode("utf-8"),
            salt=salt,
            n=n,
            r=r,
            p=p,
            dklen=dklen,
            maxmem=scrypt_maxmem(n, r, p),
        )


def hash_password(
    password: str,
    salt: bytes | None = None,
    n: int = SCRYPT_N,
    r: int = SCRYPT_R,
    p: int = SCRYPT_P,
) -> str:
    salt = salt or secrets.token_bytes(16)
    digest = _scrypt(password, salt, n, r, p, 32)
    return f"scrypt${n}${r}${p}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = _scrypt(password, base64.b64decode(salt), int(n), int(r), int(p), len(expected))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


def needs_rehash(stored: str) -> bool:
    """A hash made with other parameters than today's (replaced at the next sign-in)."""
    return not stored.startswith(f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}$")


@cache
def _dummy_hash() -> str:
    """Checked when the username does not exist, so both cases cost the same time."""
    return hash_password(secrets.token_urlsafe(16))


def fingerprint(row: MerchantRow) -> str:
    """Changes when the account is removed and re-added, moved or given a new password."""
    material = f"{row.id}\x00{row.username}\x00{row.catalog}\x00{row.password_hash}"
    return hashlib.sha256(material.encode("utf-8")).hexdigest()[:32]


def _merchant(row: MerchantRow) -> Merchant:
    return Merchant(row.username, row.catalog, fingerprint(row))


def normalise_username(username: str) -> str:
    return (username or "")[:200].strip().lower()


def _check_new_credentials(username: str, password: str) -> None:
    if not USERNAME_RE.fullmatch(username):
        raise ConfigError(
            f"username {username!r} is not allowed; use 2-64 lowercase letters, digits, "
            "'.', '_' or '-'"
        )
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ConfigError(
            f"the password is too short; use at least {MIN_PASSWORD_LENGTH} characters"
        )


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)  # SQLite drops the zone


def _row(session: Session, username: str) -> MerchantRow | None:
    return session.scalar(select(MerchantRow).where(MerchantRow.username == username))


def _existing_row(session: Session, username: str) -> MerchantRow:
    row = _row(session, username)
    if row is None:
        raise ConfigError(f"there is no merchant {username!r} (see 'dona merchant list')")
    return row


def _minutes(wait: timedelta) -> int:
    return max(1, int(wait.total_seconds() // 60) + 1)


class _NoLockRow(Exception):
    pass


class Accounts:
    def __init__(
        self,
        store: Store,
        max_failures: int = 5,
        window_s: int = 900,
        client_max_failures: int = 20,
        global_max_failures: int = 100,
    ):
        self.store = store
        self.max_failures = max_failures
        self.client_max_failures = client_max_failures
        self.global_max_failures = global_max_failures
        self.window = timedelta(seconds=window_s)

    def create(self, username: str, password: str, catalog: str) -> Merchant:
        username = normalise_username(username)
        _check_new_credentials(username, password)
        check_catalog_name(catalog)
        password_hash = hash_password(password)  # outside the transaction: it takes 0.35 s
        with self.store.Session.begin() as s:
            if _row(s, username) is not None:
                raise ConfigError(
                    f"merchant {username!r} already exists; use 'dona merchant set-password' "
                    "to change the password"
                )
            twin = s.scalar(
                select(CatalogRow.name).where(
                    func.lower(CatalogRow.name) == catalog.lower(), CatalogRow.name != catalog
                )
            )
            if twin is not None:
                raise ConfigError(
                    f"catalog {catalog!r} differs only by case from the existing catalog "
                    f"{twin!r}; use {twin!r}"
                )
            row = MerchantRow(username=username, catalog=catalog, password_hash=password_hash)
            s.add(row)
            s.flush()
            return _merchant(row)

    def set_password(self, username: str, password: str) -> None:
        """A new password; the merchant's open sessions end at their next page."""
        username = normalise_username(username)
        _check_new_credentials(username, password)
        password_hash = hash_password(password)
        with self.store.Session.begin() as s:
            _existing_row(s, username).password_hash = password_hash
            s.execute(delete(SignInAttemptRow).where(SignInAttemptRow.username == username))

    def remove(self, username: str) -> None:
        username = normalise_username(username)
        with self.store.Session.begin() as s:
            s.delete(_existing_row(s, username))

    def merchants(self) -> list[Merchant]:
        with self.store.Session() as s:
            rows = s.scalars(select(MerchantRow).order_by(MerchantRow.username)).all()
            return [_merchant(r) for r in rows]

    def check(self, merchant: Merchant) -> Merchant:
        """The merchant as signed in, or `SignedOutError` when the account was removed,
        moved to another catalog or given a new password since."""
        with self.store.Session() as s:
            row = _row(s, merchant.username)
            current = _merchant(row) if row is not None else None
        if (
            current is None
            or current.catalog != merchant.catalog
            or not hmac.compare_digest(current.fingerprint, merchant.fingerprint)
        ):
            raise SignedOutError(SIGNED_OUT, code="signed_out")
        return current

    # ---- sign-in ---------------------------------------------------------------------

    def authenticate(self, username: str, password: str, client: str | None = None) -> Merchant:
        """The merchant, or `AuthError` (wrong credentials or too many recent failures).

        `client` identifies where the attempt comes from (the UI passes the address);
        without it only the per-username and global limits apply."""
        username = normalise_username(username)[:64]
        client = client.strip()[:100] or None if isinstance(client, str) else None
        self._reserve_attempt(username, client)  # AuthError when over a limit
        with self.store.Session() as s:
            row = _row(s, username)
            stored = row.password_hash if row is not None else None
        if not verify_password(password or "", stored or _dummy_hash()) or stored is None:
            # the attempt stays counted as a failure
            raise AuthError(WRONG_CREDENTIALS, code="wrong_credentials")
        rehashed = hash_password(password) if needs_rehash(stored) else None
        with self.store.Session.begin() as s:
            # writes first: SQLite takes its write lock before reading
            s.execute(delete(SignInAttemptRow).where(SignInAttemptRow.username == username))
            row = _row(s, username)
            if row is None or row.password_hash != stored:  # removed or changed meanwhile
                raise AuthError(WRONG_CREDENTIALS, code="wrong_credentials")
            if rehashed is not None:
                row.password_hash = rehashed
            s.flush()
            return _merchant(row)

    def _reserve_attempt(self, username: str, client: str | None) -> None:
        """Count this attempt as a failure before its password is checked, unless a limit
        is already reached; one transaction under the sign-in lock row, so parallel
        attempts are counted one after the other."""
        for _ in range(2):
            try:
                self._reserve_once(username, client)
                return
            except _NoLockRow:
                self._create_lock_row()
        raise AuthError(
            "sign-in is unavailable right now; try again in a moment", code="sign_in_unavailable"
        )

    def _create_lock_row(self) -> None:
        try:
            with self.store.Session.begin() as s:
                s.add(LockRow(name=SIGN_IN_LOCK, counter=0))
        except IntegrityError:  # another process created it first
            pass

    def _reserve_once(self, username: str, client: str | None) -> None:
        now = utcnow()
        since = now - self.window
        with self.store.Session.begin() as s:
            taken = s.execute(
                update(LockRow)
                .where(LockRow.name == SIGN_IN_LOCK)
                .values(counter=LockRow.counter + 1)
            )
            if taken.rowcount != 1:
                raise _NoLockRow
            # attempts older than the window decide nothing any more
            s.execute(delete(SignInAttemptRow).where(SignInAttemptRow.at <= since))
            limits = [
                (
                    SignInAttemptRow.username == username,
                    self.max_failures,
                    f"too many failed sign-ins for {username!r}",
                    "sign_in_limit_user",
                ),
                (
                    SignInAttemptRow.client == client if client else None,
                    self.client_max_failures,
                    "too many failed sign-ins from your address",
                    "sign_in_limit_client",
                ),
                (
                    true(),
                    self.global_max_failures,
                    "too many failed sign-ins on this shop",
                    "sign_in_limit_shop",
                ),
            ]
            for where, limit, message, code in limits:
                if where is None:
                    continue
                count, oldest = s.execute(
                    select(func.count(), func.min(SignInAttemptRow.at)).where(
                        where, SignInAttemptRow.at > since
                    )
                ).one()
                if count >= limit:
                    wait = _aware(oldest) + self.window - now
                    minutes = _minutes(wait)
                    raise AuthError(
                        f"{message}; try again in {minutes} minute{'s' if minutes != 1 else ''}",
                        code=code,
                        params={"username": username, "minutes": minutes},
                    )
            s.add(SignInAttemptRow(username=username, client=client, at=now))
