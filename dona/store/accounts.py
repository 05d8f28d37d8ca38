"""Merchant accounts: who may change which catalog.

Each account belongs to exactly one catalog. Passwords are stored as salted scrypt
hashes (stdlib `hashlib.scrypt`, the parameters kept in the hash so they can be raised
later). Failed sign-ins are counted per username in SQL; after `signin_max_failures`
within `signin_window_s` further attempts are refused until the window has passed, even
with the right password, and unknown usernames are treated the same way so the limit does
not reveal which accounts exist.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select

from dona.catalog.names import check_catalog_name
from dona.errors import AuthError, ConfigError
from dona.store.rows import MerchantRow, SignInFailureRow, utcnow
from dona.store.store import Store

USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
MIN_PASSWORD_LENGTH = 10
# scrypt cost: ~50 ms and 16 MiB per check on a small CPU, cheap for one sign-in, costly
# for someone guessing offline from a stolen database.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
WRONG_CREDENTIALS = "wrong username or password"


@dataclass(frozen=True)
class Merchant:
    """A signed-in merchant; the pages act on `catalog` only, never on a catalog chosen
    in the browser."""

    username: str
    catalog: str


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def hash_password(password: str, salt: bytes | None = None) -> str:
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32
    )
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(
            password.encode("utf-8"),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(expected),
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


# Compared against when the username does not exist, so both cases cost the same time.
_DUMMY_HASH = hash_password(secrets.token_urlsafe(16))


def normalise_username(username: str) -> str:
    return (username or "").strip().lower()


def _check_new_credentials(username: str, password: str) -> None:
    if not USERNAME_RE.match(username):
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


def _row(session, username: str) -> MerchantRow | None:
    return session.scalar(select(MerchantRow).where(MerchantRow.username == username))


def _existing_row(session, username: str) -> MerchantRow:
    row = _row(session, username)
    if row is None:
        raise ConfigError(f"there is no merchant {username!r} (see 'dona merchant list')")
    return row


class Accounts:
    def __init__(self, store: Store, max_failures: int = 5, window_s: int = 900):
        self.store = store
        self.max_failures = max_failures
        self.window = timedelta(seconds=window_s)

    def create(self, username: str, password: str, catalog: str) -> Merchant:

        username = normalise_username(username)
        _check_new_credentials(username, password)
        check_catalog_name(catalog)
        with self.store.Session.begin() as s:
            if _row(s, username) is not None:
                raise ConfigError(
                    f"merchant {username!r} already exists; use 'dona merchant set-password' "
                    "to change the password"
                )
            s.add(
                MerchantRow(
                    username=username, catalog=catalog, password_hash=hash_password(password)
                )
            )
        return Merchant(username, catalog)

    def set_password(self, username: str, password: str) -> None:
        username = normalise_username(username)
        _check_new_credentials(username, password)
        with self.store.Session.begin() as s:
            _existing_row(s, username).password_hash = hash_password(password)
            s.execute(delete(SignInFailureRow).where(SignInFailureRow.username == username))

    def remove(self, username: str) -> None:
        username = normalise_username(username)
        with self.store.Session.begin() as s:
            s.delete(_existing_row(s, username))

    def merchants(self) -> list[Merchant]:
        with self.store.Session() as s:
            rows = s.scalars(select(MerchantRow).order_by(MerchantRow.username)).all()
            return [Merchant(r.username, r.catalog) for r in rows]

    def authenticate(self, username: str, password: str) -> Merchant:
        """The merchant, or `AuthError` (wrong credentials or too many recent failures)."""
        username = normalise_username(username)[:64]
        now = utcnow()
        with self.store.Session.begin() as s:
            recent = s.execute(
                select(func.count(), func.min(SignInFailureRow.at)).where(
                    SignInFailureRow.username == username,
                    SignInFailureRow.at > now - self.window,
                )
            ).one()
            if recent[0] >= self.max_failures:
                wait = _aware(recent[1]) + self.window - now
                minutes = max(1, int(wait.total_seconds() // 60) + 1)
                raise AuthError(
                    f"too many failed sign-ins for {username!r}; try again in {minutes} "
                    f"minute{'s' if minutes != 1 else ''}"
                )
            row = _row(s, username)
            ok = verify_password(password or "", row.password_hash if row else _DUMMY_HASH)
            if row is None or not ok:
                s.add(SignInFailureRow(username=username, at=now))
                # old failures are no longer needed for any decision
                s.execute(delete(SignInFailureRow).where(SignInFailureRow.at < now - self.window))
                failed = True
            else:
                s.execute(delete(SignInFailureRow).where(SignInFailureRow.username == username))
                failed = False
                merchant = Merchant(row.username, row.catalog)
        if failed:  # raised after the commit, so the failure is recorded
            raise AuthError(WRONG_CREDENTIALS)
        return merchant
