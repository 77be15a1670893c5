"""Operators: registration, scrypt PINs, wrong PIN and lockout, every attempt in the log."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from driver.audit import (
    BAD_LOGIN,
    LOCKOUT_SECONDS,
    MAX_FAILED_PINS,
    PROFESSIONAL_ROLES,
    ROLES,
    SCRYPT_N,
    AuditStore,
)
from driver.errors import (
    AuthError,
    OperatorDisabled,
    OperatorLocked,
    StoreError,
    UnknownOperator,
    WrongPin,
)
from tests.conftest import MakeStore

T0 = 1_700_000_000.0
CHEAP = 2**8  # scrypt cost for property tests; the real cost is tested on its own


ADMIN = ("doc", "135790")  # the first operator administers the store


@pytest.fixture
def store(make_store: MakeStore) -> AuditStore:
    """This file's store: the clinician who administers it and a home user, at T0."""
    staff = [("doc", "Dr Ada Lovelace", "clinician", ADMIN[1]), ("pat", "Pat", "home", None)]
    return make_store(staff=staff, now=T0, scrypt_n=CHEAP)


def kinds(store: AuditStore) -> list[str]:
    return [r.kind for r in store.records()]


# --- registration --------------------------------------------------------------------------


def test_default_cost_scrypt_with_a_random_salt_per_operator(tmp_path: Path) -> None:
    path = tmp_path / "real.db"
    with AuditStore(path) as s:
        s.add_operator("a", "A", "clinician", "43218765")
        s.add_operator("b", "B", "aesthetician", "43218765", by=("a", "43218765"))
        assert s.authenticate("a", "43218765").id == "a"
        with pytest.raises(WrongPin):
            s.authenticate("b", "12345678")
    conn = sqlite3.connect(path)
    rows = conn.execute(
        "SELECT pin_salt, pin_hash, scrypt_n, scrypt_r, scrypt_p FROM operators ORDER BY id"
    ).fetchall()
    conn.close()
    (salt_a, hash_a, *params_a), (salt_b, hash_b, *params_b) = rows
    assert params_a == params_b == [SCRYPT_N, 8, 1]
    assert len(salt_a) == 16 and salt_a != salt_b
    assert hash_a != hash_b  # same PIN, different salt
    assert b"43218765" not in path.read_bytes()


def test_the_pin_is_nowhere_in_the_file_or_the_log(tmp_path: Path) -> None:
    path = tmp_path / "p.db"
    with AuditStore(path, scrypt_n=CHEAP) as s:
        s.add_operator("doc", "Doc", "clinician", "97531864")
        s.authenticate("doc", "97531864")
        with pytest.raises(WrongPin):
            s.authenticate("doc", "86420975")
        text = "".join(str(r.data) for r in s.records())
    assert "97531864" not in text and "86420975" not in text
    for file in tmp_path.iterdir():
        data = file.read_bytes()
        assert b"97531864" not in data and b"86420975" not in data


@pytest.mark.parametrize("role", sorted(PROFESSIONAL_ROLES))
def test_professional_roles_need_a_pin(tmp_path: Path, role: str) -> None:
    with AuditStore(tmp_path / "r.db", scrypt_n=CHEAP) as s:
        with pytest.raises(StoreError, match=f"The {role} role needs a PIN of 4 to 12 digits"):
            s.add_operator("x", "X", role, None)
        assert s.list_operators() == [] and s.records() == []


def test_home_needs_no_pin_and_refuses_one(store: AuditStore) -> None:
    with pytest.raises(StoreError, match="home role has no PIN"):
        store.add_operator("h2", "H", "home", "1234", by=ADMIN)
    assert store.authenticate("pat", None, now=T0).role == "home"
    assert store.authenticate("pat", "anything", now=T0).role == "home"


@given(pin=st.one_of(st.text(max_size=14), st.from_regex(r"[0-9]{0,14}", fullmatch=True)))
@settings(max_examples=60)
def test_pins_are_exactly_4_to_12_ascii_digits(pin: str) -> None:
    valid = pin.isascii() and pin.isdigit() and 4 <= len(pin) <= 12
    with AuditStore(":memory:", scrypt_n=CHEAP) as s:
        if valid:
            s.add_operator("x", "X", "clinician", pin)
            assert s.authenticate("x", pin).id == "x"
        else:
            with pytest.raises(StoreError, match="A PIN is 4 to 12 digits"):
                s.add_operator("x", "X", "clinician", pin)
            assert s.list_operators() == [] and s.records() == []


