"""Fixtures: a real Aurora for the whole session, and tokens for it.

By default the session starts `aurora dev` (from AURORA_BIN). With AURORA_TEST_GATEWAYS set (two
comma-separated gateway URLs of a running distributed deployment, as the Rust e2e suite does),
the tests run against it instead: workers connect to the first gateway, the client submits and
reads on the second. AURORA_TEST_ADMIN_PASSWORD and AURORA_TEST_VIEWER (`name:password`) name
the deployment's users.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional

import pytest

from aurora_sdk import Client

AURORA_BIN = os.environ.get("AURORA_BIN", str(Path(__file__).resolve().parents[3] / "target" / "debug" / "aurora"))
GATEWAYS = [g for g in os.environ.get("AURORA_TEST_GATEWAYS", "").split(",") if g]
ADMIN_PASSWORD = os.environ.get("AURORA_TEST_ADMIN_PASSWORD") or "admin-" + uuid.uuid4().hex[:12]
_viewer = os.environ.get("AURORA_TEST_VIEWER", "").partition(":")
VIEWER = (_viewer[0], _viewer[2]) if _viewer[2] else ("vera", "vera-" + uuid.uuid4().hex[:8])


@dataclass
class Aurora:
    url: str
    """Where workers connect (the first gateway)."""
    client_url: str
    """Where clients submit and read (the second gateway of a distributed deployment)."""
    process: Optional[subprocess.Popen]
    log_path: Optional[Path]
    stdout_lines: List[str] = field(default_factory=list)

    def log_tail(self, n: int = 40) -> str:
        if self.log_path is None:
            return "(the deployment's logs are beside the e2e test that started it)"
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no log)"


def _hash_password(pw: str) -> str:
    r = subprocess.run([AURORA_BIN, "hash-password"], input=pw.encode(), capture_output=True, timeout=60)
    if r.returncode != 0:
        pytest.fail(f"{AURORA_BIN} hash-password failed: {r.stderr.decode(errors='replace')}")
    return r.stdout.decode().strip()


@pytest.fixture(scope="session")
def aurora(tmp_path_factory: pytest.TempPathFactory):
    """An `aurora dev` on a free port with a fresh data dir, an admin and a viewer user; or the
    distributed deployment AURORA_TEST_GATEWAYS names."""
    if GATEWAYS:
        if len(GATEWAYS) != 2 or not os.environ.get("AURORA_TEST_VIEWER"):
            pytest.fail("AURORA_TEST_GATEWAYS needs two gateway URLs, and AURORA_TEST_VIEWER the viewer's name:password")
        yield Aurora(url=GATEWAYS[0], client_url=GATEWAYS[1], process=None, log_path=None)
        return
    if not (os.path.isfile(AURORA_BIN) and os.access(AURORA_BIN, os.X_OK)):
        pytest.fail(f"AURORA_BIN={AURORA_BIN} is not an executable: build aurora and point AURORA_BIN at it")
    d = tmp_path_factory.mktemp("aurora")
    config = d / "aurora.toml"
    config.write_text(
        "[[auth.users]]\n"
        f'name = "{VIEWER[0]}"\n'
        f'password_hash = "{_hash_password(VIEWER[1])}"\n'
        'role = "viewer"\n'
        # A metric the worker tests update (the distributed e2e test declares it too).
        "[[metrics]]\n"
        'name = "sdk_jobs_total"\n'
        'help = "Jobs run by the SDK\'s tests"\n'
        'kind = "counter"\n'
        'labels = ["kind"]\n'
    )
    log_path = d / "aurora.log"
    log = open(log_path, "wb")
    proc = subprocess.Popen(
        [AURORA_BIN, "dev", "--listen", "127.0.0.1:0", "--data-dir", str(d / "data"),
         "--admin-password", ADMIN_PASSWORD, "--config", str(config)],
        stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL,
    )
    lines: List[str] = []
    port = []
    ready = threading.Event()

    def read() -> None:  # keeps draining stdout so the server never blocks on it
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = raw.decode(errors="replace").rstrip("\n")
            lines.append(line)
            m = re.search(r"GraphiQL:\s+http://127\.0\.0\.1:(\d+)/graphql", line)
            if m and not port:
                port.append(int(m.group(1)))
                ready.set()
        ready.set()

    threading.Thread(target=read, daemon=True).start()
    if not ready.wait(60) or not port:
        proc.kill()
        pytest.fail("aurora dev did not print its GraphiQL address:\n" + "\n".join(lines) + "\n"
                    + log_path.read_text(errors="replace")[-3000:])
    url = f"http://127.0.0.1:{port[0]}"
    server = Aurora(url=url, client_url=url, process=proc, log_path=log_path, stdout_lines=lines)
    yield server
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)
    log.close()


@pytest.fixture(scope="session")
def admin_token(aurora: Aurora) -> str:
    with Client(aurora.client_url) as c:
        return c.login("admin", ADMIN_PASSWORD)


@pytest.fixture(scope="session")
def viewer_token(aurora: Aurora) -> str:
    with Client(aurora.client_url) as c:
        return c.login(*VIEWER)


@pytest.fixture
def client(aurora: Aurora, admin_token: str):
    with Client(aurora.client_url, token=admin_token) as c:
        yield c

