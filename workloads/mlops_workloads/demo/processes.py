"""Child processes of the demo: each in its own process group, logged to a file, always stopped.

A service such as ``mlflow server`` forks workers; stopping only the parent would orphan them. Every child is
therefore started as a session leader and stopped as a group: SIGTERM, a bounded wait, then SIGKILL. The supervisor
stops everything on normal exit, on failure, on Ctrl-C / SIGTERM / SIGHUP (see :func:`install_signal_handlers`) and,
as a last resort, from ``atexit``.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO

import httpx

LOCALHOST = "127.0.0.1"


class DemoInterrupted(KeyboardInterrupt):
    """SIGTERM or SIGHUP arrived: unwind like Ctrl-C so every ``finally`` block stops the services."""


class PortInUseError(RuntimeError):
    """A fixed port is taken; the message names the port, the service and the option that picks another."""

    def __init__(self, port: int, service: str, option: str) -> None:
        self.port, self.service, self.option = port, service, option
        super().__init__(
            f"port {port} on {LOCALHOST} is already in use, so the {service} cannot start there; "
            f"stop whatever listens on it or pick another port with {option} <port> ({option} 0 = any free port)"
        )


class ServiceStartError(RuntimeError):
    """A child service exited or never became healthy; the message points at its log."""


def port_is_free(port: int, host: str = LOCALHOST) -> bool:
    """True when a server could bind ``host:port`` now (with SO_REUSEADDR, as uvicorn and werkzeug do)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = LOCALHOST) -> int:
    """A port the kernel considers free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def resolve_port(requested: int, service: str, option: str, taken: Sequence[int] = ()) -> int:
    """``requested`` if it is free (0 picks a free port, distinct from ``taken``); else :class:`PortInUseError`."""
    if not 0 <= requested <= 65535:
        raise ValueError(f"{option} must be between 0 and 65535, got {requested}")
    if requested == 0:
        for _ in range(50):
            port = free_port()
            if port not in taken:
                return port
        raise RuntimeError(f"could not find a free port for the {service}")
    if requested in taken or not port_is_free(requested):
        raise PortInUseError(requested, service, option)
    return requested


def group_members(pgid: int) -> list[int]:
    """The pids whose process group is ``pgid`` (read from /proc; empty where /proc is unavailable)."""
    members = []
    for entry in Path("/proc").glob("[0-9]*"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            # Field 5 of /proc/<pid>/stat is the process group; split after the command name, which may hold spaces.
            fields = entry.joinpath("stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid:
                members.append(int(entry.name))
    return sorted(members)


def pid_alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie waiting to be reaped."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError, IndexError):
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    return True


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def stop_process_group(process: subprocess.Popen[bytes], timeout: float = 10.0) -> int | None:
    """SIGTERM the child's whole process group, wait up to ``timeout`` s, then SIGKILL what is left; reap the child.

    Returns the child's exit code (None if it could not be reaped, which should not happen after SIGKILL).
    """
    pgid = process.pid  # a session leader: its pid is its group id
    if process.poll() is None or group_members(pgid):
        _signal_group(pgid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None and not group_members(pgid):
                break
            time.sleep(0.05)
        else:
            _signal_group(pgid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=timeout)
    # Grandchildren that outlived their parent are re-parented to init, which reaps them once killed.
    if group_members(pgid):
        _signal_group(pgid, signal.SIGKILL)
    return process.returncode


@dataclass
class ManagedProcess:
    name: str
    argv: list[str]
    process: subprocess.Popen[bytes]
    log_path: Path
    started_at: float
    seen_pids: set[int] = field(default_factory=set)

    @property
    def pid(self) -> int:
        return self.process.pid

    def running(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def remember_group(self) -> None:
        """Record every pid of the group (workers included): the shutdown check covers them all."""
        self.seen_pids.update(group_members(self.pid))
        self.seen_pids.add(self.pid)


class LogFollower:
    """Streams new lines of the children's log files to a callback (``--verbose``)."""

    def __init__(self, emit: Callable[[str, str], None], interval: float = 0.2) -> None:
        self._emit = emit
        self._interval = interval
        self._files: dict[str, tuple[Path, int]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="log-follower", daemon=True)

    def follow(self, name: str, path: Path) -> None:
        with self._lock:
            self._files[name] = (path, path.stat().st_size if path.exists() else 0)
        if not self._thread.is_alive():
            self._thread.start()

    def _poll(self) -> None:
        with self._lock:
            items = list(self._files.items())
        for name, (path, offset) in items:
            with contextlib.suppress(OSError), path.open("rb") as handle:
                handle.seek(offset)
                chunk = handle.read()
                complete = chunk.rfind(b"\n") + 1
                if not complete:
                    continue
                for line in chunk[:complete].decode(errors="replace").splitlines():
                    self._emit(name, line)
                with self._lock:
                    self._files[name] = (path, offset + complete)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self._poll()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2)
        self._poll()


