"""Media benchmark: what a voice note adds beyond its two upstream calls, and the memory 100
photos of 5 MB at once take.

Runs the real server as `make run` runs it (`flask serve`: waitress, and the worker as a
process of its own) on a throwaway instance, with loopback fakes of OpenRouter and the Graph
API that keep connections open, and only ever talks to 127.0.0.1. Each figure is reported
beside a baseline from the same run: text messages on the same server.

- Voice notes: customers, one after another, each send a 30-second voice note (90 kB, Opus
  at 24 kbit/s); the fake Graph serves it, transcription takes 300 ms and the model 300 ms.
  Overhead = from the webhook's 200 to the reply reaching the fake Graph, less those 600 ms.
  Text messages alternate with them (model only). Target: voice overhead p95 <= 200 ms.
- Photos: 100 customers each send a photo just under WhatsApp's 5 MB in the same second, the
  default model (which the catalog says sees images) answering after 1 s; the peak resident
  memory of the web and worker processes, beside 100 text messages at once, with the worker's
  default threads and with WORKER_THREADS=16.

    .venv/bin/python bench/media_bench.py            (or: make bench)
"""

import argparse
import bisect
import json
import random
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.delivery_bench import (  # noqa: E402
    ACCESS_TOKEN,
    SECRET,
    Server,
    cpu_seconds,
    exactly_once,
    in_other_process,
    percentile,
    post_all,
    rss_mb,
    run_selected,
    wait_for_replies,
)
from tests.support.fake_graph import MESSAGES_PATH, FakeGraph  # noqa: E402
from tests.support.fakes import CHAT_PATH, FakeOpenRouter  # noqa: E402
from tests.support.payloads import delivery, text_delivery  # noqa: E402
from webapp.clients.whatsapp_webhook import sign  # noqa: E402
from webapp.media_store import STORED_NAME  # noqa: E402

TRANSCRIPTION_S, MODEL_S = 0.3, 0.3  # the fake's fixed delays for a voice note's two calls
VOICE_BYTES = 90_000  # 30 s of Opus at 24 kbit/s
VOICE_MIME = "audio/ogg; codecs=opus"
PHOTO_BYTES = 5 * 2**20 - 1024  # just under WhatsApp's limit for a photo
BURST_MODEL_S = 1.0
FakeOpenRouter.keep_alive = FakeGraph.keep_alive = True


def media_delivery(wa_id: str, kind: str, media_id: str, mime: str) -> bytes:
    """A webhook carrying one file message, as WhatsApp sends it: the file's ID, not its bytes."""
    part = {"id": media_id, "mime_type": mime, **({"voice": True} if kind == "audio" else {})}
    message = {"from": wa_id, "id": f"wamid.{media_id}", "timestamp": str(int(time.time())),
               "type": kind, kind: part}  # fmt: skip
    return json.dumps(delivery(message)).encode()


def file_bytes(n: int, start: bytes, size: int) -> bytes:
    """`size` bytes that begin like the file type and differ for each `n` (each is kept apart)."""
    return start + random.Random(n).randbytes(size - len(start))


def reply_at(graph: FakeGraph, wa_id: str) -> float | None:
    """When the reply to `wa_id` reached the fake Graph (time.monotonic), if it has."""
    sends = [(r, status) for r, status in list(graph.answered) if r.method == "POST"]
    for request, status in sends:
        if (
            MESSAGES_PATH.fullmatch(request.path)
            and status < 300
            and request.json().get("to") == wa_id
        ):
            return request.at
    return None


def answer_ms(server: Server, graph: FakeGraph, session, wa_id: str, body: bytes) -> float:
    """Milliseconds from the webhook's 200 to the reply reaching the fake Graph."""
    headers = {"Content-Type": "application/json", "X-Hub-Signature-256": sign(SECRET, body)}
    response = session.post(
        server.url + "/webhook/whatsapp", data=body, headers=headers, timeout=30
    )
    acked = time.monotonic()
    assert response.status_code == 200, response.text
    deadline = acked + 30
    while (sent := reply_at(graph, wa_id)) is None:
        assert time.monotonic() < deadline, f"no reply to {wa_id}"
        time.sleep(0.005)
    return (sent - acked) * 1000


