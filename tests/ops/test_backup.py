"""Backups with pgBackRest, restored and compared row for row.

The test creates its own PostgreSQL cluster in a temporary directory, on
its own loopback port, archiving WAL to a pgBackRest repository there with
ops/backup/pgbackrest.conf (paths moved by PGBACKREST_* variables). It
writes bookings through the booking services, takes a full, a
differential and an incremental backup with ops/backup/backup.sh and more
bookings between them, then restores into new data directories, once to
the end of the archive and once to a named restore point, and compares
every table with what the source held at that moment.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest
from broadcaster import Broadcast

from seatline import db, migrate
from seatline.auth.keys import KeyStore
from seatline.booking import holds, orders
from seatline.booking.services import Services
from seatline.config import Settings
from seatline.models import OrderStatus
from seatline.runtime import build_services
from tests.conftest import EventFixture, make_event, seat_ids, unavailable
from tests.live import free_port
from tests.ops.support import OPS, require_tool

pytestmark = pytest.mark.slow

POSTGRES_BIN = Path(
    os.environ.get("SEATLINE_TEST_POSTGRES_BIN", "/usr/lib/postgresql/15/bin")
)
STANZA = "seatline"
RESTORE_POINT = "before_last_round"
CIPHER_PASS = uuid.uuid4().hex
LAB_DIRECTORIES = ("repo", "log", "lock", "spool", "conf.d", "metrics")


@dataclass
class Cluster:
    """A PostgreSQL cluster run by the postgres user from a directory."""

    data: Path
    port: int
    socket_dir: Path

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/seatline"


class BackupLab:
    """The temporary directory, its repository and the commands on it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.repo = root / "repo"
        self.config = root / "pgbackrest.conf"
        self.metrics = root / "metrics"
        self.source = Cluster(root / "source", free_port(), root)
        self.restored: list[Cluster] = []
        self.env = {
            **os.environ,
            "HOME": str(root),
            "PGBACKREST_CONFIG": str(self.config),
            "PGBACKREST_CONFIG_INCLUDE_PATH": str(root / "conf.d"),
            "PGBACKREST_REPO1_PATH": str(self.repo),
            "PGBACKREST_REPO1_CIPHER_PASS": CIPHER_PASS,
            "PGBACKREST_PG1_PATH": str(self.source.data),
            "PGBACKREST_PG1_PORT": str(self.source.port),
            "PGBACKREST_PG1_SOCKET_PATH": str(root),
            "PGBACKREST_LOG_PATH": str(root / "log"),
            "PGBACKREST_LOCK_PATH": str(root / "lock"),
            "PGBACKREST_SPOOL_PATH": str(root / "spool"),
            "PGBACKREST_PROCESS_MAX": "1",
            "BACKUP_METRICS_DIR": str(self.metrics),
        }

    async def run(self, *command: str | Path) -> str:
        """Run a command as the postgres user; raise with its output on failure."""
        as_user = {"user": "postgres"} if os.geteuid() == 0 else {}
        process = await asyncio.create_subprocess_exec(
            *map(str, command),
            env=self.env,
            cwd=self.root,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            **as_user,  # type: ignore[arg-type]
        )
        output, _ = await asyncio.wait_for(process.communicate(), 120)
        text = output.decode()
        if process.returncode != 0:
            raise AssertionError(f"{command} exited with {process.returncode}:\n{text}")
        return text

    async def pgbackrest(self, *args: str) -> str:
        return await self.run(require_tool("pgbackrest"), f"--stanza={STANZA}", *args)

    async def start(self, cluster: Cluster) -> None:
        await self.run(
            POSTGRES_BIN / "pg_ctl",
            "-D",
            cluster.data,
            "-l",
            cluster.data / "server.log",
            "-w",
            "-t",
            "60",
            "start",
        )

    async def stop(self, cluster: Cluster) -> None:
        if (cluster.data / "postmaster.pid").exists():
            await self.run(
                POSTGRES_BIN / "pg_ctl", "-D", cluster.data, "-m", "immediate", "stop"
            )


def settings_file(cluster: Cluster, archiving: bool) -> str:
    lines = [
        f"port = {cluster.port}",
        "listen_addresses = '127.0.0.1'",
        f"unix_socket_directories = '{cluster.socket_dir}'",
        "shared_buffers = 16MB",
        # Test data on a throwaway disk: skip the flushes.
        "fsync = off",
        "full_page_writes = on",
    ]
    if archiving:
        archiving_conf = (OPS / "backup" / "postgresql-archiving.conf").read_text()
        lines.append(archiving_conf)
    return "\n".join(lines) + "\n"


@pytest.fixture
def lab_root() -> Iterator[Path]:
    # Not pytest's tmp_path: the postgres user must be able to enter it.
    root = Path(tempfile.mkdtemp(prefix="seatline-backup-"))
    root.chmod(0o755)
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
async def lab(lab_root: Path) -> AsyncIterator[BackupLab]:
    require_tool("pgbackrest")
    if not (POSTGRES_BIN / "initdb").exists():
        unavailable(f"no PostgreSQL server programs in {POSTGRES_BIN}")
    lab = BackupLab(lab_root)
    for path in LAB_DIRECTORIES:
        (lab_root / path).mkdir()
    shutil.copy(OPS / "backup" / "pgbackrest.conf", lab.config)
    if os.geteuid() == 0:
        for path in (lab_root, *LAB_DIRECTORIES):
            shutil.chown(lab_root / path, "postgres", "postgres")
        shutil.chown(lab.config, "postgres", "postgres")
    await lab.run(
        POSTGRES_BIN / "initdb",
        "-D",
        lab.source.data,
        "-U",
        "postgres",
        "--auth=trust",
        "--no-sync",
        "-E",
        "UTF8",
    )
    with (lab.source.data / "postgresql.conf").open("a") as conf:
        conf.write(settings_file(lab.source, archiving=True))
    await lab.start(lab.source)
    try:
        yield lab
    finally:
        for cluster in [lab.source, *lab.restored]:
            await lab.stop(cluster)


