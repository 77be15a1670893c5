"""The schema of the audit store for both backends, with its same-shape triggers generated.

The tables are the same on SQLite and PostgreSQL (docs/AUDIT.md); only the column types, the
id columns and the trigger syntax differ. Every row of an audit table is insert-only, or may be
changed only in the columns the rules name; the triggers below refuse everything else, on both
backends, so an UPDATE by hand is refused even by the owner of the database (the grants of the
application role are the first layer on PostgreSQL, see `grants`).
"""

from __future__ import annotations

from dataclasses import dataclass

from driver.audit.values import GENESIS_HASH, SCHEMA_VERSION


@dataclass(frozen=True)
class Guard:
    """One trigger: refuse `event` on `table` (when one of `fixed` changes, or `also` holds)."""

    name: str
    table: str
    event: str  # "UPDATE" or "DELETE"
    message: str
    #: columns an UPDATE must leave as they are (empty with no `also`: refuse every row)
    fixed: tuple[str, ...] = ()
    #: further conditions, in portable SQL, joined with OR (with `<>`/`=` only on non-nulls)
    also: tuple[str, ...] = ()


def _insert_only(table: str, what: str, short: str | None = None) -> tuple[Guard, Guard]:
    name = short or table
    return (
        Guard(f"{name}_no_update", table, "UPDATE", f"{what} cannot be changed"),
        Guard(f"{name}_no_delete", table, "DELETE", f"{what} cannot be deleted"),
    )


#: the triggers of schema version 1, in creation order
GUARDS_V1: tuple[Guard, ...] = (
    Guard(
        "log_no_update",
        "log",
        "UPDATE",
        "the audit log is append-only: records cannot be changed",
    ),
    Guard(
        "log_no_delete",
        "log",
        "DELETE",
        "the audit log is append-only: records cannot be deleted",
    ),
    Guard(
        "operators_no_delete", "operators", "DELETE", "operators cannot be deleted, only disabled"
    ),
    Guard(
        "operators_fixed",
        "operators",
        "UPDATE",
        "an operator's identity, role and PIN cannot be changed",
        fixed=(
            "id",
            "name",
            "role",
            "pin_salt",
            "pin_hash",
            "scrypt_n",
            "scrypt_r",
            "scrypt_p",
            "created_us",
        ),
        also=("(OLD.disabled = 1 AND NEW.disabled {isnot} 1)",),
    ),
    Guard("sessions_no_delete", "sessions", "DELETE", "sessions cannot be deleted"),
    Guard(
        "sessions_fixed",
        "sessions",
        "UPDATE",
        "a session can only be ended, once",
        fixed=(
            "id",
            "role",
            "operator_id",
            "client_ref",
            "device_serial",
            "boot_id",
            "device_class",
            "started_us",
        ),
        also=("OLD.ended_us IS NOT NULL",),
    ),
    *_insert_only("clients", "clients"),
    *_insert_only("treatments", "treatments"),
    *_insert_only("cartridges", "cartridges"),
)

#: schema version 2: a PIN may be reset (a chained record says so); identity, role and
#: administrator status stay fixed, and a disabled operator stays disabled
OPERATORS_FIXED_V2 = Guard(
    "operators_fixed",
    "operators",
    "UPDATE",
    "an operator's identity and role cannot be changed",
    fixed=("id", "name", "role", "created_us", "admin"),
    also=("(OLD.disabled = 1 AND NEW.disabled {isnot} 1)",),
)
WITHDRAWAL_GUARDS = _insert_only("treatment_withdrawals", "withdrawals", "withdrawals")


def _condition(guard: Guard, isnot: str) -> str:
    parts = [c.format(isnot=isnot) for c in guard.also if c.startswith("OLD.ended")]
    parts += [f"NEW.{col} {isnot} OLD.{col}" for col in guard.fixed]
    parts += [c.format(isnot=isnot) for c in guard.also if not c.startswith("OLD.ended")]
    return " OR ".join(parts)


