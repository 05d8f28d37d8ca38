"""Merchant accounts on SQLite and on a real PostgreSQL server: hashing, one catalog per
merchant, and the sign-in rate limit."""

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from dona.errors import AuthError, ConfigError
from dona.store.accounts import Accounts, Merchant, hash_password, verify_password
from dona.store.rows import MerchantRow, SignInFailureRow
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
    assert first.startswith("scrypt$16384$8$1$") and first != second  # salted
    assert PASSWORD not in first
    assert verify_password(PASSWORD, first) and verify_password(PASSWORD, second)
    assert not verify_password(PASSWORD + "x", first)
    assert not verify_password(PASSWORD, "md5$nonsense")  # unknown scheme: never equal


def test_create_and_sign_in(accounts):
    created = accounts.create("  Alice ", PASSWORD, "shop-a")
    assert created == Merchant("alice", "shop-a")
    assert accounts.authenticate("ALICE", PASSWORD) == Merchant("alice", "shop-a")
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
        s.execute(update(SignInFailureRow).values(at=SignInFailureRow.at - timedelta(minutes=11)))
    assert accounts.authenticate("alice", PASSWORD).username == "alice"
    with accounts.store.Session() as s:
        assert not s.scalars(
            select(SignInFailureRow).where(SignInFailureRow.username == "alice")
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
