"""Strict Matrix user ids (``@localpart:server``), pure: text in, the id or a clear error.

The grammar is the Matrix spec's (appendix "Identifier grammar"): the localpart uses only
``a-z 0-9 . _ = - / +``; the server is a DNS name, an IPv4 address or a bracketed IPv6
address, with an optional port; the whole id is at most 255 bytes. Historical ids with
other characters are refused on purpose. Anything outside ASCII is refused with the
character named (a Cyrillic "а" or a fullwidth "＠" looks like the real thing and would
link someone else's account), never normalised into a different id.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata

MAX_LENGTH = 255
EXAMPLE = "@nadia:matrix.example.org"
_LOCALPART = re.compile(r"[a-z0-9._=\-/+]+")
_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_PORT = re.compile(r"[0-9]{1,5}")


class InvalidMatrixId(ValueError):
    """The text is not a Matrix user id; ``str(exc)`` says why, for the person typing it."""


def _describe(ch: str) -> str:
    name = unicodedata.name(ch, "unnamed character")
    return f"“{ch}” (U+{ord(ch):04X} {name})"


def _valid_host(host: str) -> bool:
    if host.startswith("["):
        if not host.endswith("]"):
            return False
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            return False
        return True
    if re.fullmatch(r"[0-9.]+", host):
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            return False
        return True
    return len(host) <= 253 and all(_LABEL.fullmatch(label) for label in host.split("."))


def _valid_server(server: str) -> bool:
    host, port = server, None
    if server.startswith("["):
        end = server.find("]")
        if end == -1:
            return False
        host, rest = server[: end + 1], server[end + 1 :]
        if rest:
            if not rest.startswith(":"):
                return False
            port = rest[1:]
    elif ":" in server:
        host, port = server.rsplit(":", 1)
    if port is not None and not (_PORT.fullmatch(port) and 1 <= int(port) <= 65535):
        return False
    return bool(host) and _valid_host(host)


def parse_user_id(text: str) -> str:
    """The Matrix user id in ``text`` (surrounding spaces removed), or InvalidMatrixId."""
    value = text.strip(" \t\r\n")
    if not value:
        raise InvalidMatrixId(f"Enter a Matrix id, for example {EXAMPLE}.")
    for ch in value:
        if not ch.isascii():
            raise InvalidMatrixId(
                f"{_describe(ch)} is not allowed: a Matrix id uses plain ASCII letters, "
                "digits and punctuation. Type it again rather than pasting it."
            )
    if len(value.encode()) > MAX_LENGTH:
        raise InvalidMatrixId(f"A Matrix id is at most {MAX_LENGTH} characters.")
    if not value.startswith("@"):
        raise InvalidMatrixId(f"A Matrix id starts with @, for example {EXAMPLE}.")
    localpart, sep, server = value[1:].partition(":")
    if not sep or not server:
        raise InvalidMatrixId(f"A Matrix id has its server after a colon, for example {EXAMPLE}.")
    if not localpart:
        raise InvalidMatrixId(f"The name before the colon is missing, for example {EXAMPLE}.")
    if not _LOCALPART.fullmatch(localpart):
        if localpart.lower() != localpart and _LOCALPART.fullmatch(localpart.lower()):
            raise InvalidMatrixId(
                f"Matrix ids are lower case before the colon: @{localpart.lower()}:{server}."
            )
        bad = next(ch for ch in localpart if not _LOCALPART.fullmatch(ch))
        raise InvalidMatrixId(
            f"{_describe(bad)} is not allowed before the colon: use a-z, 0-9 and . _ = - / +."
        )
    if not _valid_server(server):
        raise InvalidMatrixId(f"“{server}” is not a server name, for example matrix.example.org.")
    return value
