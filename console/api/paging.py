"""Reading a list endpoint to its end: which page to ask for next.

Knowlarity's list answers are Tastypie pages: `{"meta": {limit, offset, next, previous,
total_count}, "objects": [...]}`. The samples all fit on one page (limit 1000, next ""),
but an account with more rows than one page gets a `next` link, and a console that only
reads the first page silently shows a partial list. So every list is walked:

- `next` is followed only when it points back at the same endpoint (a relative path, or
  an absolute URL of the same origin): its query's `limit` and `offset` are taken, never
  the URL itself, so a hostile or broken `next` can neither send the keys to another host
  nor walk the client to another endpoint;
- without a usable `next`, `offset + rows received` is asked for while `total_count` says
  there is more;
- the walk ends on an empty page, on an offset it has already asked for, or after
  `max_pages` (with a warning), so a server that never ends cannot keep the console busy.

The call-log search is different (a POST whose `next` the documentation does not say the
server takes back): see `CallLogQuery.after` in calllog.py.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

__all__ = ["MAX_PAGES", "next_page_params"]

MAX_PAGES = 200


def _int(value: object) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def next_page_params(
    *,
    next_link: str | None,
    offset: int,
    received: int,
    total_count: int | None,
    path: str,
    base_url: str,
) -> dict[str, str] | None:
    """The `limit`/`offset` of the page after this one, or None when this was the last.

    `offset` is where this page started, `received` how many rows it held, `path` the
    endpoint's path (e.g. "/Basic/v1/account/sound"), `base_url` the client's origin.
    """
    if received <= 0:
        return None
    link = (next_link or "").strip()
    if link:
        parts = urlsplit(link)
        origin = urlsplit(base_url)
        same_origin = not parts.netloc or (parts.scheme, parts.netloc) == (origin.scheme, origin.netloc)
        same_path = parts.path.rstrip("/") == path.rstrip("/") if parts.path else True
        if same_origin and same_path:
            query = dict(parse_qsl(parts.query))
            next_offset = _int(query.get("offset"))
            limit = _int(query.get("limit"))
            if next_offset is not None and next_offset > offset:
                params = {"offset": str(next_offset)}
                if limit is not None and limit > 0:
                    params["limit"] = str(limit)
                return params
    following = offset + received
    if total_count is not None and following < total_count:
        return {"offset": str(following)}
    return None
