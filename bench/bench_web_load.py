"""Load on the web server: 50 clients at once on the participant page and an audited POST.

Run: .venv/bin/python bench/bench_web_load.py [--database URL] [--clients 50] [--requests 1000]
(about 3-5 min: builds the demo on SQLite first, and on PostgreSQL too when
ENDOTRIAL_TEST_POSTGRES_URL is set, each in a new schema dropped afterwards.)

The server is `endotrial serve` itself, in its own process on 127.0.0.1 (`--workers`: its
worker processes, one by default as `endotrial serve` runs). This process is the load
generator: `--clients` clients at once (one asyncio task each, its own connection, its own
signed-in page session and API token), each sending its next request as soon as its last one
is answered (or after a pause: `--think-ms`), until `--requests` are done.
Cases, in turn on the same server:

- static: GET /static/style.css, the floor of any answer (the HTTP stack, the middleware);
- page: GET /participants/{id}, a participant's page as a coordinator reads it (her session
  checked, her summary, timeline, records with their audit history and queries, rendered);
- write: POST /api/v1/participants/{id}/adverse-events, a non-serious adverse event through the
  API (bearer token, the services' checks, one audited transaction, the signed checkpoint).

Each case: requests per second, median and p99 latency, errors (any answer other than the
expected status). Afterwards every acknowledged write (a 201 with its id) is looked up in the
database, and `endotrial audit verify` must pass: no lost write, the trail intact.
Target: p99 under 100 ms at 50 clients, no errors, no lost writes.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import random
import re
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx2
from sqlalchemy import bindparam, create_engine, text
from sqlalchemy.engine import make_url

from endotrial.demo import build_demo
from endotrial.demo.run import COORDINATOR, DEMO_PASSWORDS
from endotrial.store import make_engine
from endotrial.store.keys import KEY_FILE_ENV

POSTGRES_ENV = "ENDOTRIAL_TEST_POSTGRES_URL"
TARGET_P99_MS = 100.0
SITE_ZONE = ZoneInfo("Asia/Shanghai")  # the demo site's day: an onset may not be in the future
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
SERVER_START_S = 180.0


@dataclass
class Client:
    """One user at her browser (a page session) who also sends API requests (a token)."""

    http: httpx2.AsyncClient
    token: str = ""


@dataclass
class Case:
    name: str
    latencies_ms: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def line(self, engine_name: str) -> str:
        done = len(self.latencies_ms)
        if done < 2:
            return f"{engine_name:<10} {self.name:<7} too few answers ({done})"
        p50 = statistics.median(self.latencies_ms)
        p99 = statistics.quantiles(self.latencies_ms, n=100)[98]
        errors = sum(self.errors.values())
        shown = ", ".join(f"{k}: {v}" for k, v in sorted(self.errors.items())) or "none"
        return (
            f"{engine_name:<10} {self.name:<7} {done / self.seconds:7.1f} req/s   p50 "
            f"{p50:7.1f} ms   p99 {p99:7.1f} ms (p99 / target {p99 / TARGET_P99_MS:5.2f}x)   "
            f"errors {errors} ({shown})"
        )


# ------------------------------------------------------------------------------ the server


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def served(url: str, port: int, workers: int = 1) -> Iterator[str]:
    """`endotrial serve --workers N` on 127.0.0.1:port over `url`, stopped (by its own pid,
    which stops its workers) afterwards."""
    env = {**os.environ, "ENDOTRIAL_WEB_SECRET": secrets.token_urlsafe(48)}
    command = [sys.executable, "-c", "from endotrial.cli import main; main()", "serve",
               "--database", url, "--port", str(port), "--workers", str(workers)]  # fmt: skip
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(server, base)
        yield base
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _wait_until_up(server: subprocess.Popen[bytes], base: str) -> None:
    deadline = time.monotonic() + SERVER_START_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server stopped at start (exit code {server.returncode})")
        try:
            if httpx2.get(f"{base}/sign-in", timeout=2).status_code == 200:
                return
        except httpx2.TransportError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"the server did not answer within {SERVER_START_S:.0f} s")


# ------------------------------------------------------------------------------ the clients


async def _signed_in(base: str, username: str, password: str) -> Client:
    http = httpx2.AsyncClient(base_url=base, timeout=60, limits=httpx2.Limits(max_connections=1))
    form = await http.get("/sign-in")
    token = CSRF.search(form.text)
    assert token is not None, "the sign-in page has no CSRF token"
    login = {"username": username, "password": password, "csrf_token": token.group(1)}
    page = await http.post("/sign-in", data=login)
    if page.status_code != 303:
        raise SystemExit(f"sign-in as {username} refused: {page.status_code}")
    api = await http.post("/api/v1/sign-in", json={"username": username, "password": password})
    if api.status_code != 200:
        raise SystemExit(f"API sign-in as {username} refused: {api.status_code}")
    return Client(http, api.json()["access_token"])


async def _clients(base: str, count: int, username: str, password: str) -> list[Client]:
    """`count` users signed in, four at a time: the services count a sign-in under way as a
    failure until it succeeds, and throttle a username at five (guesses sent in parallel)."""
    clients: list[Client] = []
    while len(clients) < count:
        batch = min(4, count - len(clients))
        clients += await asyncio.gather(
            *(_signed_in(base, username, password) for _ in range(batch))
        )
    return clients


Request = Callable[[Client, int], Awaitable[httpx2.Response]]


async def _load(
    name: str, clients: list[Client], requests: int, send: Request, ok: int, think_s: float = 0.0
) -> Case:
    """Every client sends its next request when its last is answered (after thinking for a
    random time of mean `think_s`, if any), until `requests` are done."""
    case = Case(name)
    issued = 0
    pause = random.Random(7)

    async def client_loop(client: Client) -> None:
        nonlocal issued
        if think_s:  # users come in at random moments, not all in the same millisecond
            await asyncio.sleep(pause.uniform(0, 2 * think_s))
        while issued < requests:
            index = issued
            issued += 1
            started = time.perf_counter()
            try:
                answer = await send(client, index)
                status = str(answer.status_code)
            except httpx2.HTTPError as error:
                status = type(error).__name__
            case.latencies_ms.append((time.perf_counter() - started) * 1000)
            if status != str(ok):
                case.errors[status] = case.errors.get(status, 0) + 1
            if think_s:
                await asyncio.sleep(pause.uniform(0, 2 * think_s))

    started = time.perf_counter()
    await asyncio.gather(*(client_loop(client) for client in clients))
    case.seconds = time.perf_counter() - started
    return case


@dataclass
class Writes:
    acknowledged: list[int] = field(default_factory=list)


def _adverse_event(client: Client, participant_id: int) -> Awaitable[httpx2.Response]:
    body = {
        "term": "Pelvic pain", "ctcae_grade": 1, "serious": False,
        "onset_date": dt.datetime.now(SITE_ZONE).date().isoformat(),
    }  # fmt: skip
    return client.http.post(
        f"/api/v1/participants/{participant_id}/adverse-events", json=body,
        headers={"Authorization": f"Bearer {client.token}"},
    )  # fmt: skip


async def _writable(client: Client, writes: Writes) -> tuple[list[int], list[int]]:
    """Her site's participants, and those an adverse event can be recorded on (one is, each:
    acknowledged writes like the others)."""
    listing = await client.http.get(
        "/api/v1/participants", headers={"Authorization": f"Bearer {client.token}"}
    )
    ids = [row["participant_id"] for row in listing.json()]
    writable = []
    for participant_id in ids:
        answer = await _adverse_event(client, participant_id)
        if answer.status_code == 201:
            writable.append(participant_id)
            writes.acknowledged.append(answer.json()["adverse_event_id"])
    if not ids or not writable:
        raise SystemExit("the database has no participant of hers to read and write")
    return ids, writable


async def _run_cases(base: str, args: argparse.Namespace, writes: Writes) -> list[Case]:
    clients = await _clients(base, args.clients, args.username, args.password)
    try:
        ids, writable = await _writable(clients[0], writes)

        async def static(client: Client, index: int) -> httpx2.Response:
            return await client.http.get("/static/style.css")

        async def page(client: Client, index: int) -> httpx2.Response:
            return await client.http.get(f"/participants/{ids[index % len(ids)]}")

        async def write(client: Client, index: int) -> httpx2.Response:
            answer = await _adverse_event(client, writable[index % len(writable)])
            if answer.status_code == 201:
                writes.acknowledged.append(answer.json()["adverse_event_id"])
            return answer

        warm = max(args.clients, args.requests // 20)
        await _load("warm-up", clients, warm, page, 200)
        think = args.think_ms / 1000
        return [
            await _load("static", clients, args.requests, static, 200, think),
            await _load("page", clients, args.requests, page, 200, think),
            await _load("write", clients, args.requests, write, 201, think),
        ]
    finally:
        await asyncio.gather(*(client.http.aclose() for client in clients))


# ------------------------------------------------------------------------- the aftermath


def _lost_writes(url: str, acknowledged: list[int]) -> int:
    """Acknowledged adverse events the database does not hold."""
    engine = make_engine(url)
    try:
        query = text("SELECT id FROM adverse_events WHERE id IN :ids").bindparams(
            bindparam("ids", expanding=True)
        )
        found: set[int] = set()
        with engine.connect() as connection:
            for start in range(0, len(acknowledged), 500):
                chunk = acknowledged[start : start + 500]
                found |= {row[0] for row in connection.execute(query, {"ids": chunk})}
        return len(set(acknowledged) - found)
    finally:
        engine.dispose()


def _audit_verify(url: str) -> int:
    command = [sys.executable, "-c", "from endotrial.cli import main; main()", "audit",
               "verify", "--database", url]  # fmt: skip
    return subprocess.run(command, stdout=subprocess.DEVNULL, check=False).returncode


def run(engine_name: str, url: str, args: argparse.Namespace) -> bool:
    """Load the server over `url`; True when the writes and the trail check out."""
    writes = Writes()
    with served(url, _free_port(), args.workers) as base:
        cases = asyncio.run(_run_cases(base, args, writes))
    for case in cases:
        print(case.line(engine_name), flush=True)
    static, page, _ = cases
    if static.latencies_ms and page.latencies_ms:
        floor = statistics.median(static.latencies_ms)
        ratio = statistics.median(page.latencies_ms) / floor
        print(f"{engine_name:<10} page p50 / static p50 {ratio:5.1f}x")
    lost = _lost_writes(url, writes.acknowledged)
    verified = _audit_verify(url)
    print(
        f"{engine_name:<10} writes acknowledged {len(writes.acknowledged)}, lost {lost}; "
        f"audit verify exit code {verified} ({'intact' if verified == 0 else 'NOT intact'})",
        flush=True,
    )
    return lost == 0 and verified == 0


@contextmanager
def postgres_schema(base_url: str, folder: Path) -> Iterator[str]:
    """A new schema on the PostgreSQL server (its key file in `folder`), dropped afterwards."""
    os.environ[KEY_FILE_ENV] = str(folder / "pg.key")
    base = make_url(base_url)
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        url = base.update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
        os.environ.pop(KEY_FILE_ENV, None)


def _built(url: str, engine_name: str) -> str:
    started = time.perf_counter()
    build_demo(url)
    print(f"{engine_name:<10} demo built in {time.perf_counter() - started:.0f} s", flush=True)
    return url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", help="a database already built (its team signs in)")
    parser.add_argument("--clients", type=int, default=50, help="clients at once (50)")
    parser.add_argument("--requests", type=int, default=1000, help="requests per case (1000)")
    parser.add_argument(
        "--think-ms", type=float, default=0.0,
        help="mean pause of a client between answer and next request (0: none, saturation)",
    )  # fmt: skip
    parser.add_argument("--workers", type=int, default=1, help="server processes (1)")
    parser.add_argument("--username", default=COORDINATOR, help="who signs in (the demo's)")
    parser.add_argument("--password", default=DEMO_PASSWORDS[COORDINATOR])
    args = parser.parse_args()
    print(
        f"{args.clients} clients, {args.requests} requests per case, think time "
        f"{args.think_ms:g} ms, {args.workers} server process(es)",
        flush=True,
    )
    if args.database is not None:
        sys.exit(0 if run("given", args.database, args) else 1)
    sound = True
    with tempfile.TemporaryDirectory() as folder:
        sound &= run("sqlite", _built(f"sqlite:///{Path(folder) / 'demo.db'}", "sqlite"), args)
        postgres = os.environ.get(POSTGRES_ENV)
        if postgres:
            with postgres_schema(postgres, Path(folder)) as url:
                sound &= run("postgresql", _built(url, "postgresql"), args)
        else:
            print(f"postgresql skipped: {POSTGRES_ENV} is not set")
    sys.exit(0 if sound else 1)


if __name__ == "__main__":
    main()