@pytest.mark.parametrize("pin", ["123", "1234567890123", "12a4", "١٢٣٤", "1234\n", " 1234", ""])
def test_pin_edges_are_refused(store: AuditStore, pin: str) -> None:
    with pytest.raises(StoreError, match="A PIN is 4 to 12 digits"):
        store.add_operator("new", "New", "clinician", pin, by=ADMIN)


@pytest.mark.parametrize("pin", ["1234", "123456789012", "0000"])
def test_pin_edges_are_accepted(store: AuditStore, pin: str) -> None:
    store.add_operator("new", "New", "engineer", pin, now=T0, by=ADMIN)
    assert store.authenticate("new", pin, now=T0).role == "engineer"


@pytest.mark.parametrize(
    ("op_id", "name", "role", "problem"),
    [
        ("", "N", "home", "not a valid operator ID"),
        ("-lead", "N", "home", "not a valid operator ID"),
        ("has space", "N", "home", "not a valid operator ID"),
        ("x" * 33, "N", "home", "not a valid operator ID"),
        ("ok", "", "home", "must not be empty"),
        ("ok", "   ", "home", "must not be empty"),
        ("ok", "N" * 101, "home", "too long"),
        ("ok", "Bad\x1b[2J", "home", "control characters"),
        ("ok", "N", "surgeon", "is not a role"),
        ("ok", "N", "Clinician", "is not a role"),
        ("doc", "Again", "home", "already exists"),
    ],
)
def test_bad_operator_input_changes_nothing(
    store: AuditStore, op_id: str, name: str, role: str, problem: str
) -> None:
    before = (store.list_operators(now=T0), store.records())
    with pytest.raises(StoreError, match=problem) as info:
        store.add_operator(op_id, name, role, None, by=ADMIN)
    assert "\n" not in str(info.value)
    assert (store.list_operators(now=T0), store.records()) == before


def test_list_and_roles(store: AuditStore) -> None:
    ops = store.list_operators(now=T0)
    assert [(o.id, o.role, o.disabled, o.locked_until) for o in ops] == [
        ("doc", "clinician", False, None),
        ("pat", "home", False, None),
    ]
    assert set(ROLES) == {"home", "aesthetician", "clinician", "engineer"}


def test_disable(store: AuditStore) -> None:
    store.add_operator("boss", "Boss", "clinician", "246810", now=T0, by=ADMIN, admin=True)
    boss = ("boss", "246810")
    store.disable_operator("doc", now=T0, by=boss)
    store.disable_operator("doc", now=T0, by=boss)  # already disabled: nothing new
    assert kinds(store).count("operator_disabled") == 1
    assert store.get_operator("doc").disabled
    with pytest.raises(OperatorDisabled, match="Operator 'doc' is disabled"):
        store.authenticate("doc", "135790", now=T0)
    with pytest.raises(UnknownOperator, match="There is no operator 'ghost'"):
        store.disable_operator("ghost", by=boss)
    assert store.verify().ok


# --- wrong PIN and lockout -----------------------------------------------------------------


def test_wrong_pins_count_down_then_lock_for_15_minutes(store: AuditStore) -> None:
    for i in range(MAX_FAILED_PINS - 1):
        with pytest.raises(WrongPin) as info:
            store.authenticate("doc", "000000", now=T0 + i)
        assert info.value.attempts_left == MAX_FAILED_PINS - 1 - i
        assert str(info.value) == BAD_LOGIN  # the same sentence as an unknown ID
    with pytest.raises(OperatorLocked) as locked:
        store.authenticate("doc", "000000", now=T0 + 10)
    assert locked.value.locked_until == T0 + 10 + LOCKOUT_SECONDS
    assert "locked for 15 minutes" in str(locked.value)
    # while locked even the right PIN is refused, and the lock is not extended
    with pytest.raises(OperatorLocked) as again:
        store.authenticate("doc", "135790", now=T0 + 10 + LOCKOUT_SECONDS - 0.001)
    assert again.value.locked_until == T0 + 10 + LOCKOUT_SECONDS
    op = store.get_operator("doc", now=T0 + 11)
    assert op.locked_until == T0 + 10 + LOCKOUT_SECONDS and op.failed_attempts == MAX_FAILED_PINS
    # at the end of the lock the right PIN works and the count starts afresh
    assert store.authenticate("doc", "135790", now=T0 + 10 + LOCKOUT_SECONDS).id == "doc"
    assert store.get_operator("doc", now=T0 + 2000).failed_attempts == 0
    assert store.verify().ok


