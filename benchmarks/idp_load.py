"""Load test of the web IdP's JSON API under concurrent clients, over loopback only.

Run with ``python benchmarks/idp_load.py [--seconds 60] [--clients 4] [--workers 2]``. It starts
``fedharness idp serve --port 0 --workers N`` (gunicorn) on 127.0.0.1 with the quickstart
scenario, warms it up, then keeps ``--clients`` concurrent clients posting
``POST /api/saml-response`` (a freshly signed response each time) for ``--seconds`` or until
``--max-requests``, whichever comes first. It reports responses/s, p50/p99 latency, errors, and
the server's resident memory (master + workers) at start and end, and whether the targets hold:
>= 500 responses/s, p99 <= 25 ms, 0 errors, memory flat. Exit status 1 when one does not.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
QUICKSTART = ROOT / "scenarios" / "examples" / "quickstart.yaml"
HOST = "127.0.0.1"
TARGET_RPS = 500.0
TARGET_P99_MS = 25.0
MEMORY_GROWTH_LIMIT = 0.10
"""Memory counts as flat when the end is within 10 % (and 8 MiB) of the start."""
MEMORY_SLACK_BYTES = 8 * 1024 * 1024


@dataclass
class Tally:
    """Latencies of successful responses, and failures by kind."""

    latencies: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)

    def fail(self, kind: str) -> None:
        """Count one failure of ``kind``."""
        self.errors[kind] = self.errors.get(kind, 0) + 1


def request_bytes(port: int, user: str) -> bytes:
    """Return one HTTP/1.1 request for a signed response for ``user``."""
    body = json.dumps({"user": user, "sp": "aws"}).encode()
    head = (
        f"POST /api/saml-response HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode() + body


async def one_request(port: int, payload: bytes, tally: Tally) -> None:
    """Send one request on a new connection and time it to the last byte."""
    started = time.perf_counter()
    try:
        reader, writer = await asyncio.open_connection(HOST, port)
        writer.write(payload)
        answer = await reader.read()
        writer.close()
    except OSError as exc:
        tally.fail(type(exc).__name__)
        return
    elapsed = time.perf_counter() - started
    status = answer[9:12]
    if status != b"200" or b'"saml_response"' not in answer:
        tally.fail(f"HTTP {status.decode(errors='replace') or 'no answer'}")
        return
    tally.latencies.append(elapsed)


async def client(
    port: int, payloads: list[bytes], deadline: float, budget: list[int], tally: Tally
) -> None:
    """Send requests back to back until the deadline or the shared budget runs out."""
    index = 0
    while time.perf_counter() < deadline and budget[0] > 0:
        budget[0] -= 1
        await one_request(port, payloads[index % len(payloads)], tally)
        index += 1


async def sample_memory(pid: int, deadline: float, every: float, samples: list[int]) -> None:
    """Record the server's resident memory every ``every`` seconds until the deadline."""
    while time.perf_counter() < deadline:
        await asyncio.sleep(min(every, max(0.0, deadline - time.perf_counter())))
        samples.append(rss_bytes(pid))


async def load(
    port: int,
    clients: int,
    seconds: float,
    max_requests: int,
    users: list[str],
    pid: int = 0,
    samples: list[int] | None = None,
) -> tuple[Tally, float]:
    """Run ``clients`` concurrent clients; return the tally and the wall time."""
    payloads = [request_bytes(port, user) for user in users]
    tally = Tally()
    budget = [max_requests]
    started = time.perf_counter()
    tasks = [
        client(port, payloads[i:] + payloads[:i], started + seconds, budget, tally)
        for i in range(clients)
    ]
    if samples is not None:
        tasks.append(sample_memory(pid, started + seconds, seconds / 6, samples))
    await asyncio.gather(*tasks)
    return tally, time.perf_counter() - started


def rss_bytes(pid: int) -> int:
    """Return the resident memory of ``pid`` and its children (gunicorn master + workers)."""
    total = 0
    pids = [pid]
    while pids:
        current = pids.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) * 1024
        pids.extend(int(child) for child in children)
    return total


