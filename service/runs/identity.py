"""Who holds a run: a worker's identity, and whether the process behind it still exists.

A worker records itself on the runs it claims (``run.worker``) as
``host:pid:process:name-xxxx``:

- ``host``: the machine's hostname;
- ``pid``: the worker's process id;
- ``process``: what tells this process apart from a later one given the same pid, on Linux
  ``<ticks>@<boot>.<pidns>``: the process's start time in clock ticks since boot
  (``/proc/<pid>/stat``, field 22), the first 8 characters of the kernel's boot id
  (``/proc/sys/kernel/random/boot_id``: a new one at every boot) and the inode of its pid
  namespace (``/proc/self/ns/pid``: containers sharing a hostname do not see each other's pids);
  ``-`` where there is no ``/proc`` (then only the heartbeat tells);
- ``name-xxxx``: the kind of worker (``worker``, ``web``, ``cli``) and a random suffix that keeps
  two workers of one process apart.

A process on the same host, boot and pid namespace can tell at once whether such a worker is
gone (:func:`is_gone`): no process with that pid, a zombie, or one that started at another time
(the pid was reused). Workers on other hosts cannot be seen from here: their runs fail only when
their heartbeat stops (``run_stale_after_s``).
"""

from __future__ import annotations

import os
import secrets
import socket
from dataclasses import dataclass
from functools import cache
from pathlib import Path

PROC = Path("/proc")
UNKNOWN = "-"


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def _stat_fields(pid: int) -> list[str] | None:
    """Fields 3… of ``/proc/<pid>/stat`` (state first), or None if there is no such process."""
    raw = _read(PROC / str(pid) / "stat")
    if raw is None:
        return None
    return raw[raw.rfind(")") + 2 :].split()  # the command name may hold spaces and brackets


def start_ticks(pid: int) -> str | None:
    """When ``pid`` started, in clock ticks since boot; None if it does not exist or is a zombie."""
    fields = _stat_fields(pid)
    if fields is None or len(fields) < 20 or fields[0] in ("Z", "X"):
        return None
    return fields[19]  # field 22 of stat: starttime


@cache
def machine_key() -> str | None:
    """``<boot>.<pidns>``: the boot and pid namespace this process sees; None without /proc."""
    boot = _read(PROC / "sys/kernel/random/boot_id")
    try:
        namespace = os.readlink(PROC / "self/ns/pid")
    except OSError:
        return None
    if boot is None:
        return None
    inode = namespace.partition("[")[2].rstrip("]")
    return f"{boot.strip()[:8]}.{inode}"


def process_token(pid: int) -> str:
    """The ``process`` part of an identity for ``pid`` (``-`` when it cannot be known)."""
    ticks, key = start_ticks(pid), machine_key()
    return UNKNOWN if ticks is None or key is None else f"{ticks}@{key}"


@dataclass(frozen=True, slots=True)
class WorkerIdentity:
    """A parsed ``run.worker``."""

    host: str
    pid: int
    process: str
    name: str

    @classmethod
    def parse(cls, value: str | None) -> WorkerIdentity | None:
        """The identity, or None for anything else (older ``host:pid:name`` ids, test names)."""
        parts = (value or "").rsplit(":", 3)
        if len(parts) != 4 or not parts[1].isdigit():
            return None
        return cls(parts[0], int(parts[1]), parts[2], parts[3])

    def __str__(self) -> str:
        return f"{self.host}:{self.pid}:{self.process}:{self.name}"


def new_worker_id(name: str = "worker") -> str:
    """This process's identity for a new worker: ``host:pid:process:name-xxxx`` (200 chars max).

    The random suffix keeps two workers of one process apart.
    """
    pid = os.getpid()
    me = WorkerIdentity(socket.gethostname(), pid, process_token(pid), f"{name}-{_suffix()}")
    return str(me)[-200:]  # a very long hostname loses its start, never the parts after it


def _suffix() -> str:
    return secrets.token_hex(2)


def is_gone(worker: str | None) -> bool:
    """True when ``worker`` ran on this host, boot and pid namespace and its process is gone.

    False when it cannot be told from here: another host, another boot's or container's pid
    namespace, an identity without a process part, or a process that still runs.
    """
    who = WorkerIdentity.parse(worker)
    key = machine_key()
    if who is None or key is None or who.host != socket.gethostname():
        return False
    ticks, _, where = who.process.partition("@")
    if where != key:
        return False
    return start_ticks(who.pid) != ticks
