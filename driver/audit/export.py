"""Export of the log for auditors: CSV and JSON (docs/AUDIT.md describes both formats)."""

from __future__ import annotations

import csv
import json
from typing import Literal, TextIO

from driver.audit.backend import Conn
from driver.audit.base import StoreBase
from driver.audit.canon import _quoted, iso_utc
from driver.audit.values import GENESIS_HASH, SCHEMA_VERSION, Record
from driver.errors import StoreError


class ExportMixin(StoreBase):
    # --- export ------------------------------------------------------------------------------

    def export(
        self, fmt: Literal["csv", "json"], out: TextIO, session_id: int | None = None
    ) -> int:
        """Write the log (or one session's records) as CSV or JSON; returns the record count."""
        if fmt not in ("csv", "json"):
            raise StoreError(f"{_quoted(fmt)} is not an export format; choose csv or json.")
        with self._snapshot() as conn:
            return self._export(conn, fmt, out, session_id)

    def _export(self, conn: Conn, fmt: str, out: TextIO, session_id: int | None) -> int:
        sql = "SELECT id, ts_us, session_id, kind, data, prev_hash, hash FROM log"
        try:
            if session_id is None:
                rows = conn.execute(sql + " ORDER BY id").fetchall()
            else:
                self._session_row(conn, session_id)
                rows = conn.execute(
                    sql + " WHERE session_id = ? ORDER BY id", (session_id,)
                ).fetchall()
        except self._errors as exc:
            raise self._failed(exc, "read") from exc
        if fmt == "csv":
            writer = csv.writer(out, lineterminator="\n")
            writer.writerow(
                ["id", "ts", "ts_us", "session_id", "kind", "data", "prev_hash", "hash"]
            )
            for rid, ts_us, sid, kind, text, prev_hash, digest in rows:
                writer.writerow(
                    [
                        rid,
                        iso_utc(int(ts_us)),
                        ts_us,
                        "" if sid is None else sid,
                        kind,
                        text,
                        prev_hash,
                        digest,
                    ]
                )
        else:
            document = {
                "format": "needlepen-audit-log",
                "format_version": 1,
                "schema_version": SCHEMA_VERSION,
                "genesis": GENESIS_HASH,
                "session": session_id,
                "records": [self.record_dict(self._record(row)) for row in rows],
            }
            # ASCII with \u escapes, as `log show` prints: no C1 control or bidi override
            # reaches a terminal or viewer raw
            json.dump(document, out, indent=1, ensure_ascii=True)
            out.write("\n")
        return len(rows)

    @staticmethod
    def record_dict(record: Record) -> dict[str, object]:
        """A record as a JSON-ready mapping (the shape used by exports and `log show --json`)."""
        ts_us = round(record.ts * 1_000_000)
        return {
            "id": record.id,
            "ts": iso_utc(ts_us),
            "ts_us": ts_us,
            "session_id": record.session_id,
            "kind": record.kind,
            "data": record.data,
            "prev_hash": record.prev_hash,
            "hash": record.hash,
        }
