"""What a huge request body costs the server: RSS before, at its peak and after (issue #15).

Starts axial's app under uvicorn in a subprocess (SQLite in a temporary folder, no worker, the
default limits unless given), then sends each probe over a raw socket until the server answers:

- ``no-key``: ``POST /api/v1/projects`` without credentials, 200 MB declared and streamed → 401;
- ``lead-json``: the same with a lead key → 413 (AXIAL_MAX_JSON_BODY_BYTES);
- ``client-batch``: a client key, a chunked 400 MB batch body → 413 (AXIAL_MAX_BODY_BYTES).

The server's RSS is read from /proc (VmRSS, VmHWM) before and after each probe, the peak reset
before each (clear_refs); the peak delta is VmHWM after minus VmRSS before. Prints a markdown table with the load average.

    .venv/bin/python bench/body_limit.py [--mb 400] [--batch-limit BYTES]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CHUNK = 65_536

SERVE = """
import sys, uvicorn
from service.app import create_app
from service.settings import Settings
app = create_app(Settings(database_url=sys.argv[1]), start_worker=False, warm_up=False)
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning", http="h11")
"""


def make_keys(db_url: str) -> dict[str, str]:
    sys.path.insert(0, str(REPO))
    from service.auth import Role, create_key
    from service.notes.batches import get_or_create_project
    from service.storage.db import Database

    database = Database(db_url)
    database.upgrade()
    with database.transaction() as session:
        project = get_or_create_project(session, "bench")
        keys = {r.value: create_key(session, project, r, f"bench-{r.value}") for r in Role}
    database.dispose()
    return keys


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def memory(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of the process, in kB."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(value.split()[0])
    return found


def reset_peak(pid: int) -> None:
    """Start VmHWM afresh (Linux: ``echo 5 > /proc/PID/clear_refs``), so the peak is this
    probe's, not the import's."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError as exc:
        print(f"(could not reset the peak RSS: {exc}; peak is since start)")


def body(total: int, chunked: bool) -> Iterator[bytes]:
    piece = b"x" * CHUNK
    for _ in range(total // CHUNK):
        yield (f"{CHUNK:x}\r\n".encode() + piece + b"\r\n") if chunked else piece
    if chunked:
        yield b"0\r\n\r\n"


def probe(port: int, path: str, headers: dict[str, str], total: int) -> tuple[int, int, float]:
    """Send the head, then the body from a thread until the server answers; returns the status,
    the body bytes sent by then and the seconds until the answer."""
    chunked = headers.get("Transfer-Encoding") == "chunked"
    sock = socket.create_connection(("127.0.0.1", port), timeout=120)
    head = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", *[f"{k}: {v}" for k, v in headers.items()]]
    answered, sent = threading.Event(), [0]

    def feed() -> None:
        try:
            for chunk in body(total, chunked):
                if answered.is_set():
                    return
                sock.sendall(chunk)
                sent[0] += len(chunk)
        except OSError:
            return

    start = time.perf_counter()
    sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    data = b""
    while b"\r\n" not in data:
        more = sock.recv(4096)
        if not more:
            break
        data += more
    seconds = time.perf_counter() - start
    answered.set()
    sent_then = sent[0]
    sock.close()
    feeder.join(timeout=10)
    return (int(data.split(b" ", 2)[1]) if data else 0), sent_then, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=400, help="size of the batch body, MB")
    parser.add_argument("--batch-limit", type=int, help="AXIAL_MAX_BODY_BYTES for the server")
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="axial-bench-")
    db_url = f"sqlite:///{folder}/axial.db"
    keys = make_keys(db_url)
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    if args.batch_limit:
        env["AXIAL_MAX_BODY_BYTES"] = str(args.batch_limit)
    server = subprocess.Popen([sys.executable, "-c", SERVE, db_url, str(port)], env=env)
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        mb = 1_000_000
        probes = [
            ("no-key", "/api/v1/projects", {"Content-Length": str(200 * mb)}, 200 * mb),
            (
                "lead-json",
                "/api/v1/projects",
                {"Authorization": f"Bearer {keys['lead']}", "Content-Length": str(200 * mb)},
                200 * mb,
            ),
            (
                "client-batch",
                "/api/v1/projects/bench/batches",
                {"Authorization": f"Bearer {keys['client']}", "Transfer-Encoding": "chunked"},
                args.mb * mb,
            ),
        ]
        print(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}")
        print(
            "| probe | body | status | sent when answered | answer after | RSS before | peak Δ | after Δ |"
        )
        print("|---|---|---|---|---|---|---|---|")
        for name, path, headers, total in probes:
            reset_peak(server.pid)
            before = memory(server.pid)
            headers = {"Content-Type": "application/json", **headers}
            status, sent, seconds = probe(port, path, headers, total)
            time.sleep(0.5)
            after = memory(server.pid)
            peak = max(after["VmHWM"], before["VmRSS"]) - before["VmRSS"]
            print(
                f"| {name} | {total / mb:.0f} MB | {status} | {sent / mb:.1f} MB | "
                f"{seconds * 1000:.0f} ms | {before['VmRSS'] / 1000:.0f} MB | "
                f"{peak / 1000:+.1f} MB | {(after['VmRSS'] - before['VmRSS']) / 1000:+.1f} MB |"
            )
        print(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}")
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
