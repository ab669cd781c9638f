"""Request log benchmark: list pages, filters, deep pages and the CSV export at a million rows.

Builds a throwaway instance (migrated SQLite database in a temporary folder; with DATABASE_URL
a PostgreSQL server's admin URL, a fresh database there, dropped after), bulk-inserts
1,000,000 log rows over 90 days with their contacts and messages, then times the log pages
and the CSV export through the Flask test client, each group in a fresh process so the memory
figures start clean. Prints one JSON line per measurement; touches no network at all.

    .venv/bin/python bench/logs_bench.py [ROWS]
"""

import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flask_migrate import upgrade  # noqa: E402

from bench.databases import BenchDatabase, on_postgresql  # noqa: E402
from webapp import create_app, stats  # noqa: E402
from webapp.extensions import db  # noqa: E402
from webapp.models import User  # noqa: E402

ROWS = 1_000_000
DAYS = 90
CONTACTS = 2_000
REPEATS = 20
PASSWORD = "bench password"
MODELS = [  # the seven starting models, with how often each is asked
    ("openai/gpt-4o-mini", 50),
    ("openai/gpt-4o", 12),
    ("anthropic/claude-sonnet-4-6", 12),
    ("google/gemini-3.5-flash", 10),
    ("mistralai/mistral-small-latest", 6),
    ("perplexity/sonar", 5),
    ("meta-llama/llama-3.3-70b-instruct", 5),
]
# (kind, http status, share of failed messages, attempts before giving up)
FAILURES = [
    ("rate_limited", 429, 30, 3),
    ("upstream_unavailable", 503, 20, 3),
    ("timeout", None, 15, 3),
    ("model_not_found", 404, 5, 1),
    ("bad_request", 400, 6, 1),
    ("moderation", 403, 3, 1),
    ("no_credits", 402, 3, 1),
    ("invalid_key", 401, 2, 1),
    ("bad_response", 200, 4, 1),
    ("network", None, 2, 3),
    ("whatsapp_rate_limited", 429, 4, 3),
    ("whatsapp_window", 400, 3, 1),
    ("whatsapp_rejected", 400, 2, 1),
    ("whatsapp_auth", 401, 1, 1),
]
PRODUCTS = ["the red jacket", "size 42 boots", "the blue mug", "gift cards", "the oak table"]
QUESTIONS = [
    "Do you have {p} in stock?",
    "How much is {p}?",
    "Where is my order #{n}?",
    "Can I return {p}? I want a refund",
    "What time do you open on Saturday?",
    "Is delivery free for {p}?",
]
SYSTEM = "You are the assistant of a small shop. " * 8
LOG_INSERT = """INSERT INTO request_log (created_at, channel, upstream, contact_id, message_id,
 attempt, model_requested, model_used, provider, status, http_status, error_kind, error_message,
 latency_ms, prompt_tokens, completion_tokens, cost, generation_id, request_body, response_body)
 VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"""
MESSAGE_INSERT = """INSERT INTO messages (id, contact_id, direction, author, wa_message_id, type,
 text, state, reply_to_id, part, created_at, updated_at)
 VALUES (?,?,?,?,?,'text',?,?,?,0,?,?)"""


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")  # how SQLAlchemy stores a DateTime in SQLite


def events(rng: random.Random, start: datetime, count: int):
    """Messages in time order: (time, channel, contact, text, [attempt rows])."""
    gap = DAYS * 86400 / count
    moment, models = start, [m for m, _ in MODELS]
    weights = [w for _, w in MODELS]
    for n in range(count):
        moment += timedelta(seconds=rng.expovariate(1 / gap))
        channel = rng.choices(["whatsapp", "flow", "playground"], [80, 12, 8])[0]
        model = rng.choices(models, weights)[0]
        text = rng.choice(QUESTIONS).format(p=rng.choice(PRODUCTS), n=100000 + n)
        attempts = []
        if rng.random() < 0.055:
            kind, status, _, tries = rng.choices(FAILURES, [f[2] for f in FAILURES])[0]
            if kind.startswith("whatsapp") and channel != "whatsapp":
                kind, status, tries = "rate_limited", 429, 3
            tries = rng.randint(1, tries)
            attempts += [(model, "error", kind, status)] * tries
            if kind in ("model_not_found", "rate_limited", "upstream_unavailable"):
                attempts.append((rng.choice(models), "ok", None, 200))
        else:
            attempts.append((model, "ok", None, 200))
        # Some customers write much more than others: low ids are the regulars.
        contact = int(CONTACTS * rng.random() ** 2) + 1 if channel == "whatsapp" else None
        yield moment, channel, contact, text, attempts