def sqlite_trigger(guard: Guard) -> str:
    when = ""
    if guard.fixed or guard.also:
        when = f"\nWHEN {_condition(guard, 'IS NOT')}"
    message = guard.message.replace("'", "''")
    return (
        f"CREATE TRIGGER {guard.name} BEFORE {guard.event} ON {guard.table}{when} BEGIN\n"
        f"    SELECT RAISE(ABORT, '{message}');\nEND"
    )


def postgres_trigger(guard: Guard) -> str:
    when = ""
    if guard.fixed or guard.also:
        when = f" WHEN ({_condition(guard, 'IS DISTINCT FROM')})"
    message = guard.message.replace("'", "''")
    return (
        f"CREATE TRIGGER {guard.name} BEFORE {guard.event} ON {guard.table} FOR EACH ROW{when} "
        f"EXECUTE FUNCTION np_refuse('{message}')"
    )


# --- SQLite ---------------------------------------------------------------------------------

_SQLITE_V1_TABLES = (
    """CREATE TABLE operators (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        role TEXT NOT NULL,
        pin_salt BLOB,
        pin_hash BLOB,
        scrypt_n INTEGER,
        scrypt_r INTEGER,
        scrypt_p INTEGER,
        disabled INTEGER NOT NULL DEFAULT 0,
        failed INTEGER NOT NULL DEFAULT 0,
        locked_until_us INTEGER,
        created_us INTEGER NOT NULL
    )""",
    """CREATE TABLE clients (
        ref TEXT PRIMARY KEY,
        first_seen_us INTEGER NOT NULL
    )""",
    """CREATE TABLE sessions (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        role TEXT NOT NULL,
        operator_id TEXT REFERENCES operators(id),
        client_ref TEXT REFERENCES clients(ref),
        device_serial INTEGER NOT NULL,
        boot_id INTEGER NOT NULL,
        device_class TEXT NOT NULL,
        started_us INTEGER NOT NULL,
        ended_us INTEGER,
        end_reason TEXT
    )""",
    """CREATE TABLE treatments (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        session_id INTEGER NOT NULL REFERENCES sessions(id),
        client_ref TEXT REFERENCES clients(ref),
        zone TEXT NOT NULL,
        ts_us INTEGER NOT NULL,
        record_id INTEGER NOT NULL
    )""",
    "CREATE INDEX treatments_by_client_zone ON treatments(client_ref, zone, ts_us)",
    """CREATE TABLE cartridges (
        cartridge_id INTEGER NOT NULL,
        session_id INTEGER NOT NULL REFERENCES sessions(id),
        first_seen_us INTEGER NOT NULL,
        record_id INTEGER NOT NULL,
        PRIMARY KEY (cartridge_id, session_id)
    )""",
    """CREATE TABLE log (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        ts_us INTEGER NOT NULL,
        session_id INTEGER REFERENCES sessions(id),
        kind TEXT NOT NULL,
        data TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL UNIQUE
    )""",
    "CREATE INDEX log_by_session ON log(session_id, id)",
)

_LOGIN_KINDS = (
    "('operator_added', 'login', 'login_failed', 'operator_unlocked', 'operator_pin_reset')"
)

