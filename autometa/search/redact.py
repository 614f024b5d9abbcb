"""Storage URLs without their secrets: what autometa prints, logs and writes instead of the real one.

A PostgreSQL URL carries a password (``postgresql://user:pw@host/db``), and an
error message, ``--json`` or ``report.md`` must never repeat it. The parsing is
done on the string on purpose: SQLAlchemy's ``make_url`` raises on a malformed
URL (a bad port), splits a password holding an unencoded ``@`` at the first one
(and prints the rest as the host), and keeps ``?password=...`` in the query.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

#: Query parameters that carry a secret (libpq's and common drivers').
_SECRET_QUERY = re.compile(r"(?i)(^|&)(password|passwd|pwd|sslpassword|token|access_token|secret)=([^&]*)")
HIDDEN = "***"


def _split(spec: str) -> tuple[str, str, str, str, str] | None:
    """(scheme, user info, host and path, '?' or '', query) of a URL; None for a file path."""
    if "://" not in spec:
        return None
    scheme, rest = spec.split("://", 1)
    base, sep, query = rest.partition("?")
    userinfo, _, host = base.rpartition("@")  # user info ends at the LAST '@' (a password may hold '@', '/', ':')
    return scheme, userinfo, host, sep, query


def redact_storage(spec: str) -> str:
    """``spec`` with its password and secret query parameters as ``***``; a journal file path as is."""
    parts = _split(spec)
    if parts is None:
        return spec
    scheme, userinfo, host, sep, query = parts
    user, colon, _ = userinfo.partition(":")
    authority = f"{user}:{HIDDEN}@" if colon else (f"{user}@" if userinfo else "")
    query = _SECRET_QUERY.sub(lambda m: f"{m.group(1)}{m.group(2)}={HIDDEN}", query)
    return f"{scheme}://{authority}{host}{sep}{query}"


def secrets_of(spec: str) -> list[str]:
    """The secrets ``spec`` holds, as written and percent-decoded (what a driver may echo)."""
    parts = _split(spec)
    if parts is None:
        return []
    _, userinfo, _, _, query = parts
    found = [userinfo.partition(":")[2]] + [m.group(3) for m in _SECRET_QUERY.finditer(query)]
    return sorted({form for secret in found if secret for form in (secret, unquote(secret))}, key=len, reverse=True)


def redact_text(text: str, spec: str) -> str:
    """``text`` (an error message, a log line) with every secret of ``spec`` replaced by ``***``.

    A secret is replaced where it stands alone, not inside a longer word (a
    password ``p`` leaves ``port`` alone).
    """
    text = text.replace(spec, redact_storage(spec))
    for secret in secrets_of(spec):
        text = re.sub(rf"(?<![A-Za-z0-9]){re.escape(secret)}(?![A-Za-z0-9])", HIDDEN, text)
    return text