def test_an_expired_lock_gives_five_fresh_attempts(store: AuditStore) -> None:
    for i in range(MAX_FAILED_PINS):
        with pytest.raises((WrongPin, OperatorLocked)):
            store.authenticate("doc", "000000", now=T0 + i)
    after = T0 + 4 + LOCKOUT_SECONDS + 1
    assert store.get_operator("doc", now=after).locked_until is None
    with pytest.raises(WrongPin) as info:
        store.authenticate("doc", "000000", now=after)
    assert info.value.attempts_left == MAX_FAILED_PINS - 1


def test_a_success_resets_the_count(store: AuditStore) -> None:
    for _ in range(MAX_FAILED_PINS - 1):
        with pytest.raises(WrongPin):
            store.authenticate("doc", "000000", now=T0)
    store.authenticate("doc", "135790", now=T0)
    for _ in range(MAX_FAILED_PINS - 1):
        with pytest.raises(WrongPin):
            store.authenticate("doc", "000000", now=T0)
    assert store.get_operator("doc", now=T0).locked_until is None


def test_a_missing_pin_is_refused_without_counting(store: AuditStore) -> None:
    with pytest.raises(WrongPin, match="needs a PIN") as info:
        store.authenticate("doc", None, now=T0)
    assert info.value.attempts_left == MAX_FAILED_PINS
    assert store.get_operator("doc", now=T0).failed_attempts == 0


@pytest.mark.parametrize("pin", ["", "13579", "1357900", "135790\n", " 135790", "１３５７９０"])
def test_near_misses_are_wrong(store: AuditStore, pin: str) -> None:
    with pytest.raises(WrongPin):
        store.authenticate("doc", pin, now=T0)


def test_unknown_and_garbage_ids(store: AuditStore) -> None:
    for op_id in ("ghost", "", "x" * 500, "doc\n", None, 42):
        with pytest.raises(WrongPin) as info:
            store.authenticate(op_id, "1234", now=T0)  # type: ignore[arg-type]
        assert str(info.value) == BAD_LOGIN  # says nothing about which IDs exist
    assert store.verify().ok


def test_lockout_survives_reopening_the_store(tmp_path: Path) -> None:
    path = tmp_path / "persist.db"
    with AuditStore(path, scrypt_n=CHEAP) as s:
        s.add_operator("doc", "Doc", "clinician", "2468", now=T0)
        for _ in range(MAX_FAILED_PINS):
            with pytest.raises(AuthError):
                s.authenticate("doc", "0000", now=T0)
    with AuditStore(path) as s, pytest.raises(OperatorLocked):
        s.authenticate("doc", "2468", now=T0 + 60)


def test_attempts_from_two_stores_on_one_file_share_one_count(tmp_path: Path) -> None:
    """Two processes (a Pen and a TUI) cannot get ten guesses between them."""
    path = tmp_path / "two.db"
    with AuditStore(path, scrypt_n=CHEAP) as a, AuditStore(path, scrypt_n=CHEAP) as b:
        a.add_operator("doc", "Doc", "clinician", "2468", now=T0)
        outcomes: list[str] = []
        for i in range(MAX_FAILED_PINS + 2):
            try:
                (a if i % 2 else b).authenticate("doc", "0000", now=T0 + i)
            except WrongPin:
                outcomes.append("wrong")
            except OperatorLocked:
                outcomes.append("locked")
        assert outcomes == ["wrong"] * (MAX_FAILED_PINS - 1) + ["locked"] * 3


