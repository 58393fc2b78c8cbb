"""Figure 8: call-log paging through 10,000 records from the sandbox.

A sandbox seeded with 12,000 finished calls over the last 89 days; the console's client
(KnowlarityClient.iter_call_log, the path the call-log screen pages through as you scroll)
walks the whole window following the `next` cursor. Printed: time to the first page, time per
page (median, p95), records per second, at the screen's page size and at the API's maximum
(200); and a correctness check: every record once, none skipped, none repeated.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from bench.report import Figure, Table, median, p95
from console.api import CallLogQuery, KnowlarityClient
from sandbox.server import SandboxServer

NAME = "calllog"
TITLE = "8. Call-log paging (10,000+ records from the sandbox)"
RECORDS = 12_000


def _screen_page_size() -> int:
    try:
        from console.screens.calllog import PAGE_SIZE

        return int(PAGE_SIZE)
    except (ImportError, AttributeError, ValueError):
        return 50


async def _walk(client: KnowlarityClient, limit: int) -> tuple[float, list[float], int, int]:
    now = datetime.now(UTC)
    query = CallLogQuery(start_time__gt=now - timedelta(days=89, hours=23), start_time__lt=now, limit=limit)
    pages: list[float] = []
    seen: set[str] = set()
    records = 0
    last = time.perf_counter()
    async for page in client.iter_call_log(query, max_pages=RECORDS // limit + 10):
        t = time.perf_counter()
        pages.append((t - last) * 1000)
        last = t
        records += len(page.objects)
        seen.update(r.uuid or "" for r in page.objects)
    return pages[0] if pages else float("nan"), pages, records, len(seen)


async def run(ctx) -> Figure:
    fig = Figure(NAME, TITLE)
    walks = 1 if ctx.quick else 3
    screen = _screen_page_size()
    table = Table(["page size", "walks", "records", "distinct", "pages", "first page ms", "per page median ms",
                   "per page p95 ms", "records/s"])
    ctx.progress(f"seeding a sandbox with {RECORDS} calls")
    firsts: list[float] = []
    complete = True
    async with SandboxServer(history=RECORDS) as sb:
        total_in_log = len(sb.account.calllog)
        async with KnowlarityClient(base_url=sb.base_url, sr_api_key="sandbox-sr-key", api_key="sandbox-api-key") as client:
            await client.search_call_log(CallLogQuery(limit=1))  # connection warm-up
            for limit in sorted({screen, 200}):
                ctx.progress(f"page size {limit}, {walks} walk(s)")
                first_pages, per_page, counts, distinct = [], [], [], []
                elapsed = 0.0
                for _ in range(walks):
                    t0 = time.perf_counter()
                    first, pages, records, unique = await _walk(client, limit)
                    elapsed += time.perf_counter() - t0
                    first_pages.append(first)
                    per_page += pages[1:]
                    counts.append(records)
                    distinct.append(unique)
                table.add(str(limit), str(walks), str(counts[-1]), str(distinct[-1]), str(len(per_page) // walks + 1),
                          median(first_pages), median(per_page), p95(per_page), sum(counts) / elapsed)
                firsts += first_pages
                if any(c != d or c != total_in_log for c, d in zip(counts, distinct, strict=True)):
                    complete = False
                    fig.note(f"page size {limit}: {counts} records, {distinct} distinct, {total_in_log} in the log")
    fig.tables.append(table)
    fig.check(f"every one of the {total_in_log} records once, none skipped or repeated",
              "yes" if complete else "no (see notes)", complete)
    fig.check("time to first page (no target in the issue; a screen wants < 100 ms)",
              f"median {median(firsts):.1f} ms", None)
    return fig
