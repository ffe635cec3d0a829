"""Loopback: free ports, and a network namespace where only loopback exists.

Janus never gathers ICE candidates on an interface flagged loopback. The namespace (see NAMESPACE)
therefore also has a veth pair whose one end carries 127.0.0.2, and Janus gathers there. Its sockets
can only reach addresses on that interface, so Janus's peers (Parley, and the viewers' Chromium,
which gathers there by itself) offer 127.0.0.2 too. The kernel delivers 127.0.0.0/8 locally: the
media never leaves the namespace.
"""

from __future__ import annotations

import socket

JANUS_INTERFACE, JANUS_ADDRESS = "pj0", "127.0.0.2"
# Run a command in a fresh network namespace: `unshare -n sh -c NAMESPACE sh COMMAND...`.
NAMESPACE = (f"ip link set lo up && ip link add {JANUS_INTERFACE} type veth peer name pj1 && "
             f"ip addr add {JANUS_ADDRESS}/32 dev {JANUS_INTERFACE} && ip link set pj1 up && "
             f"ip link set {JANUS_INTERFACE} up && exec \"$@\"")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