def log_row(rng, moment, channel, contact, message_id, number, attempt) -> tuple:
    model, status, kind, http = attempt
    whatsapp = bool(kind and kind.startswith("whatsapp"))
    request = json.dumps({"model": model, "messages": [{"role": "system", "content": SYSTEM}]})
    ok = status == "ok"
    prompt, completion = rng.randint(80, 1500), rng.randint(10, 400)
    response = json.dumps({"id": f"gen-{rng.getrandbits(64):x}", "model": model,
                           "choices": [{"message": {"content": "Yes, we do. " * 6}}]})  # fmt: skip
    return (
        stamp(moment), channel, "whatsapp" if whatsapp else "openrouter", contact, message_id,
        number, None if whatsapp else model, model if ok else None, "Provider" if ok else None,
        status, http, kind, None if ok else f"{kind}: the upstream said no",
        rng.randint(300, 9000), prompt if ok else None, completion if ok else None,
        (prompt * 0.15 + completion * 0.6) / 1e6 if ok else None,
        f"gen-{rng.getrandbits(48):x}" if ok else None,
        None if whatsapp else request, response if ok else '{"error": {"code": 429}}',
    )  # fmt: skip


def populate(instance: Path, database: BenchDatabase, rows: int) -> dict:
    """Fill the instance's database: contacts, messages and about `rows` log rows."""
    rng = random.Random(42)
    app = create_app({"INSTANCE_PATH": instance})
    started = time.monotonic()
    with app.app_context():
        upgrade()
        owner = User(username="bench")
        owner.set_password(PASSWORD)
        db.session.add(owner)
        db.session.commit()
        connection = db.engine.raw_connection()
    sql = connection.cursor()
    # The DB-API drivers mark their parameters differently.
    mark = (lambda statement: statement.replace("?", "%s")) if on_postgresql() else str
    if not on_postgresql():
        sql.execute("PRAGMA synchronous=OFF")
    joined = stamp(datetime.now(UTC) - timedelta(days=DAYS + 30))
    names = ["Ana", "Ben", "Chloé", "Dev", "Emeka", "Fatima", "Goran", "Hana", "Ivan", "Jo"]
    sql.executemany(
        mark(
            "INSERT INTO contacts (id, customer_id, phone, profile_name, paused, created_at) "
            "VALUES (?,?,?,?,FALSE,?)"
        ),
        [
            (n, f"3161{n:07d}", f"3161{n:07d}", f"{names[n % 10]} {n}" if n % 20 else None, joined)
            for n in range(1, CONTACTS + 1)
        ],
    )
    start = datetime.now(UTC).replace(tzinfo=None) - timedelta(days=DAYS)
    log, messages, written, message_id = [], [], 0, 0
    for moment, channel, contact, text, attempts in events(rng, start, int(rows / 1.075)):
        linked = None
        if contact:
            message_id += 2
            linked = message_id - 1
            state = "answered" if attempts[-1][1] == "ok" else "failed"
            messages.append((linked, contact, "in", "customer", f"wamid.B{linked}", text, state,
                             None, stamp(moment), stamp(moment)))  # fmt: skip
            reply = "Yes, we have it in red and blue." if state == "answered" else "Sorry!"
            messages.append((message_id, contact, "out", "bot", f"wamid.R{message_id}", reply,
                             "read", linked, stamp(moment), stamp(moment)))  # fmt: skip
        for number, attempt in enumerate(attempts, start=1):
            at = moment + timedelta(milliseconds=900 * number)
            log.append(log_row(rng, at, channel, contact, linked, number, attempt))
        if len(log) >= 20_000:
            sql.executemany(mark(MESSAGE_INSERT), messages)
            sql.executemany(mark(LOG_INSERT), log)
            connection.commit()
            written += len(log)
            log, messages = [], []
    sql.executemany(mark(MESSAGE_INSERT), messages)
    sql.executemany(mark(LOG_INSERT), log)
    connection.commit()
    errors = sql.execute("SELECT count(*) FROM request_log WHERE status = 'error'").fetchone()[0]
    total = sql.execute("SELECT count(*) FROM request_log").fetchone()[0]
    connection.close()
    return {
        "run": "populate",
        "rows": total,
        "error_share": round(errors / total, 3),
        "messages": message_id,
        "contacts": CONTACTS,
        "seconds": round(time.monotonic() - started, 1),
        "db_mb": round(database.size_bytes() / 2**20),
    }


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def report(name: str, times: list[float], **extra) -> None:
    line = {"run": name, "requests": len(times), "median_ms": round(statistics.median(times), 1),
            "p95_ms": round(percentile(times, 0.95), 1), **extra}  # fmt: skip
    print(json.dumps(line), flush=True)


