"""Small network facts shared by the transports and the backends."""

from __future__ import annotations

import ipaddress
import socket

from omni.errors import ConfigError


def is_loopback(host: str) -> bool:
    """`host` (a name or an address, IPv6 with or without brackets) reaches only this machine."""
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def bind(host: str, port: int, what: str = "serve") -> socket.socket:
    """A TCP socket bound now (not yet listening): a port in use or an address not allowed is a
    clear error before any model loads."""
    try:
        family, kind, proto, _, addr = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(addr)
        sock.setblocking(False)
        return sock
    except OSError as e:
        raise ConfigError(f"cannot {what} on {host}:{port}: {e.strerror or e}",
                          hint="pick another port, or stop what holds this one") from None
