"""Merchant accounts on SQLite and on a real PostgreSQL server: hashing, one catalog per
merchant, the sign-in limits (per username, per client, in all, and under 30 parallel
attempts from real threads) and sessions that end when the account changes."""

import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from dona.errors import AuthError, ConfigError, SignedOutError
from dona.store.accounts import (
    Accounts,
    Merchant,
    hash_password,
    needs_rehash,
    scrypt_maxmem,
    verify_password,
)
from dona.store.rows import MerchantRow, SignInAttemptRow
from dona.store.store import Store

PASSWORD = "correct horse battery"


@pytest.fixture
def accounts(database_url):
    store = Store(database_url)
    store.create_schema()
    yield Accounts(store, max_failures=3, window_s=600)
    store.dispose()


def test_password_hash_is_salted_scrypt_and_verifies():
    first, second = hash_password(PASSWORD), hash_password(PASSWORD)
    assert first.startswith("scrypt$131072$8$1$") and first != second  # OWASP, salted
    assert PASSWORD not in first
    assert verify_password(PASSWORD, first) and verify_password(PASSWORD, second)
    assert not verify_password(PASSWORD + "x", first)
    assert not verify_password(PASSWORD, "md5$nonsense")  # unknown scheme: never equal


def test_create_and_sign_in(accounts):
    created = accounts.create("  Alice ", PASSWORD, "shop-a")
    assert created == Merchant("alice", "shop-a")
    signed_in = accounts.authenticate("ALICE", PASSWORD, client="192.0.2.7")
    assert signed_in == Merchant("alice", "shop-a")
    assert signed_in.fingerprint == created.fingerprint != ""
    with accounts.store.Session() as s:
        stored = s.scalar(select(MerchantRow.password_hash))
    assert PASSWORD not in stored and verify_password(PASSWORD, stored)
    assert accounts.merchants() == [Merchant("alice", "shop-a")]


@pytest.mark.parametrize(
    ("username", "password", "catalog", "message"),
    [
        ("a", PASSWORD, "shop", "username 'a' is not allowed"),
        ("bob smith", PASSWORD, "shop", "is not allowed"),
        ("bob", "short", "shop", "at least 10 characters"),
        ("bob", PASSWORD, "../etc", "catalog name '../etc' is not allowed"),
        ("bob", PASSWORD, "shop\n", "catalog name 'shop.n' is not allowed"),  # fullmatch
    ],
)
def test_bad_new_accounts_are_refused(accounts, username, password, catalog, message):
    with pytest.raises(ConfigError, match=message):
        accounts.create(username, password, catalog)
    assert accounts.merchants() == []


def test_duplicate_account_is_refused(accounts):
    accounts.create("alice", PASSWORD, "shop-a")
    with pytest.raises(ConfigError, match="already exists"):
        accounts.create("alice", "another password", "shop-b")


def test_wrong_password_and_unknown_user_read_the_same(accounts):
    accounts.create("alice", PASSWORD, "shop-a")
    with pytest.raises(AuthError) as wrong:
        accounts.authenticate("alice", "not the password")
    with pytest.raises(AuthError) as unknown:
        accounts.authenticate("mallory", PASSWORD)
    assert str(wrong.value) == str(unknown.value) == "wrong username or password"


def test_failed_sign_ins_are_rate_limited(accounts):
    accounts.create("alice", PASSWORD, "shop-a")
    for _ in range(3):
        with pytest.raises(AuthError, match="wrong username or password"):
            accounts.authenticate("alice", "guess")
    # now even the right password is refused until the window has passed
    with pytest.raises(AuthError, match=r"too many failed sign-ins for 'alice'; try again in 10 m"):
        accounts.authenticate("alice", PASSWORD)
    # unknown usernames are limited the same way (the limit reveals no accounts)
    for _ in range(3):
        with pytest.raises(AuthError, match="wrong"):
            accounts.authenticate("ghost", "guess")
    with pytest.raises(AuthError, match="too many failed sign-ins for 'ghost'"):
        accounts.authenticate("ghost", "guess")
    # other accounts are not affected
    accounts.create("bob", PASSWORD, "shop-b")
    assert accounts.authenticate("bob", PASSWORD).catalog == "shop-b"
    # once the failures are older than the window, alice signs in and her count resets
    with accounts.store.Session.begin() as s:
        s.execute(update(SignInAttemptRow).values(at=SignInAttemptRow.at - timedelta(minutes=11)))
    assert accounts.authenticate("alice", PASSWORD).username == "alice"
    with accounts.store.Session() as s:
        assert not s.scalars(
            select(SignInAttemptRow).where(SignInAttemptRow.username == "alice")
        ).all()


def test_set_password_clears_the_lock_and_remove_deletes(accounts):
    accounts.create("alice", PASSWORD, "shop-a")
    for _ in range(3):
        with pytest.raises(AuthError):
            accounts.authenticate("alice", "guess")
    accounts.set_password("alice", "a brand new password")
    assert accounts.authenticate("alice", "a brand new password").catalog == "shop-a"
    with pytest.raises(AuthError):
        accounts.authenticate("alice", PASSWORD)
    accounts.remove("alice")
    assert accounts.merchants() == []
    with pytest.raises(ConfigError, match="no merchant 'alice'"):
        accounts.remove("alice")


