"""Endpoint URLs as they may be shown: without credentials.

Some endpoints take their key in the URL (``?api-key=...``, ``?key=...``, a
signed ``?sig=...``) or in its userinfo (``https://user:pass@host``). The base
URL is recorded in transcript headers and in every request (so in cache keys)
and printed in error lines, so :class:`~hch.llm.settings.LLMSettings` refuses
one that carries either (the key belongs in the API key variable), and every
message that shows a URL shows :func:`public_url` of it.

A URL without credentials is returned exactly as given, byte for byte: the
recorded base URL is part of every request hash, and re-spelling it would turn
every existing cache entry into a miss.
"""

from __future__ import annotations

import re
from urllib.parse import unquote_plus, urlsplit, urlunsplit

_KEY_LIKE = re.compile(r"(key|token|secret|passw|pwd|auth|sig|signature|credential|session|code|bearer)", re.IGNORECASE)
"""Query parameter names taken for credentials (api-key, apikey, access_token, sig, code, ...)."""


def _is_secret(name: str) -> bool:
    return bool(_KEY_LIKE.search(unquote_plus(name)))


def public_url(url: str) -> str:
    """``url`` without userinfo and without query parameters whose names look like credentials."""
    try:
        parts = urlsplit(url)
        has_userinfo = "@" in parts.netloc
    except ValueError:  # not a URL at all (say, an unbalanced '['): show none of it
        return "<unparseable URL>"
    pieces = parts.query.split("&") if parts.query else []
    kept = [p for p in pieces if not _is_secret(p.split("=", 1)[0])]
    if not has_userinfo and len(kept) == len(pieces):
        return url
    netloc = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, netloc, parts.path, "&".join(kept), parts.fragment))


def secret_query_names(url: str) -> list[str]:
    """Names of the query parameters of ``url`` that look like credentials."""
    query = urlsplit(url).query
    names = [p.split("=", 1)[0] for p in query.split("&")] if query else []
    return [unquote_plus(n) for n in names if _is_secret(n)]
