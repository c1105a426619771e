"""A throwaway PostgreSQL cluster for tests and the shop bench: initdb in a temp folder, a free port on
127.0.0.1, trust authentication (plus one user with a password, for the wrong-password case).

As root, initdb and the server run as the unprivileged ``postgres`` user (initdb refuses root).
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

SEARCH = ("/usr/lib/postgresql/17/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/15/bin")


def find_bin_dir() -> Path | None:
    """The folder holding initdb, pg_ctl and postgres; None when PostgreSQL is not installed."""
    for folder in SEARCH:
        if all((Path(folder) / name).exists() for name in ("initdb", "pg_ctl", "postgres")):
            return Path(folder)
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl") and shutil.which("postgres"):
        return Path(found).parent
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Cluster:
    bin_dir: Path
    data: Path
    port: int
    user: str

    def _as_owner(self, *command: str) -> list[str]:
        if os.geteuid() == 0:
            return ["runuser", "-u", "postgres", "--", *command]
        return list(command)

    def url(self, database: str = "shop", user: str | None = None, password: str = "") -> str:
        who = user or self.user
        secret = f":{password}" if password else ""
        return f"postgresql://{who}{secret}@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        log = self.data.parent / "server.log"
        subprocess.run(
            self._as_owner(str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-l", str(log), "-w", "-t", "60",
                           "-o", f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.data}", "start"),
            check=True, capture_output=True,
        )  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        subprocess.run(
            self._as_owner(str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop"),
            check=False, capture_output=True,
        )  # fmt: skip

    def psql(self, sql: str, database: str = "postgres") -> str:
        psql = self.bin_dir / "psql"
        command = [str(psql) if psql.exists() else "psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user]
        done = subprocess.run(
            [*command, "-d", database, "-v", "ON_ERROR_STOP=1", "-Atc", sql], check=True, capture_output=True, text=True
        )
        return done.stdout.strip()

    def remove(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.data.parent, ignore_errors=True)

    def createdb(self, name: str) -> str:
        self.psql(f'CREATE DATABASE "{name}"')
        return self.url(name)


def make_cluster() -> Cluster:
    """initdb + start in a new folder of the temp dir (every parent must be open to the server's
    user, which a test's tmp_path is not); stop it with :meth:`Cluster.stop`, remove it with
    :meth:`Cluster.remove`."""
    bin_dir = find_bin_dir()
    if bin_dir is None:
        raise FileNotFoundError("PostgreSQL server binaries (initdb, pg_ctl, postgres) not found")
    root = Path(tempfile.mkdtemp(prefix="cardsight-pg-"))
    data = root / "data"
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    user = "postgres" if os.geteuid() == 0 else os.environ.get("USER", "postgres")
    subprocess.run(
        [*Cluster(bin_dir, data, 0, user)._as_owner(str(bin_dir / "initdb"), "-D", str(data), "-A", "trust",
                                                    "-U", user, "-E", "UTF8", "--no-sync")],
        check=True, capture_output=True,
    )  # fmt: skip
    with open(data / "postgresql.conf", "a", encoding="utf-8") as conf:
        conf.write("\nfsync = off\nmax_connections = 100\nshared_buffers = 32MB\n")
    # One user that must give a password (everyone else is trusted on this throwaway cluster).
    hba = data / "pg_hba.conf"
    hba.write_text("host all locked 127.0.0.1/32 scram-sha-256\n" + hba.read_text(encoding="utf-8"), encoding="utf-8")
    cluster = Cluster(bin_dir, data, free_port(), user)
    cluster.start()
    cluster.psql("CREATE ROLE locked LOGIN PASSWORD 'right-password'")
    return cluster


def wait_until_up(cluster: Cluster, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            cluster.psql("SELECT 1")
            return
        except subprocess.CalledProcessError:
            time.sleep(0.2)
    raise TimeoutError("the test PostgreSQL server did not come up")