# Bookings, written through the domain services


async def book_round(
    services: Services, event: EventFixture, round_number: int
) -> None:
    """Three buyers each hold, check out and pay for two seats; one more
    buyer holds two seats and stops there."""
    seats = seat_ids(event)
    for buyer_index in range(4):
        start = (round_number * 4 + buyer_index) * 2
        buyer = f"buyer-{round_number}-{buyer_index}"
        hold = await holds.hold_seats(
            services,
            buyer,
            holds.HoldRequest(
                event_id=event.event.id,
                idempotency_key=str(uuid.uuid4()),
                seat_ids=seats[start : start + 2],
                best_available=None,
            ),
        )
        if buyer_index == 3:
            continue
        order = await orders.checkout(services, buyer, hold.id, str(uuid.uuid4()))
        paid = await orders.pay_order(
            services,
            buyer,
            orders.PaymentRequest(
                order_id=order.id,
                token="tok_approve",
                idempotency_key=str(uuid.uuid4()),
            ),
        )
        assert paid.status is OrderStatus.PAID


async def table_contents(dsn: str) -> dict[str, list[str]]:
    """Every row of every table, as sorted JSON text per table."""
    connection = await asyncpg.connect(dsn)
    try:
        tables = [
            row["table_name"]
            for row in await connection.fetch(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = 'public' AND table_type = 'BASE TABLE' "
                "ORDER BY table_name"
            )
        ]
        contents = {}
        for table in tables:
            rows = await connection.fetch(
                # Table names come from the catalog, not from input.
                f'SELECT row_to_json(t)::text AS row FROM "{table}" t'  # noqa: S608
            )
            contents[table] = sorted(row["row"] for row in rows)
        return contents
    finally:
        await connection.close()


async def restore(lab: BackupLab, name: str, *options: str) -> dict[str, list[str]]:
    """Restore into a new data directory, start it, and read every table."""
    cluster = Cluster(lab.root / name, free_port(), lab.root)
    lab.restored.append(cluster)
    await lab.pgbackrest(
        f"--pg1-path={cluster.data}", "--archive-mode=off", *options, "restore"
    )
    with (cluster.data / "postgresql.conf").open("a") as conf:
        conf.write(settings_file(cluster, archiving=False))
    await lab.start(cluster)
    connection = await asyncpg.connect(cluster.dsn.replace("/seatline", "/postgres"))
    try:
        for _ in range(600):
            if not await connection.fetchval("SELECT pg_is_in_recovery()"):
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError(f"{name} did not finish recovery")
    finally:
        await connection.close()
    return await table_contents(cluster.dsn)


async def test_backup_restore_latest_and_point_in_time(
    lab: BackupLab, keys: KeyStore, key_file: Path
) -> None:
    admin = await asyncpg.connect(lab.source.dsn.replace("/seatline", "/postgres"))
    await admin.execute("CREATE DATABASE seatline")
    url = lab.source.dsn.replace("postgresql://", "postgresql+asyncpg://")
    await asyncio.to_thread(migrate.upgrade, url)
    await lab.pgbackrest("stanza-create")
    await lab.pgbackrest("check")

    settings = Settings(database_url=url, key_file=key_file)
    engine = db.create_engine(settings)
    broadcast = Broadcast("memory://")
    await broadcast.connect()
    backup_script = OPS / "backup" / "backup.sh"
    try:
        services = build_services(settings, engine, broadcast, keys)
        event = await make_event(services, rows=4, seats_per_row=10)
        await book_round(services, event, 0)
        await lab.run(backup_script, "full")
        await book_round(services, event, 1)
        await lab.run(backup_script, "diff")
        await book_round(services, event, 2)
        await lab.run(backup_script, "incr")
        await book_round(services, event, 3)
        at_restore_point = await table_contents(lab.source.dsn)
        await admin.execute(f"SELECT pg_create_restore_point('{RESTORE_POINT}')")
        await book_round(services, event, 4)
        latest = await table_contents(lab.source.dsn)
        # Switches to a new WAL segment and waits until it is archived.
        await lab.pgbackrest("check")
    finally:
        await broadcast.disconnect()
        await engine.dispose()
        await admin.close()

    info = json.loads(await lab.pgbackrest("--output=json", "info"))
    backups = info[0]["backup"]
    assert [backup["type"] for backup in backups] == ["full", "diff", "incr"]
    for kind in ("full", "diff", "incr"):
        metric = (lab.metrics / f"seatline_backup_{kind}.prom").read_text()
        assert (
            f'seatline_backup_last_success_timestamp_seconds{{type="{kind}"' in metric
        )
    assert at_restore_point != latest
    assert len(latest["orders"]) == 15
    assert len(at_restore_point["orders"]) == 12

    assert await restore(lab, "restored-latest") == latest
    restored = await restore(
        lab,
        "restored-pitr",
        "--type=name",
        f"--target={RESTORE_POINT}",
        "--target-action=promote",
    )
    assert restored == at_restore_point

    verify = await lab.pgbackrest("verify")
    assert "ERROR" not in verify
    assert "WARN" not in verify
