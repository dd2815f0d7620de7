"""Where the engine API listens: ``HOST:PORT`` as people write it."""

from __future__ import annotations

import ipaddress

DEFAULT_LISTEN = "127.0.0.1:0"


class ListenError(ValueError):
    pass


def parse_listen(text: str) -> tuple[str, int]:
    """``127.0.0.1:8765``, ``[::1]:8765``, ``0.0.0.0:8765``, ``nas.local:0`` -> (host, port).

    Port 0 asks for a free port (written to engine.json).
    """
    value = text.strip()
    host, sep, port_text = value.rpartition(":")
    if not sep or not host:
        raise ListenError(
            f"expected HOST:PORT such as 127.0.0.1:8765 or 0.0.0.0:8765, not {text!r}"
        )
    if host.startswith("["):
        if not host.endswith("]"):
            raise ListenError(f"an IPv6 address goes in brackets, e.g. [::1]:8765, not {text!r}")
        host = host[1:-1]
    if any(c.isspace() for c in host) or not host:
        raise ListenError(f"not a host name or address: {host!r}")
    try:
        port = int(port_text)
    except ValueError:
        raise ListenError(f"the port must be a number from 0 to 65535, not {port_text!r}") from None
    if not 0 <= port <= 65535:
        raise ListenError(f"the port must be a number from 0 to 65535, not {port}")
    return host, port


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def local_host_for(host: str) -> str:
    """The address a process on this machine connects to for a server bound to ``host``."""
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    if host == "::":
        return "::1"
    return host


def url_for(scheme: str, host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}:{port}"