_SQLITE_V2 = (
    "ALTER TABLE operators ADD COLUMN admin INTEGER NOT NULL DEFAULT 0",
    "DROP TRIGGER operators_fixed",
    # a schema-1 store's first professional operator (in log order) becomes its
    # administrator; the replay of the chain applies the same rule
    "UPDATE operators SET admin = 1 WHERE id = (SELECT json_extract(data, '$.operator') "
    "FROM log WHERE kind = 'operator_added' AND json_extract(data, '$.role') != 'home' "
    "ORDER BY id LIMIT 1)",
    sqlite_trigger(OPERATORS_FIXED_V2),
    """CREATE TABLE treatment_withdrawals (
        treatment_record_id INTEGER PRIMARY KEY,
        ts_us INTEGER NOT NULL,
        record_id INTEGER NOT NULL
    )""",
    *(sqlite_trigger(g) for g in WITHDRAWAL_GUARDS),
    # treatments recorded before client references were normalised (schema 1) are
    # compared through the normalising function; this is the last such treatment id
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL)",
    "INSERT INTO meta (key, value) SELECT 'legacy_treatments_upto', COALESCE(MAX(id), 0) "
    "FROM treatments",
    # the operator's last login-state record, found without reading the whole log
    "CREATE INDEX log_by_operator ON log (json_extract(data, '$.operator'), id) "
    f"WHERE kind IN {_LOGIN_KINDS}",
    # the last verified point of the chain (see AuditStore.check_trust)
    """CREATE TABLE checkpoint (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        record_id INTEGER NOT NULL,
        hash TEXT NOT NULL,
        state TEXT NOT NULL,
        state_hash TEXT NOT NULL
    )""",
)

#: SQLite: the statements that take a store from version i to i + 1
_MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (*_SQLITE_V1_TABLES, *(sqlite_trigger(g) for g in GUARDS_V1)),
    _SQLITE_V2,
)
assert len(_MIGRATIONS) == SCHEMA_VERSION

# --- PostgreSQL -----------------------------------------------------------------------------

#: the application name in needlepen_schema (a database holding other tables is refused)
PG_APPLICATION = "needlepen-audit"

_PG_ID = "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"