def signed_in(instance: Path):
    app = create_app({"INSTANCE_PATH": instance, "WTF_CSRF_ENABLED": False})
    client = app.test_client()
    response = client.post("/login", data={"username": "bench", "password": PASSWORD})
    assert response.status_code == 302, "the bench admin could not sign in"
    return client


def timed_get(client, url: str) -> tuple[float, object]:
    before = time.perf_counter()
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return (time.perf_counter() - before) * 1000, response


def older_link(response) -> str:
    page = response.get_data(as_text=True)
    href = page.split('" rel="next"')[0].rsplit('href="', 1)[1]
    return href.replace("&amp;", "&")


def measure_pages(instance: Path) -> None:
    client = signed_in(instance)
    with client.application.app_context():
        low, high = db.session.execute(db.text("SELECT min(id), max(id) FROM request_log")).one()
        day = str(db.session.scalar(db.text("SELECT max(created_at) FROM request_log")))[:10]
    queries = [
        "",  # the first page
        "status=error&kind=rate_limited",
        "channel=flow",
        "model=perplexity/sonar",
        "kind=whatsapp_auth",  # a rare kind
        "contact=31610000777",  # one customer
        "contact=Ana",  # a name shared by 190 customers
        f"since={day}&until={day}",
        "q=refund",
        "q=zanzibar",  # in no message: the bounded scan, all of it
    ]
    for query in queries:
        name, url = f"page ?{query}" if query else "first page", f"/admin/logs?{query}"
        _, response = timed_get(client, url)  # warm-up, not counted
        times = [timed_get(client, url)[0] for _ in range(REPEATS)]
        report(name, times, rows_shown=response.get_data().count(b'<a href="/admin/logs/'))
    # Deep in the history: start 90% of the way back and follow the Older links.
    url, times = f"/admin/logs?before={low + (high - low) // 10}", []
    for _ in range(REPEATS + 1):
        elapsed, response = timed_get(client, url)
        times.append(elapsed)
        url = older_link(response)
    report("deep page (following the Older cursor, ~9 days after the oldest row)", times[1:])


def measure_dashboard(instance: Path) -> None:
    client = signed_in(instance)
    with client.application.app_context():
        times = []
        for _ in range(3):
            before = time.perf_counter()
            stats.refresh()
            times.append((time.perf_counter() - before) * 1000)
    report("dashboard figures computed (by the worker, once a minute)", times)
    timed_get(client, "/admin/")  # warm-up, not counted
    report("dashboard page", [timed_get(client, "/admin/")[0] for _ in range(REPEATS)])


def measure_csv(instance: Path) -> None:
    client = signed_in(instance)
    with client.application.app_context():
        end = str(db.session.scalar(db.text("SELECT max(created_at) FROM request_log")))[:10]
    until = datetime.strptime(end, "%Y-%m-%d")
    url = f"/admin/logs.csv?since={(until - timedelta(days=8)):%Y-%m-%d}&until={end}"
    timed_get(client, "/admin/logs")  # load templates and warm the connection first
    times, lines, first = [], 0, None
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    for _ in range(REPEATS):
        before = time.perf_counter()
        response = client.get(url, buffered=False)
        lines = sum(chunk.count(b"\n") for chunk in response.response)  # read, never kept
        response.close()
        times.append((time.perf_counter() - before) * 1000)
        first = first or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # A second opinion: the most Python memory one export holds at once (slower while traced).
    tracemalloc.start()
    response = client.get(url, buffered=False)
    for _chunk in response.response:
        pass
    response.close()
    traced = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    memory = {
        "peak_rss_growth_mb_first_export": round((first - baseline) / 1024, 1),
        "peak_rss_growth_mb_all_exports": round((peak - baseline) / 1024, 1),
        "peak_rss_mb": round(peak / 1024),
        "tracemalloc_peak_mb": round(traced / 2**20, 1),
    }
    report(f"csv export ({url})", times, rows=lines - 1, **memory)


def main() -> None:
    measures = {"pages": measure_pages, "dashboard": measure_dashboard, "csv": measure_csv}
    if len(sys.argv) == 3 and sys.argv[1] in measures:
        measures[sys.argv[1]](Path(sys.argv[2]))
        return
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else ROWS
    with tempfile.TemporaryDirectory() as folder:
        instance = Path(folder) / "instance"
        database = BenchDatabase(str(instance))
        os.environ.update(database.env)  # this process and the measuring ones use it
        try:
            print(json.dumps(populate(instance, database, rows)), flush=True)
            # Each group in a fresh process, so memory figures start from a clean heap.
            for group in ("pages", "dashboard", "csv"):
                subprocess.run([sys.executable, __file__, group, str(instance)], check=True)
        finally:
            database.drop()


if __name__ == "__main__":
    main()