def test_owasp_parameters_need_the_explicit_memory_cap():
    """N=2^17 needs 128 MiB; Python's default scrypt cap is 32 MiB, so without `maxmem`
    every check would fail and read as a wrong password."""
    import hashlib

    with pytest.raises(ValueError, match="memory limit"):
        hashlib.scrypt(b"x", salt=b"s" * 16, n=2**17, r=8, p=1, dklen=32)
    assert scrypt_maxmem(2**17, 8, 1) > 128 * 8 * 2**17
    stored = hash_password(PASSWORD)
    assert verify_password(PASSWORD, stored) and not needs_rehash(stored)


def test_hostile_stored_parameters_are_refused_not_run():
    salt_and_digest = "c2FsdHNhbHRzYWx0c2FsdA==$" + "A" * 43 + "="
    for params in ("1073741824$8$1", "131072$1000$1", "131072$8$100", "100000$8$1"):
        assert not verify_password(PASSWORD, f"scrypt${params}${salt_and_digest}")


def test_an_old_hash_is_replaced_at_sign_in(accounts):
    accounts.create("alice", "placeholder password", "shop-a")
    old = hash_password(PASSWORD, n=2**14)
    assert needs_rehash(old)
    with accounts.store.Session.begin() as s:
        s.execute(update(MerchantRow).values(password_hash=old))
    merchant = accounts.authenticate("alice", PASSWORD)
    with accounts.store.Session() as s:
        stored = s.scalar(select(MerchantRow.password_hash))
    assert stored.startswith("scrypt$131072$8$1$") and verify_password(PASSWORD, stored)
    assert accounts.check(merchant) == merchant  # the session carries the new hash's mark


def test_per_client_and_global_limits(database_url):
    store = Store(database_url)
    store.create_schema()
    accounts = Accounts(store, max_failures=3, window_s=600, client_max_failures=4,
                        global_max_failures=7)  # fmt: skip
    accounts.create("alice", PASSWORD, "shop-a")
    # one address trying many usernames: each name stays under its own limit
    for name in ("u1", "u2", "u3", "u4"):
        with pytest.raises(AuthError, match="wrong"):
            accounts.authenticate(name, "guess", client="198.51.100.9")
    with pytest.raises(AuthError, match="too many failed sign-ins from your address"):
        accounts.authenticate("alice", PASSWORD, client="198.51.100.9")
    assert accounts.authenticate("alice", PASSWORD, client="203.0.113.1").username == "alice"
    # many addresses, many names: the shop-wide brake
    for n in range(3):
        with pytest.raises(AuthError, match="wrong"):
            accounts.authenticate(f"v{n}", "guess", client=f"203.0.113.{10 + n}")
    with pytest.raises(AuthError, match="too many failed sign-ins on this shop"):
        accounts.authenticate("alice", PASSWORD, client="203.0.113.99")
    store.dispose()


@pytest.mark.parametrize("same_client", [False, True])
def test_parallel_attempts_check_at_most_the_limit(database_url, same_client):
    """30 real threads guess at once: the failure count is taken under a lock before any
    password is checked, so exactly `max_failures` passwords are checked (before: 16-24)."""
    store = Store(database_url)
    store.create_schema()
    accounts = Accounts(store, max_failures=5, window_s=600, client_max_failures=50)
    accounts.create("alice", PASSWORD, "shop-a")
    start = threading.Barrier(30)
    outcomes: list[str] = []

    def attempt(n: int) -> None:
        start.wait()
        try:
            accounts.authenticate("alice", f"guess number {n}",
                                  client="192.0.2.1" if same_client else f"192.0.2.{n}")  # fmt: skip
            outcomes.append("signed in")
        except AuthError as exc:
            outcomes.append(str(exc).split(";")[0])

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(30)]
    t0 = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    checked = outcomes.count("wrong username or password")
    print(f"\n30 parallel attempts, limit 5: {checked} passwords checked "
          f"({time.perf_counter() - t0:.1f} s)")  # fmt: skip
    assert checked == 5
    assert outcomes.count("too many failed sign-ins for 'alice'") == 25
    with pytest.raises(AuthError, match="too many"):
        accounts.authenticate("alice", PASSWORD)
    store.dispose()


def test_a_session_ends_when_the_account_changes(accounts):
    accounts.create("alice", PASSWORD, "shop-a")
    merchant = accounts.authenticate("alice", PASSWORD)
    assert accounts.check(merchant) == merchant
    with pytest.raises(SignedOutError, match="sign in again"):
        accounts.check(Merchant("alice", "shop-a"))  # made up, not signed in
    accounts.set_password("alice", "a brand new password")
    with pytest.raises(SignedOutError):
        accounts.check(merchant)
    again = accounts.authenticate("alice", "a brand new password")
    accounts.remove("alice")
    with pytest.raises(SignedOutError):
        accounts.check(again)
    # the same name and password again is another account: old sessions stay ended
    accounts.create("alice", "a brand new password", "shop-a")
    with pytest.raises(SignedOutError):
        accounts.check(again)


def test_a_merchant_catalog_differing_only_by_case_is_refused(accounts):
    accounts.store.ensure_catalog("shop-a")
    with pytest.raises(ConfigError, match="differs only by case from the existing catalog"):
        accounts.create("alice", PASSWORD, "Shop-A")