class ProcessSupervisor:
    """Starts the demo's children and guarantees they are all stopped (idempotent :meth:`stop_all`)."""

    def __init__(self, log_dir: Path, *, follower: LogFollower | None = None, stop_timeout: float = 10.0) -> None:
        self.log_dir = log_dir
        self.follower = follower
        self.stop_timeout = stop_timeout
        self.children: list[ManagedProcess] = []
        self._lock = threading.Lock()
        atexit.register(self.stop_all)

    def start(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        log_name: str | None = None,
    ) -> ManagedProcess:
        """Start ``argv`` in a new session (own process group); stdout and stderr go to ``<log_dir>/<name>.log``."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{log_name or name}.log"
        handle: IO[bytes] = log_path.open("ab")
        with deferred_signals():
            try:
                process = subprocess.Popen(
                    list(argv),
                    stdin=subprocess.DEVNULL,
                    stdout=handle,
                    stderr=subprocess.STDOUT,
                    env=dict(env) if env is not None else None,
                    cwd=cwd,
                    start_new_session=True,
                )
            finally:
                handle.close()  # the child holds its own descriptor
            child = ManagedProcess(name, list(argv), process, log_path, time.monotonic())
            with self._lock:
                self.children.append(child)
        child.remember_group()
        if self.follower is not None:
            self.follower.follow(name, log_path)
        return child

    def stop(self, child: ManagedProcess) -> int | None:
        child.remember_group()
        return stop_process_group(child.process, self.stop_timeout)

    def stop_all(self) -> None:
        """Stop every child, most recent first (the inference service before the tracking server before S3)."""
        with self._lock:
            children = list(reversed(self.children))
        for child in children:
            self.stop(child)
        if self.follower is not None:
            self.follower.stop()

    def started_pids(self) -> list[int]:
        pids: set[int] = set()
        for child in self.children:
            pids |= child.seen_pids
        return sorted(pids)

    def survivors(self) -> list[int]:
        """Pids started by the demo (directly or by its children) that still exist: empty after a clean stop."""
        alive = {pid for pid in self.started_pids() if pid_alive(pid)}
        for child in self.children:
            alive.update(pid for pid in group_members(child.pid) if pid_alive(pid))
        return sorted(alive)


def wait_until_healthy(
    url: str,
    *,
    child: ManagedProcess,
    timeout: float,
    service: str,
    ok: Callable[[httpx.Response], bool] = lambda response: response.status_code == 200,
    interval: float = 0.25,
) -> float:
    """Poll ``url`` until ``ok`` (bounded); fail at once if the child exits. Returns the seconds it took."""
    started = time.monotonic()
    deadline = started + timeout
    last_error = "no answer yet"
    with httpx.Client(timeout=5.0, trust_env=False) as client:
        while True:
            if not child.running():
                raise ServiceStartError(
                    f"the {service} exited with code {child.process.returncode} before becoming healthy; "
                    f"see {child.log_path}:\n{child.log_tail()}"
                )
            try:
                response = client.get(url)
                if ok(response):
                    child.remember_group()
                    return time.monotonic() - started
                last_error = f"HTTP {response.status_code}: {response.text[:200]}"
            except httpx.HTTPError as exc:
                last_error = f"{type(exc).__name__}: {exc}"
            if time.monotonic() > deadline:
                raise ServiceStartError(
                    f"the {service} was not healthy at {url} after {timeout:.0f} s (last: {last_error}); "
                    f"see {child.log_path}:\n{child.log_tail()}"
                )
            time.sleep(interval)


class _SignalGate:
    """Defers Ctrl-C / SIGTERM / SIGHUP while a child is being started and registered (see ``deferred_signals``)."""

    depth = 0
    pending: int | None = None


def _raise_for(signum: int) -> None:
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise DemoInterrupted(signal.Signals(signum).name)


@contextlib.contextmanager
def deferred_signals() -> Iterator[None]:
    """Hold back an interrupt until the block ends, so a child is never started without being registered."""
    _SignalGate.depth += 1
    try:
        yield
    finally:
        _SignalGate.depth -= 1
        if _SignalGate.depth == 0 and _SignalGate.pending is not None:
            signum, _SignalGate.pending = _SignalGate.pending, None
            _raise_for(signum)


@contextlib.contextmanager
def install_signal_handlers() -> Iterator[None]:
    """Ctrl-C raises KeyboardInterrupt, SIGTERM and SIGHUP raise :class:`DemoInterrupted` — unless deferred."""

    def interrupt(signum: int, _frame: FrameType | None) -> None:
        if _SignalGate.depth:
            _SignalGate.pending = signum
            return
        _raise_for(signum)

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
