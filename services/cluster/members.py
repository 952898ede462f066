"""A fleet's members, each waited on until it answers: prints their addresses (host:port), one a line.

Usage: python3 members.py COUNT ADDRESS [ADDRESS ...]
  ADDRESS: host:port. Given COUNT of them, each is one member (services/cluster/run.sh's local instances). Given one
  for COUNT > 1, its host is a name that resolves to COUNT addresses (compose replicas of one service): it is
  resolved until it does.
Each member's /health must answer within WAIT_S, else this exits 1 naming it (the fleet did not start). With
LAB_CLUSTER_PIDS (run.sh's file of "PID HOST:PORT" lines), a member whose process has exited fails it at once.
"""

import os
import socket
import sys
import time
import urllib.request

WAIT_S = 60.0


def resolved(name: str, port: str, count: int, deadline: float) -> list[str]:
    """The COUNT addresses ``name`` resolves to (a service's replicas register one by one)."""
    found: list[str] = []
    while time.monotonic() < deadline:
        try:
            found = sorted({info[4][0] for info in socket.getaddrinfo(name, int(port), socket.AF_INET)})
        except OSError:
            found = []
        if len(found) >= count:
            return [f"{address}:{port}" for address in found[:count]]
        time.sleep(0.2)
    sys.exit(f"members.py: {name} resolves to {len(found)} of {count} addresses after {WAIT_S:.0f} s")


def processes() -> dict[str, int]:
    """Each local member's process, by its address (none without LAB_CLUSTER_PIDS)."""
    try:
        with open(os.environ["LAB_CLUSTER_PIDS"]) as listed:
            lines = [line.split() for line in listed]
    except (KeyError, OSError):
        return {}
    return {fields[1]: int(fields[0]) for fields in lines if len(fields) == 2 and fields[0].isdigit()}


def exited(pid: int) -> bool:
    """The process is gone, or a zombie its parent has not reaped yet."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except (OSError, IndexError):
        return True


def answering(address: str, deadline: float, pid: int | None) -> None:
    while True:
        try:
            urllib.request.urlopen(f"http://{address}/health", timeout=1).read()
            return
        except OSError:
            if pid is not None and exited(pid):
                sys.exit(f"members.py: the member at {address} (process {pid}) exited before it answered")
            if time.monotonic() > deadline:
                sys.exit(f"members.py: the member at {address} did not answer within {WAIT_S:.0f} s")
            time.sleep(0.05)


def main(arguments: list[str]) -> None:
    if len(arguments) < 2 or not arguments[0].isdigit():
        sys.exit("usage: members.py COUNT ADDRESS [ADDRESS ...]")
    count, addresses = int(arguments[0]), arguments[1:]
    deadline = time.monotonic() + WAIT_S
    if len(addresses) == 1 and count > 1:
        host, _, port = addresses[0].rpartition(":")
        addresses = resolved(host, port, count, deadline)
    elif len(addresses) != count:
        sys.exit(f"members.py: {count} members asked, {len(addresses)} addresses given")
    local = processes()
    for address in addresses:
        answering(address, deadline, local.get(address))
    print("\n".join(addresses))


if __name__ == "__main__":
    main(sys.argv[1:])