def test_concurrent_guesses_from_threads_cannot_exceed_five(store: AuditStore) -> None:
    results: list[str] = []
    lock = threading.Lock()

    def guess() -> None:
        try:
            store.authenticate("doc", "000000", now=T0)
        except WrongPin:
            with lock:
                results.append("wrong")
        except OperatorLocked:
            with lock:
                results.append("locked")

    threads = [threading.Thread(target=guess) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count("wrong") == MAX_FAILED_PINS - 1
    assert results.count("locked") == 12 - (MAX_FAILED_PINS - 1)
    assert store.verify().ok


def test_every_attempt_is_in_the_log(store: AuditStore) -> None:
    start = len(store.records())
    store.authenticate("doc", "135790", now=T0)
    for pin in ("1", "2", "3", "4", "5", "135790"):
        with pytest.raises(AuthError):
            store.authenticate("doc", pin, now=T0 + 1)
    with pytest.raises(WrongPin):
        store.authenticate("nobody", "1234", now=T0 + 2)
    store.authenticate("pat", None, now=T0 + 3)
    new = store.records()[start:]
    assert [r.kind for r in new] == ["login"] + ["login_failed"] * 7 + ["login"]
    reasons = [r.data.get("reason") for r in new]
    assert reasons == [None] + ["wrong_pin"] * 5 + ["locked", "unknown", None]
    assert new[5].data["locked_until_us"] == round((T0 + 1 + LOCKOUT_SECONDS) * 1e6)
    assert all("135790" not in str(r.data) for r in new)
    assert store.verify().ok


# --- a model of the lockout rule ------------------------------------------------------------


class LockoutMachine(RuleBasedStateMachine):
    """Random wrong and right PINs, missing PINs and clock jumps against a plain model."""

    @initialize()
    def setup(self) -> None:
        self.store = AuditStore(":memory:", scrypt_n=CHEAP)
        self.store.add_operator("doc", "Doc", "clinician", "2468", now=T0)
        self.now = T0
        self.failed = 0
        self.locked_until: float | None = None

    def _model_locked(self) -> bool:
        if self.locked_until is not None and self.now >= self.locked_until:
            self.locked_until = None
            self.failed = 0
        return self.locked_until is not None

    @rule(seconds=st.sampled_from([0.0, 0.001, 1.0, 60.0, LOCKOUT_SECONDS - 1, LOCKOUT_SECONDS]))
    def wait(self, seconds: float) -> None:
        self.now += seconds

    @rule(pin=st.sampled_from(["0000", "2467", "24680", "", "abcd", "2468 "]))
    def wrong(self, pin: str) -> None:
        if self._model_locked():
            with pytest.raises(OperatorLocked):
                self.store.authenticate("doc", pin, now=self.now)
            return
        self.failed += 1
        if self.failed >= MAX_FAILED_PINS:
            self.locked_until = self.now + LOCKOUT_SECONDS
            with pytest.raises(OperatorLocked) as info:
                self.store.authenticate("doc", pin, now=self.now)
            assert info.value.locked_until == pytest.approx(self.locked_until)
        else:
            with pytest.raises(WrongPin) as wrong:
                self.store.authenticate("doc", pin, now=self.now)
            assert wrong.value.attempts_left == MAX_FAILED_PINS - self.failed

    @rule()
    def right(self) -> None:
        if self._model_locked():
            with pytest.raises(OperatorLocked):
                self.store.authenticate("doc", "2468", now=self.now)
            return
        assert self.store.authenticate("doc", "2468", now=self.now).id == "doc"
        self.failed = 0

    @rule()
    def missing(self) -> None:
        if self._model_locked():
            with pytest.raises(OperatorLocked):
                self.store.authenticate("doc", None, now=self.now)
            return
        with pytest.raises(WrongPin) as info:
            self.store.authenticate("doc", None, now=self.now)
        assert info.value.attempts_left == MAX_FAILED_PINS - self.failed

    @invariant()
    def listed_state_matches(self) -> None:
        op = self.store.get_operator("doc", now=self.now)
        locked = self._model_locked()
        assert (op.locked_until is not None) == locked
        if not locked:
            assert op.failed_attempts == self.failed

    def teardown(self) -> None:
        if hasattr(self, "store"):
            assert self.store.verify().ok
            self.store.close()


LockoutMachine.TestCase.settings = settings(max_examples=30, stateful_step_count=25)
TestLockout = LockoutMachine.TestCase
