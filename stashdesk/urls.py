"""Service addresses: checking them, and the credentials some carry.

People put basic-auth credentials into an address for a reverse proxy
(``http://user:pass@nas:9999``). Such an address is split into the address
without them and its ``user:pass`` part (the *userinfo*), which is kept as a
secret (see ``Settings``); where the address is shown the password is masked
(``http://user:***@nas:9999``). A userinfo without a password is taken for a
token and masked whole (``http://***@nas:9999``).
"""

from __future__ import annotations

import base64
import ipaddress
import re
from urllib.parse import SplitResult, unquote, urlsplit

URL_MASK = "***"
SCHEMES = ("http", "https")
_FORBIDDEN = re.compile(r"[\s\x00-\x1f\x7f\x80-\x9f\u2028\u2029\ufeff\u200b-\u200f]")
_HOST_PORT = re.compile(r"(\[[^\[\]]+\]|[^\[\]:]+)(:[0-9]*)?")
_HOST_NAME = re.compile(r"(?!-)[A-Za-z0-9_-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9_-]{1,63}(?<!-))*\.?")


class BadURL(ValueError):
    """The text is not a usable http(s) address; the message says why (without the
    text's credentials)."""


def check_service_url(text: str, example: str = "http://localhost:8080") -> str:
    """``text`` checked as an http(s) service address, normalised (no trailing ``/``).

    Refused (BadURL): whitespace or control characters anywhere, another scheme, no
    host, an invalid host, a port outside 1-65535, a query or fragment.
    """
    shown = mask_url(text)
    hint = f"an http:// or https:// address such as {example}"
    if _FORBIDDEN.search(text):
        raise BadURL(f"must be {hint}, without spaces or control characters, not {shown!r}")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise BadURL(f"must be {hint}, not {shown!r} ({_why(exc)})") from None
    if parts.scheme.lower() not in SCHEMES:
        raise BadURL(f"must be {hint}, not {shown!r}")
    host = parts.hostname
    if not host:
        raise BadURL(f"must be {hint}: {shown!r} names no host")
    if not _HOST_PORT.fullmatch(parts.netloc.rpartition("@")[2]):
        raise BadURL(
            f"must be {hint}, not {shown!r} (an IPv6 address must be written as "
            f"[address], with both brackets, before the port)"
        )
    if not _valid_host(host, bracketed="[" in parts.netloc):
        raise BadURL(
            f"must be {hint}: {host!r} in {shown!r} is not a valid host name or IP address"
        )
    if port is not None and not 1 <= port <= 65535:
        raise BadURL(f"must be {hint}: the port must be from 1 to 65535, not {port}")
    if parts.netloc.endswith(":"):
        raise BadURL(f"must be {hint}: {shown!r} has a ':' without a port number")
    if parts.query or parts.fragment or text.rstrip("/").endswith(("?", "#")):
        raise BadURL(f"must be {hint}, without a query (?...) or fragment (#...): {shown!r}")
    return text.rstrip("/")


def _why(exc: ValueError) -> str:
    text = str(exc)
    if "Port" in text:
        return "the port must be a number from 1 to 65535"
    if "IPv6" in text or "bracket" in text.lower():
        return "an IPv6 address must be written as [address], with both brackets"
    return text


def _valid_host(host: str, *, bracketed: bool) -> bool:
    if bracketed:
        try:
            return ipaddress.ip_address(host.split("%", 1)[0]).version == 6
        except ValueError:
            return False
    if _HOST_NAME.fullmatch(host):
        return True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _parts(url: str) -> SplitResult | None:
    try:
        return urlsplit(url)
    except ValueError:
        return None


def split_credentials(url: str) -> tuple[str, str]:
    """(the address without credentials, its userinfo as written: ``user:pass`` or ``"")."""
    parts = _parts(url)
    if parts is None or "@" not in parts.netloc:
        return url, ""
    userinfo, _, hostport = parts.netloc.rpartition("@")
    return parts._replace(netloc=hostport).geturl(), userinfo


def join_credentials(url: str, userinfo: str) -> str:
    """The address with ``userinfo`` put back in front of its host."""
    if not userinfo:
        return url
    parts = _parts(url)
    if parts is None:
        return url
    return parts._replace(netloc=f"{userinfo}@{parts.netloc}").geturl()


def userinfo_parts(userinfo: str) -> tuple[str, str | None]:
    """(user name, password or None), percent-decoded."""
    user, sep, password = userinfo.partition(":")
    return unquote(user), (unquote(password) if sep else None)


def mask_userinfo(userinfo: str) -> str:
    if not userinfo:
        return ""
    user, sep, password = userinfo.partition(":")
    if not sep:
        return URL_MASK  # a bare token
    return f"{user}:{URL_MASK}" if password else f"{user}:"


def mask_url(url: str) -> str:
    """The address as it may be shown: its password (or token) replaced by ``***``."""
    bare, userinfo = split_credentials(url)
    if not userinfo:
        # unparsable text may still hold "user:pass@": mask up to the last @ of the netloc
        return re.sub(
            r"^([A-Za-z][A-Za-z0-9+.-]*://)([^/@]*:)?[^/@]*@",
            lambda m: f"{m[1]}{m[2] or ''}{URL_MASK}@",
            url,
        )
    return join_credentials(bare, mask_userinfo(userinfo))


def credential_secrets(userinfo: str) -> list[str]:
    """The values to keep out of every message for this userinfo: the password (as
    written and decoded) or the token, and the basic-auth header value they make."""
    if not userinfo:
        return []
    user, password = userinfo_parts(userinfo)
    raw_user, _, raw_password = userinfo.partition(":")
    values = [raw_user, user] if password is None else [raw_password, password]
    pair = f"{user}:{password or ''}".encode()
    values.append(base64.b64encode(pair).decode())
    return [v for v in values if v]


def basic_auth(url: str) -> tuple[str, tuple[str, str] | None]:
    """(the address without credentials, (user, password) for HTTP basic auth or None):
    clients send the credentials as a header and never put them in a request URL,
    where a library's log line or error message could show them."""
    bare, userinfo = split_credentials(url)
    if not userinfo:
        return url, None
    user, password = userinfo_parts(userinfo)
    return bare, (user, password or "")
