"""`needlepen db init|status|import` and the application role's grants, on PostgreSQL."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path

import psycopg
import pytest
from psycopg import conninfo

from driver.audit import AuditStore
from driver.cli.store import main
from driver.errors import WrongPin
from tests.pg import pg_admin

pytestmark = pytest.mark.postgres
T0 = 1_800_000_000.0


def _workstation_store(path: Path) -> str:
    with AuditStore(path, scrypt_n=2**8) as s:
        s.add_operator("c1", "Dr Clin", "clinician", "1234", now=T0)
        sid = s.begin_session(
            role="clinician", operator_id="c1", client_ref="P-1", device_serial=3, boot_id=1,
            device_class="professional", now=T0,
        )  # fmt: skip
        s.begin_treatment(sid, "cheeks", 9, lambda facts: None, now=T0 + 1)
        s.append("decision", {"depth_um": 500}, sid, now=T0 + 2)
        s.end_session(sid, "done", now=T0 + 3)
        return s.head()


def test_init_is_idempotent_and_status_shows_the_store(pg_schema: str, capsys) -> None:
    assert main(["db", "init", "--db", pg_schema]) == 0
    assert main(["db", "init", "--db", pg_schema]) == 0
    assert "schema version 2" in capsys.readouterr().out
    assert main(["db", "status", "--db", pg_schema]) == 0
    out = capsys.readouterr().out
    assert "records:        0" in out and "backend:        postgresql" in out


def test_init_refuses_a_database_that_holds_something_else(pg_schema: str, capsys) -> None:
    schema = conninfo.conninfo_to_dict(pg_schema)["options"].split("=")[1]
    pg_admin(f"CREATE TABLE {schema}.recipes (name TEXT)")
    assert main(["db", "init", "--db", pg_schema]) == 1
    assert "tables of another application" in capsys.readouterr().err


def test_a_password_in_the_url_is_refused(capsys) -> None:
    assert main(["db", "status", "--db", "postgresql://u:secret@localhost/x"]) == 1
    err = capsys.readouterr().err
    assert "pgpass" in err and "secret" not in err


def test_import_copies_a_verified_store_and_keeps_its_chain(
    pg_schema: str, tmp_path: Path, capsys
) -> None:
    head = _workstation_store(tmp_path / "room1.db")
    assert main(["db", "import", "--from", str(tmp_path / "room1.db"), "--db", pg_schema]) == 0
    assert "verifies on both sides" in capsys.readouterr().out
    with AuditStore(pg_schema, scrypt_n=2**8) as clinic:
        assert clinic.head() == head
        assert clinic.verify().ok
        # the rules carry over: the imported treatment counts next door
        sid = clinic.begin_session(
            role="clinician", operator_id="c1", client_ref="p-1", device_serial=4, boot_id=1,
            device_class="professional", now=T0 + 10,
        )  # fmt: skip
        days: list[float | None] = []
        clinic.begin_treatment(sid, "cheeks", None, lambda f: days.append(f.days_since_last),
                               now=T0 + 11)  # fmt: skip
        assert days[0] is not None and days[0] < 1
        assert clinic.verify().ok
    # a second import into the now non-empty store is refused
    assert main(["db", "import", "--from", str(tmp_path / "room1.db"), "--db", pg_schema]) == 1
    assert "already holds records" in capsys.readouterr().err


def test_import_refuses_a_store_that_does_not_verify(
    pg_schema: str, tmp_path: Path, capsys
) -> None:
    path = tmp_path / "room1.db"
    _workstation_store(path)
    raw = sqlite3.connect(path)
    raw.execute("DROP TRIGGER log_no_update")
    raw.execute("UPDATE log SET data = '{\"depth_um\":900}' WHERE kind = 'decision'")
    raw.commit()
    (bad,) = raw.execute("SELECT id FROM log WHERE kind = 'decision'").fetchone()
    raw.close()
    assert main(["db", "import", "--from", str(path), "--db", pg_schema]) == 1
    err = capsys.readouterr().err
    assert "does not verify" in err and f"Record {bad} was altered" in err
    with AuditStore(pg_schema) as clinic:
        assert clinic.records() == []


def test_the_application_role_can_insert_and_read_but_never_change_records(
    pg_schema: str,
) -> None:
    role = f"np_app_{uuid.uuid4().hex[:8]}"
    pg_admin(f"CREATE ROLE {role} LOGIN")
    assert main(["db", "init", "--db", pg_schema, "--app-role", role]) == 0
    params = conninfo.conninfo_to_dict(pg_schema)
    params["user"] = role
    app_url = conninfo.make_conninfo("", **params)
    as_app = "postgresql://" + role + "@/postgres?" + pg_schema.split("?", 1)[1]
    with AuditStore(as_app, scrypt_n=2**8) as store:
        store.add_operator("c1", "Dr Clin", "clinician", "1234", now=T0)
        sid = store.begin_session(
            role="clinician", operator_id="c1", client_ref="P-1", device_serial=3, boot_id=1,
            device_class="professional", now=T0,
        )  # fmt: skip
        store.begin_treatment(sid, "cheeks", 9, lambda facts: None, now=T0 + 1)
        with pytest.raises(WrongPin):  # a wrong PIN updates the lock state: allowed
            store.authenticate("c1", "0000", now=T0 + 2)
        store.end_session(sid, "done", now=T0 + 3)
        assert store.verify().ok
    with psycopg.connect(app_url, autocommit=True) as conn:
        # the triggers are the second layer: switch them off (a superuser's right only)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SET session_replication_role = replica")
        for sql in (
            "UPDATE log SET kind = 'x'",
            "DELETE FROM log",
            "TRUNCATE log",
            "DELETE FROM treatments",
            "UPDATE treatments SET zone = 'x'",
            "DELETE FROM operators",
            "DROP TABLE log",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(sql)  # type: ignore[arg-type]