#: PostgreSQL starts at the current version in one step (no store of version 1 ever lived
#: there); later versions append their steps to PG_MIGRATIONS
PG_MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE FUNCTION np_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION '%', TG_ARGV[0] USING ERRCODE = 'restrict_violation';
        END $$""",
        # client references of an imported schema-1 store are compared normalised (the
        # Python normalise_client folds case fully; lower() is its near match here)
        """CREATE FUNCTION np_client_key(ref TEXT) RETURNS TEXT LANGUAGE sql IMMUTABLE AS
        $$ SELECT btrim(normalize(lower(normalize(ref, NFKC)), NFKC)) $$""",
        """CREATE TABLE operators (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            role TEXT NOT NULL,
            pin_salt BYTEA,
            pin_hash BYTEA,
            scrypt_n INTEGER,
            scrypt_r INTEGER,
            scrypt_p INTEGER,
            disabled INTEGER NOT NULL DEFAULT 0,
            failed INTEGER NOT NULL DEFAULT 0,
            locked_until_us BIGINT,
            created_us BIGINT NOT NULL,
            admin INTEGER NOT NULL DEFAULT 0
        )""",
        "CREATE TABLE clients (ref TEXT PRIMARY KEY, first_seen_us BIGINT NOT NULL)",
        f"""CREATE TABLE sessions (
            id {_PG_ID},
            role TEXT NOT NULL,
            operator_id TEXT REFERENCES operators(id),
            client_ref TEXT REFERENCES clients(ref),
            device_serial BIGINT NOT NULL,
            boot_id BIGINT NOT NULL,
            device_class TEXT NOT NULL,
            started_us BIGINT NOT NULL,
            ended_us BIGINT,
            end_reason TEXT
        )""",
        f"""CREATE TABLE treatments (
            id {_PG_ID},
            session_id BIGINT NOT NULL REFERENCES sessions(id),
            client_ref TEXT REFERENCES clients(ref),
            zone TEXT NOT NULL,
            ts_us BIGINT NOT NULL,
            record_id BIGINT NOT NULL
        )""",
        "CREATE INDEX treatments_by_client_zone ON treatments(client_ref, zone, ts_us)",
        """CREATE TABLE cartridges (
            cartridge_id BIGINT NOT NULL,
            session_id BIGINT NOT NULL REFERENCES sessions(id),
            first_seen_us BIGINT NOT NULL,
            record_id BIGINT NOT NULL,
            PRIMARY KEY (cartridge_id, session_id)
        )""",
        """CREATE TABLE log (
            id BIGINT PRIMARY KEY,
            ts_us BIGINT NOT NULL,
            session_id BIGINT REFERENCES sessions(id),
            kind TEXT NOT NULL,
            data TEXT NOT NULL,
            prev_hash TEXT NOT NULL,
            hash TEXT NOT NULL UNIQUE
        )""",
        "CREATE INDEX log_by_session ON log(session_id, id)",
        "CREATE INDEX log_by_operator ON log ((data::jsonb ->> 'operator'), id) "
        f"WHERE kind IN {_LOGIN_KINDS}",
        # the end of the one chain: every write transaction locks this row first, so appends
        # (and the rule checks before them) are serialised across workstations
        """CREATE TABLE chain_head (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            last_id BIGINT NOT NULL,
            hash TEXT NOT NULL
        )""",
        f"INSERT INTO chain_head (id, last_id, hash) VALUES (1, 0, '{GENESIS_HASH}')",
        """CREATE TABLE treatment_withdrawals (
            treatment_record_id BIGINT PRIMARY KEY,
            ts_us BIGINT NOT NULL,
            record_id BIGINT NOT NULL
        )""",
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value BIGINT NOT NULL)",
        "INSERT INTO meta (key, value) VALUES ('legacy_treatments_upto', 0)",
        """CREATE TABLE checkpoint (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            record_id BIGINT NOT NULL,
            hash TEXT NOT NULL,
            state TEXT NOT NULL,
            state_hash TEXT NOT NULL
        )""",
        *(
            postgres_trigger(g)
            for g in (
                *[g for g in GUARDS_V1 if g.name != "operators_fixed"],
                OPERATORS_FIXED_V2,
                *WITHDRAWAL_GUARDS,
            )
        ),
        # TRUNCATE skips row triggers: refuse it on the log as a statement
        "CREATE TRIGGER log_no_truncate BEFORE TRUNCATE ON log FOR EACH STATEMENT "
        "EXECUTE FUNCTION np_refuse('the audit log is append-only: it cannot be truncated')",
        # which application and schema version this database holds
        """CREATE TABLE needlepen_schema (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            application TEXT NOT NULL,
            version INTEGER NOT NULL
        )""",
        f"INSERT INTO needlepen_schema VALUES (1, '{PG_APPLICATION}', {SCHEMA_VERSION})",
    ),
)

#: what the application role may do: read everything, insert everywhere, and update only the
#: rows the rules change (lock state, disabling, PIN resets, ending a session, the chain's end
#: and the verified point); never UPDATE or DELETE a record, client, treatment or cartridge
APP_TABLE_GRANTS: tuple[tuple[str, str], ...] = (
    ("log", "SELECT, INSERT"),
    ("clients", "SELECT, INSERT"),
    ("treatments", "SELECT, INSERT"),
    ("cartridges", "SELECT, INSERT"),
    ("treatment_withdrawals", "SELECT, INSERT"),
    ("operators", "SELECT, INSERT, UPDATE"),
    ("sessions", "SELECT, INSERT, UPDATE"),
    ("chain_head", "SELECT, UPDATE"),
    ("checkpoint", "SELECT, INSERT, UPDATE"),
    ("meta", "SELECT"),
    ("needlepen_schema", "SELECT"),
)


def grants(role: str, schema: str = "public") -> tuple[str, ...]:
    """The GRANT statements for the application role (quoted identifiers)."""
    out = [f"GRANT USAGE ON SCHEMA {schema} TO {role}"]
    out += [f"GRANT {privs} ON {table} TO {role}" for table, privs in APP_TABLE_GRANTS]
    out += [
        f"GRANT USAGE ON SEQUENCE {schema}.sessions_id_seq TO {role}",
        f"GRANT USAGE ON SEQUENCE {schema}.treatments_id_seq TO {role}",
    ]
    return tuple(out)
