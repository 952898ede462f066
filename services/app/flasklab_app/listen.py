"""Where waiting connections wait: the kernel's accept queue of the server's listening socket, sampled over a window.

A connection the kernel has completed but the server has not yet accepted waits in its listening socket's accept
queue. Linux reports, for a LISTEN socket, that queue's length (``rqueue``) and its limit, the backlog the server asked
for capped by ``net.core.somaxconn`` (``wqueue``). The lab asks the kernel for its LISTEN sockets over netlink
(sock_diag, the interface ``ss -lnt`` reads, filtered to listeners by the kernel: /proc/net/tcp would list every
TIME_WAIT socket of a busy step too) and keeps the ones on the server's port, several where a server listens with
SO_REUSEPORT. A queue that is full drops the next connection: the kernel's ``TcpExt ListenOverflows`` counter
(/proc/net/netstat) counts those, for its whole network namespace: the container's in the compose lab, the machine's
for the local backend (where another program's overflow would count too: the views say so).

A server that accepts every connection at once (an event loop, a thread per connection) keeps this queue near empty
and holds its waiting requests itself; a pre-fork server whose workers accept only when free (gunicorn sync) leaves
them here.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from dataclasses import dataclass
from pathlib import Path

# netlink sock_diag (linux/sock_diag.h, linux/inet_diag.h)
NETLINK_SOCK_DIAG = 4
SOCK_DIAG_BY_FAMILY = 20
NLM_F_REQUEST, NLM_F_DUMP = 0x1, 0x300
NLMSG_ERROR, NLMSG_DONE = 2, 3
TCP_LISTEN = 10
HEADER = struct.Struct("=IHHII")  # nlmsghdr: length, type, flags, sequence, port id
REQUEST = struct.Struct("=BBBBI48s")  # inet_diag_req_v2: family, protocol, extensions, pad, states, socket id
MESSAGE = struct.Struct("=BBBB2s2s32s4s8sIIIII")  # inet_diag_msg: ..., sport, dport, addresses, if, cookie, ...
RECEIVE_BYTES = 65536
NETSTAT = Path("/proc/net/netstat")
# How often a window's accept queue is read: a few hundred readings in a standard window, each well under 1 ms.
SAMPLE_S = 0.02


@dataclass(frozen=True)
class Listener:
    """One LISTEN socket: the connections waiting to be accepted, and how many it may hold (its backlog)."""

    queued: int
    backlog: int


def listeners(port: int) -> list[Listener]:
    """The LISTEN sockets on ``port`` (IPv4 and IPv6) in this process's network namespace, as the kernel has them."""
    found: list[Listener] = []
    with socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_SOCK_DIAG) as diag:
        for family in (socket.AF_INET, socket.AF_INET6):
            request = REQUEST.pack(family, socket.IPPROTO_TCP, 0, 0, 1 << TCP_LISTEN, bytes(48))
            header = HEADER.pack(HEADER.size + len(request), SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST | NLM_F_DUMP, 1, 0)
            diag.send(header + request)
            found.extend(_replies(diag, port))
    return found


def _replies(diag: socket.socket, port: int) -> list[Listener]:
    """Read one dump's messages until its end, keeping the sockets whose local port is ``port``."""
    found: list[Listener] = []
    while True:
        data = diag.recv(RECEIVE_BYTES)
        offset = 0
        while offset + HEADER.size <= len(data):
            length, kind, _, _, _ = HEADER.unpack_from(data, offset)
            if kind == NLMSG_DONE:
                return found
            if kind == NLMSG_ERROR:
                (code,) = struct.unpack_from("=i", data, offset + HEADER.size)
                raise OSError(-code, "sock_diag refused the dump")
            fields = MESSAGE.unpack_from(data, offset + HEADER.size)
            sport, queued, backlog = int.from_bytes(fields[4], "big"), fields[10], fields[11]
            if sport == port:
                found.append(Listener(queued, backlog))
            offset += (length + 3) & ~3
        if not data:
            return found


def listen_overflows(netstat: Path = NETSTAT) -> int | None:
    """The kernel's count of connections dropped because a listening socket's accept queue was full (None: not
    readable here)."""
    try:
        lines = netstat.read_text().splitlines()
    except OSError:
        return None
    for names, values in zip(lines[::2], lines[1::2], strict=False):
        if names.startswith("TcpExt:"):
            table = dict(zip(names.split()[1:], values.split()[1:], strict=False))
            return int(table["ListenOverflows"]) if "ListenOverflows" in table else None
    return None


@dataclass(frozen=True)
class AcceptQueue:
    """A window's accept queue: the most and the mean connections waiting over its readings, the backlog, and the
    connections dropped for a full queue meanwhile (in the whole network namespace; None: not readable)."""

    max: int
    mean: float
    backlog: int
    readings: int
    overflows: int | None


class AcceptQueueSampler:
    """Reads the accept queue of ``port`` every SAMPLE_S from ``start`` to ``stop`` in a thread of its own."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.readings: list[int] = []
        self.backlog = 0
        self.overflows_before: int | None = None
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)

    def start(self) -> AcceptQueueSampler:
        self.overflows_before = listen_overflows()
        self.thread.start()
        return self

    def _sample(self) -> None:
        while True:
            with contextlib.suppress(OSError):
                found = listeners(self.port)
                if found:
                    self.readings.append(sum(listener.queued for listener in found))
                    self.backlog = max(self.backlog, sum(listener.backlog for listener in found))
            if self.done.wait(SAMPLE_S):
                return

    def stop(self) -> AcceptQueue | None:
        """The window's figures (None: the socket was never seen, as for a server in another network namespace)."""
        self.done.set()
        self.thread.join()
        after = listen_overflows()
        if not self.readings:
            return None
        overflows = None if after is None or self.overflows_before is None else after - self.overflows_before
        return AcceptQueue(
            max=max(self.readings),
            mean=round(sum(self.readings) / len(self.readings), 3),
            backlog=self.backlog,
            readings=len(self.readings),
            overflows=overflows,
        )