def start_server(config: Path, workers: int) -> tuple[subprocess.Popen[str], int]:
    """Start ``fedharness idp serve`` on a free loopback port; return it and the port."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "scenarios.cli_idp_serve",
            "--config",
            str(config),
            "--host",
            HOST,
            "--port",
            "0",
            "--workers",
            str(workers),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    first = process.stdout.readline()
    if " listening on " not in first:
        process.kill()
        raise SystemExit(f"the IdP did not start: {first.strip() or 'no output'}")
    port = int(first.split(" on ", 1)[1].split()[0].rsplit(":", 1)[1])
    return process, port


def percentile(values: list[float], fraction: float) -> float:
    """Return the ``fraction`` quantile of ``values`` (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def main() -> int:
    """Run the load test and print the figures and the verdicts."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the run (60)")
    parser.add_argument("--clients", type=int, default=4, help="concurrent clients (4)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (2)")
    parser.add_argument(
        "--max-requests", type=int, default=200_000, help="stop after this many requests (200000)"
    )
    parser.add_argument("--config", type=Path, default=QUICKSTART, help="IdP or scenario file")
    args = parser.parse_args()
    if not 0 < args.seconds <= 600 or not 0 < args.clients <= 64:
        parser.error("--seconds must be in (0, 600] and --clients in (0, 64]")
    process, port = start_server(args.config, args.workers)
    try:
        users = ["alice", "bob", "carol"] if args.config == QUICKSTART else ["alice"]
        asyncio.run(load(port, args.clients, 2.0, 2_000, users))  # warm-up: imports, key cache
        samples = [rss_bytes(process.pid)]
        tally, wall = asyncio.run(
            load(port, args.clients, args.seconds, args.max_requests, users, process.pid, samples)
        )
        samples.append(rss_bytes(process.pid))
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
    return report(args, tally, wall, samples)


def report(args: argparse.Namespace, tally: Tally, wall: float, samples: list[int]) -> int:
    """Print the figures and whether each target holds; return the exit status."""
    memory_start, memory_end = samples[0], samples[-1]
    done = len(tally.latencies)
    errors = sum(tally.errors.values())
    rps = done / wall if wall else 0.0
    p50 = percentile(tally.latencies, 0.50) * 1000 if done else float("nan")
    p99 = percentile(tally.latencies, 0.99) * 1000 if done else float("nan")
    mean = statistics.fmean(tally.latencies) * 1000 if done else float("nan")
    growth = memory_end - memory_start
    flat = growth <= max(memory_start * MEMORY_GROWTH_LIMIT, MEMORY_SLACK_BYTES)
    mib = 1024 * 1024
    print(
        f"POST /api/saml-response, {args.clients} clients, {args.workers} gunicorn workers, "
        f"{wall:.1f} s on {HOST} ({os.cpu_count()} CPUs, clients on the same machine)"
    )
    print(f"  responses      {done} ({rps:.0f}/s)")
    print(
        f"  latency        p50 {p50:.2f} ms   p99 {p99:.2f} ms   mean {mean:.2f} ms   "
        f"max {max(tally.latencies, default=0) * 1000:.2f} ms"
    )
    print(f"  errors         {errors}" + (f" {tally.errors}" if errors else ""))
    print(
        f"  resident mem   start {memory_start / mib:.1f} MiB, end {memory_end / mib:.1f} MiB "
        f"({growth / mib:+.1f} MiB); during: "
        + ", ".join(f"{sample / mib:.1f}" for sample in samples[1:-1])
    )
    verdicts = [
        (f"responses/s >= {TARGET_RPS:.0f}", rps >= TARGET_RPS),
        (f"p99 <= {TARGET_P99_MS:.0f} ms", p99 <= TARGET_P99_MS),
        ("0 errors", errors == 0),
        ("memory flat", flat),
    ]
    for name, holds in verdicts:
        print(f"  target {name:<18} {'holds' if holds else 'MISSED'}")
    return 0 if all(holds for _, holds in verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