def run_voice_notes(notes: int) -> dict:
    """Voice notes and text messages, alternating, each from a new customer, one at a time."""
    with FakeOpenRouter() as openrouter, FakeGraph() as graph, tempfile.TemporaryDirectory() as d:
        openrouter.echo(delay=MODEL_S)
        openrouter.transcribes("Do you have the blue sofa?", seconds=30, delay=TRANSCRIPTION_S)
        graph.token = ACCESS_TOKEN
        server = Server(ROOT, sys.executable, d, openrouter, graph)
        session, voice, text = requests.Session(), [], []
        try:
            for n in range(-1, notes):  # the first of each warms connections up, not counted
                media_id = f"VOICE{n + 1}"
                graph.host_media(media_id, file_bytes(n, b"OggS", VOICE_BYTES), VOICE_MIME)
                wa_id = f"3163{n + 1:07d}"
                body = media_delivery(wa_id, "audio", media_id, VOICE_MIME)
                heard = answer_ms(server, graph, session, wa_id, body)
                # A pause between customers: each message finds the worker idle.
                time.sleep(random.Random(n).uniform(0.1, 0.3))
                wa_id = f"3164{n + 1:07d}"
                read = answer_ms(server, graph, session, wa_id, text_delivery(wa_id, "Hello?"))
                time.sleep(random.Random(-n).uniform(0.1, 0.3))
                if n >= 0:
                    voice.append(heard - (TRANSCRIPTION_S + MODEL_S) * 1000)
                    text.append(read - MODEL_S * 1000)
        finally:
            server.stop()
    return {
        "run": f"voice-notes-{VOICE_BYTES // 1000}kB-one-at-a-time",
        "notes": len(voice),
        "transcription_ms": TRANSCRIPTION_S * 1000,
        "model_ms": MODEL_S * 1000,
        "voice_overhead_ms_p50": percentile(voice, 0.5),
        "voice_overhead_ms_p95": percentile(voice, 0.95),
        "text_overhead_ms_p50": percentile(text, 0.5),
        "text_overhead_ms_p95": percentile(text, 0.95),
        "target": "voice overhead p95 <= 200 ms",
    }


def most_at_once(openrouter: FakeOpenRouter, seconds: float) -> int:
    """The most chat requests the fake held at once, each answered `seconds` after it came."""
    came = sorted(r.at for r in openrouter.requests if r.path == CHAT_PATH)
    return max((bisect.bisect_left(came, at + seconds) - i for i, at in enumerate(came)), default=0)


def run_burst(kind: str, customers: int, threads: int | None) -> dict:
    """`customers` photos (or text messages) in the same second; the peak resident memory."""
    bodies = []
    with FakeOpenRouter() as openrouter, FakeGraph() as graph, tempfile.TemporaryDirectory() as d:
        openrouter.echo(delay=BURST_MODEL_S)
        graph.token = ACCESS_TOKEN
        for n in range(customers):
            wa_id = f"3165{n:07d}"
            if kind == "photo":
                graph.host_media(f"PHOTO{n}", file_bytes(n, b"\xff\xd8\xff\xe0", PHOTO_BYTES),
                                 "image/jpeg")  # fmt: skip
                bodies.append(media_delivery(wa_id, "image", f"PHOTO{n}", "image/jpeg"))
            else:
                bodies.append(text_delivery(wa_id, f"question {n}", f"wamid.TEXT{n}"))
        env = {"WORKER_THREADS": str(threads)} if threads else {}
        server = Server(ROOT, sys.executable, d, openrouter, graph, env)
        try:
            server.flask("models", "check")  # the catalog, from the fake: which models see images
            web, worker = server.process.pid, server.worker_pid()
            idle = rss_mb(web), rss_mb(worker)
            cpu = cpu_seconds(worker), time.process_time()
            started = time.monotonic()
            in_other_process(post_all, server.url, bodies, customers)  # all within one second
            answered_in = wait_for_replies(graph, customers, 120, server.database)
            answered_in = answered_in and round(time.monotonic() - started, 2)
            assert server.worker_pid() == worker, "the worker was restarted: its peak is lost"
            peak = rss_mb(web, "VmHWM"), rss_mb(worker, "VmHWM")
            cpu = cpu_seconds(worker) - cpu[0], time.process_time() - cpu[1]
            counted = exactly_once(graph, customers, server.database)
        finally:
            server.stop()
        files = [p for p in (Path(d) / "media").glob("*") if STORED_NAME.fullmatch(p.name)]
    return {
        "run": f"{customers}-{kind}s-at-once-{threads or 'default'}-worker-threads",
        "all_ended_in_s": answered_in,
        **counted,
        "photos_seen_by_model": len(openrouter.images_sent_to),
        "model_calls_at_once_max": most_at_once(openrouter, BURST_MODEL_S),
        "media_files": len(files),
        "rss_web_idle_mb": round(idle[0]),
        "rss_web_peak_mb": round(peak[0]),
        "rss_worker_idle_mb": round(idle[1]),
        "rss_worker_peak_mb": round(peak[1]),
        "worker_cpu_s": round(cpu[0], 1),
        "fakes_cpu_s": round(cpu[1], 1),  # this process: the fakes serving and reading
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notes", type=int, default=20, help="voice notes (and texts) measured")
    parser.add_argument("--only", help="run only the runs whose name contains this")
    args = parser.parse_args()
    runs = [("voice", lambda: run_voice_notes(args.notes))]
    for threads in (None, 16):
        for kind in ("text", "photo"):
            name = f"{kind}-burst-{threads or 'default'}"
            runs.append((name, lambda kind=kind, threads=threads: run_burst(kind, 100, threads)))
    run_selected(runs, args.only)


if __name__ == "__main__":
    main()
