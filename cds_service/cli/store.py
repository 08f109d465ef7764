"""``trd-cds report`` and ``trd-cds purge``: what clinicians did with the cards, and data retention.

The report has one row per service, ISO week (of the hook call) and card topic: cards shown, cards
accepted and overridden (a card counts once however often feedback repeats), and the rates over cards
shown. Under each topic row, one row per override reason code gives the share of shown cards
overridden with that reason (``(none)`` when the client sent no reason).
"""
from __future__ import annotations

import argparse
import csv
import io
import json
from collections import Counter
from datetime import date, datetime, time, timedelta, timezone

from sqlalchemy import Engine, case, func, select
from sqlalchemy.exc import SQLAlchemyError

from cds_service.store.sql import MEMORY_URL, SQLStore, cards, feedback, hook_calls, make_engine, migrate

COLUMNS = ("service", "week", "topic", "reason", "shown", "accepted", "overridden",
           "acceptance_rate", "override_rate")
NO_REASON = "(none)"


def feedback_report(engine: Engine, since: date | None = None) -> list[dict]:
    """Report rows (keys ``COLUMNS``) for cards shown on or after ``since`` (UTC); reason rows have
    ``accepted`` and ``acceptance_rate`` set to None, topic rows have ``reason`` None."""
    outcomes = select(
        feedback.c.card_uuid,
        func.max(case((feedback.c.outcome == "accepted", 1), else_=0)).label("accepted"),
        func.max(case((feedback.c.outcome == "overridden", 1), else_=0)).label("overridden"),
    ).group_by(feedback.c.card_uuid).subquery()
    shown = (select(hook_calls.c.service_id, hook_calls.c.called_at, cards.c.topic,
                    outcomes.c.accepted, outcomes.c.overridden)
             .join_from(cards, hook_calls)
             .outerjoin(outcomes, outcomes.c.card_uuid == cards.c.uuid))
    reasons = (select(hook_calls.c.service_id, hook_calls.c.called_at, cards.c.topic, feedback.c.reason_code)
               .join_from(cards, hook_calls).join(feedback, feedback.c.card_uuid == cards.c.uuid)
               .where(feedback.c.outcome == "overridden").distinct())
    if since:
        start = datetime.combine(since, time(), timezone.utc)
        shown, reasons = shown.where(hook_calls.c.called_at >= start), reasons.where(hook_calls.c.called_at >= start)
    totals: dict[tuple, Counter] = {}
    by_reason: Counter = Counter()
    with engine.connect() as connection:
        for service, called_at, topic, accepted, overridden in connection.execute(shown):
            totals.setdefault((service, _iso_week(called_at), topic), Counter()).update(
                shown=1, accepted=accepted or 0, overridden=overridden or 0)
        for service, called_at, topic, code in connection.execute(reasons):
            by_reason[(service, _iso_week(called_at), topic, code or NO_REASON)] += 1
    rows = [_row(key, None, counts["shown"], counts["accepted"], counts["overridden"])
            for key, counts in totals.items()]
    rows += [_row(key[:3], key[3], totals[key[:3]]["shown"], None, count) for key, count in by_reason.items()]
    return sorted(rows, key=lambda row: (row["service"], row["week"], row["topic"], row["reason"] or ""))


def _iso_week(moment: datetime) -> str:
    year, week, _ = moment.isocalendar()
    return f"{year}-W{week:02d}"


def _row(key: tuple, reason: str | None, shown: int, accepted: int | None, overridden: int) -> dict:
    service, week, topic = key
    return {"service": service, "week": week, "topic": topic, "reason": reason, "shown": shown,
            "accepted": accepted, "overridden": overridden,
            "acceptance_rate": None if accepted is None else round(accepted / shown, 4),
            "override_rate": round(overridden / shown, 4)}


def format_report(rows: list[dict], form: str) -> str:
    if form == "json":
        return json.dumps(rows, indent=2)
    if form == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return out.getvalue().rstrip("\n")
    cells = [list(COLUMNS)] + [[_cell(name, row[name]) for name in COLUMNS] for row in rows]
    widths = [max(len(line[index]) for line in cells) for index in range(len(COLUMNS))]
    return "\n".join("  ".join(value.ljust(width) for value, width in zip(line, widths)).rstrip()
                     for line in cells)


def _cell(name: str, value) -> str:
    if value is None:
        return ""
    return f"{value:.1%}" if name.endswith("_rate") else str(value)


def _engine(url: str | None) -> Engine:
    if url is None:
        from cds_service import load_settings
        url = load_settings().database_url
    if url == MEMORY_URL:
        raise SystemExit("trd-cds: the memory:// store keeps nothing between runs; give --database-url")
    try:
        engine = make_engine(url)
        migrate(engine)
    except SQLAlchemyError as error:  # a folder that does not exist, a server that is down, a bad URL
        cause = getattr(error, "orig", None) or error
        raise SystemExit(f"trd-cds: cannot open the store: {type(cause).__name__}: {cause}") from None
    return engine


def report_command(args: argparse.Namespace) -> int:
    engine = _engine(args.database_url)
    try:
        print(format_report(feedback_report(engine, args.since), args.format))
    finally:
        engine.dispose()
    return 0


def purge_command(args: argparse.Namespace) -> int:
    store = SQLStore(_engine(args.database_url))
    try:
        counts = store.purge(timedelta(days=args.older_than))
    finally:
        store.close()
    for table, count in counts.items():
        print(f"{table}: {count} rows deleted")
    return 0
