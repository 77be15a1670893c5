"""A throwaway PostgreSQL cluster for tests and benchmarks: initdb into a temporary directory,
the server on a unix socket in that directory only (no TCP), stopped and removed at the end.

Running as root (CI does), the server runs as the `postgres` user (else `nobody`) through
`runuser`, with the directory handed to that user: PostgreSQL refuses to run as root.
"""

from __future__ import annotations

import glob
import os
import pwd
import random
import shutil
import subprocess
import tempfile
import urllib.parse
from pathlib import Path

#: names a running server to use instead of starting one (a postgresql:// URL)
TEST_PG_ENV = "NEEDLEPEN_TEST_PG"


def find_tool(name: str) -> str | None:
    """initdb or pg_ctl: on PATH, or in Debian's versioned directory."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


class PgCluster:
    """Start with `start()` (returns the URL of its `postgres` database), end with `stop()`."""

    def __init__(self, *, durable: bool = False, parent: str | None = None) -> None:
        #: durable: fsync on (benchmarks of the durable commit); tests run with fsync off
        self.durable = durable
        #: where the cluster's directory goes (None: the temporary directory)
        self.parent = parent
        self.root: Path | None = None
        self.url = ""
        self._user: str | None = None
        self._pg_ctl = ""
        self._options = ""

    def _run(self, *argv: str) -> subprocess.CompletedProcess[str]:
        cmd = list(argv)
        if self._user is not None:
            cmd = ["runuser", "-u", self._user, "--", *cmd]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)

    def start(self) -> str:
        """Start the cluster; raises RuntimeError with one sentence saying why it cannot."""
        initdb, pg_ctl = find_tool("initdb"), find_tool("pg_ctl")
        if initdb is None or pg_ctl is None:
            raise RuntimeError("initdb and pg_ctl are not installed (Debian: postgresql)")
        self._pg_ctl = pg_ctl
        if os.geteuid() == 0:
            for name in ("postgres", "nobody"):
                try:
                    pwd.getpwnam(name)
                except KeyError:
                    continue
                self._user = name
                break
            else:
                raise RuntimeError("running as root and there is no postgres or nobody user")
            if shutil.which("runuser") is None:
                raise RuntimeError("running as root and runuser is not installed")
        self.root = Path(tempfile.mkdtemp(prefix="needlepen-pg-", dir=self.parent))
        if self._user is not None:
            entry = pwd.getpwnam(self._user)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        os.chmod(self.root, 0o700 if self._user is None else 0o711)
        data = self.root / "data"
        done = self._run(
            initdb, "-D", str(data), "-U", "needlepen", "-A", "trust", "-E", "UTF8",
            "--no-sync", "--no-instructions",
        )  # fmt: skip
        if done.returncode != 0:
            self._cleanup()
            raise RuntimeError(f"initdb failed: {done.stderr.strip().splitlines()[-1:]}")
        port = random.randint(20000, 60000)  # only names the socket file: no TCP listener
        options = f"-k {self.root} -p {port} -c listen_addresses='' -c max_connections=200"
        if not self.durable:
            options += " -c fsync=off -c full_page_writes=off"
        self._options = options
        done = self._server("start")
        if done.returncode != 0:
            log = self.root / "server.log"
            tail = log.read_text(errors="replace").strip().splitlines()[-1:] if log.exists() else []
            self._cleanup()
            raise RuntimeError(f"the PostgreSQL server did not start: {tail or done.stderr}")
        host = urllib.parse.quote(str(self.root), safe="")
        self.url = f"postgresql://needlepen@/postgres?host={host}&port={port}"
        return self.url

    def _server(self, action: str) -> subprocess.CompletedProcess[str]:
        assert self.root is not None
        data, log = str(self.root / "data"), str(self.root / "server.log")
        if action == "start":
            return self._run(
                self._pg_ctl, "-D", data, "-l", log, "-w", "-t", "60", "-o", self._options,
                "start",
            )  # fmt: skip
        return self._run(self._pg_ctl, "-D", data, "-m", "immediate", "-w", "stop")

    def pause(self) -> None:
        """Stop the server as a crash or a pulled cable would (the data stays)."""
        self._server("stop")

    def resume(self) -> None:
        """Start the paused server again."""
        done = self._server("start")
        if done.returncode != 0:
            raise RuntimeError(f"the PostgreSQL server did not restart: {done.stderr}")

    def stop(self) -> None:
        if self.root is None:
            return
        self._server("stop")
        self._cleanup()

    def _cleanup(self) -> None:
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None


def with_schema(url: str, schema: str) -> str:
    """The URL with `schema` as the search path (one store per schema in one database)."""
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options={urllib.parse.quote(f'-csearch_path={schema}')}"
