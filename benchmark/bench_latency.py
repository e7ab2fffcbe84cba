"""Latency of the request form's submission and of /request through the Procfile's web process, against a
bare Bolt app under the same gunicorn line, measured in one run and printed side by side as ratios.

    .venv/bin/python benchmark/bench_latency.py            # 10,000 stored requests, about 3 minutes
    .venv/bin/python benchmark/bench_latency.py --quick    # fewer samples and shorter rate steps

Both servers run the Procfile's `web:` line (gunicorn, bot/gunicorn_conf.py, WEB_CONCURRENCY=2 workers,
4 threads); the baseline only swaps the app spec for benchmark/bare_bolt.py (signature checked, /request
opens a modal, the submission is acknowledged). Ours runs on a SQLite file holding 10,000 requests (titles
from a small deterministic generator below, each with its stored vector, as the bot keeps them) against
the fake Slack Web API (bot/fake_slack.py, SLACK_API_URL). Every payload is signed as Slack signs it
(bot/payloads.py). The submitted form is the real request form (handlers/views/request_modal_builder.py)
of a draft stored beforehand, as `/request` leaves one.

Figures (ours, bare, ratio):
- submit p50 @1: one form submission at a time, round trip of the HTTP answer (the ack);
- submit p99 @20: 20 submitting at once; "past 3 s" counts answers slower than Slack waits;
- step p99 @20: from sending the submission to the requester seeing the next step (the "Same thing?"
  step or the logged confirmation), whether it came in the answer or by views.update after it;
- sustained/s: open-loop arrivals at a fixed rate, stepped up; the highest rate at which the answers'
  p99 stayed <= 1 s (latency counted from the scheduled send time);
- steps kept up/s: of those rates, the highest up to which the step p99 also stayed <= 3 s;
- /request p99 @20: the slash command's answer, 20 at once;
- PSS MB: proportional set size of the gunicorn master and workers (/proc/<pid>/smaps_rollup), after the load;
- start s: from starting the web line to the first 200 from /healthz (the bare app: first answer).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlmodel import Session  # noqa: E402

from bot import payloads  # noqa: E402
from bot.fake_slack import TEAM_ID, FakeSlack  # noqa: E402
from storage.db import make_engine, migrate  # noqa: E402

SECRET = "bench-signing-secret"
DEADLINE = 3.0  # Slack's
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "partnerbot"

# -- a deterministic generator of realistic request titles --------------------------------------------
ACTIONS = [
    "Export {obj} to {fmt}",
    "Bulk edit {obj}",
    "Filter {obj} by {field}",
    "Sort {obj} by {field}",
    "Schedule {obj} to be emailed {when}",
    "Share {obj} with {who}",
    "Archive old {obj}",
    "Restore deleted {obj}",
    "Duplicate {obj} with their settings",
    "Show {field} on {obj}",
    "Sync {obj} with {tool}",
    "Import {obj} from {tool}",
    "Get notified in {channel} when {obj} change",
    "Set permissions on {obj} per {who}",
    "Add custom fields to {obj}",
    "Search {obj} by {field}",
    "Tag {obj} and group them by tag",
    "See an audit log of changes to {obj}",
    "Approve {obj} before they go live",
    "Lock {obj} so {who} can't edit them",
]
OBJECTS = [
    "reports", "dashboards", "invoices", "contacts", "deals", "tickets", "projects", "tasks",
    "documents", "forms", "surveys", "campaigns", "orders", "products", "accounts", "users",
    "teams", "workflows", "templates", "charts", "notes", "comments", "files", "calendars",
    "budgets", "timesheets", "expenses", "leads", "quotes", "contracts",
]  # fmt: skip
FORMATS = ["CSV", "Excel", "PDF", "Google Sheets", "JSON", "PowerPoint"]
FIELDS = ["date", "owner", "status", "region", "customer", "amount", "priority", "team", "due date"]
WHEN = ["weekly", "every morning", "monthly", "at quarter end", "on Fridays"]
WHO = ["guests", "the finance team", "external partners", "managers", "read-only users", "contractors"]
TOOLS = ["Salesforce", "HubSpot", "Jira", "Zendesk", "NetSuite", "Google Drive", "Outlook", "SAP"]
CHANNELS = ["Slack", "Teams", "email", "SMS"]
SUFFIXES = [
    "", "", "", " for the EMEA region", " on mobile", " via the API", " for admins only",
    " in the weekly digest", " for enterprise plans", " without leaving the page",
]  # fmt: skip


def title(rng: random.Random) -> str:
    pattern = rng.choice(ACTIONS)
    return pattern.format(
        obj=rng.choice(OBJECTS),
        fmt=rng.choice(FORMATS),
        field=rng.choice(FIELDS),
        when=rng.choice(WHEN),
        who=rng.choice(WHO),
        tool=rng.choice(TOOLS),
        channel=rng.choice(CHANNELS),
    ) + rng.choice(SUFFIXES)


# Ways a requester re-words a stored request (the bench submits a mix of these and fresh titles).
REWORDS = [
    lambda t: t.lower(),
    lambda t: f"customer asks: {t.lower()}",
    lambda t: f"{t} please",
    lambda t: f"can we {t[0].lower()}{t[1:]}?",
]


# -- data ----------------------------------------------------------------------------------------------
def build_store(path: Path, stored: int, drafts: int, users: int) -> None:
    """A SQLite file with `stored` requests (one occurrence each, vectors stored), `users` people and
    `drafts` unsubmitted drafts (what /request leaves before its form is submitted)."""
    from matching import encoder
    from matching.normalize import normalize
    from storage import people
    from storage import requests as store
    from storage.models import Draft

    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    rng = random.Random(7)
    titles = [title(rng) for _ in range(stored)]
    vectors = None
    if not encoder.missing_reason():
        print(f"  encoding {stored:,} titles once (cached in {CACHE}) ...", file=sys.stderr, flush=True)
        vectors = encoder.load_encoder().encode([normalize(t) or t for t in titles], batch_size=64)
    with Session(engine) as s:
        ws = people.ensure_workspace(session=s, team_id=TEAM_ID)
        area = people.ensure_area(session=s, workspace_id=ws.id, name="General")
        persons = [
            people.ensure_person(session=s, workspace=ws, slack_user_id=f"U{i:07d}", name=f"rep{i}", tz="UTC")
            for i in range(users)
        ]
        s.flush()
        for i, text in enumerate(titles):
            request = store.create_request(session=s, workspace_id=ws.id, area_id=area.id, title=text)
            if vectors is not None:
                request.embedding = vectors[i].tobytes()
                request.embedding_model = encoder.VECTOR_TAG
            store.record_occurrence(
                session=s, request=request, logged_by_id=persons[i % users].id, text=text, customer=""
            )
        for i in range(drafts):
            s.add(Draft(workspace_id=ws.id, person_id=persons[i % users].id, source="command", text=""))
        s.commit()
    engine.dispose()


def stored_db(stored: int, drafts: int, users: int) -> Path:
    from matching import encoder

    CACHE.mkdir(parents=True, exist_ok=True)
    # Named after the vectors' tag: a store of vectors prepared another way would be re-encoded at start.
    path = CACHE / f"bench-latency-{stored}-{drafts}-{users}-{encoder.VECTOR_TAG}.db"
    if not path.exists():
        tmp = path.with_suffix(".tmp")
        tmp.unlink(missing_ok=True)
        build_store(tmp, stored, drafts, users)
        tmp.rename(path)
    return path


def form_views(db: Path, fake: FakeSlack, count: int) -> list[tuple[str, dict[str, Any]]]:
    """(user, the request form of one stored draft as Slack stores it, with its id and hash)."""
    from sqlmodel import select

    from handlers.views.request_modal_builder import request_modal
    from storage import people
    from storage.models import Draft, Person

    engine = make_engine(f"sqlite:///{db}")
    out = []
    with Session(engine) as s:
        areas = people.list_areas(session=s, workspace_id=1)
        users = {p.id: p.slack_user_id for p in s.exec(select(Person))}
        for draft in s.exec(
            select(Draft).where(Draft.occurrence_id.is_(None)).order_by(Draft.id).limit(count)
        ):
            view = request_modal(text="", draft_id=draft.id, areas=areas, default_area_id=areas[0].id)
            out.append((users[draft.person_id], fake.remember_view(view)))
    engine.dispose()
    return out


# -- servers -----------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def web_line(root: Path, app_spec: str | None = None) -> str:
    line = next(x for x in (root / "Procfile").read_text().splitlines() if x.startswith("web:"))
    line = line[len("web:") :].strip()
    if app_spec:
        line = line.replace('"bot.http:create_wsgi_app()"', f'"{app_spec}"')
    return line


class Server:
    def __init__(self, root: Path, line: str, env: dict[str, str], log: Path, ready_path: str) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        bin_dir = str(Path(sys.executable).parent)
        full_env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "DATABASE_URL"))}
        full_env.update(env)
        full_env.update({"PORT": str(self.port), "WEB_CONCURRENCY": "2", "PYTHONUNBUFFERED": "1"})
        full_env["PATH"] = bin_dir + os.pathsep + full_env.get("PATH", "")
        self.log = open(log, "ab")  # noqa: SIM115 (closed in stop)
        started = time.monotonic()
        self.proc = subprocess.Popen(
            ["bash", "-c", f"exec {line}"], cwd=root, env=full_env, stdout=self.log, stderr=subprocess.STDOUT
        )
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited:\n{log.read_text()[-3000:]}")
            if time.monotonic() - started > 120:
                raise RuntimeError(f"server did not come up:\n{log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(self.base + ready_path, timeout=2) as r:
                    if r.status == 200:
                        break
            except urllib.error.HTTPError as e:
                if ready_path != "/healthz" and e.code < 500:  # the bare app: any answer means up
                    break
            except OSError:
                pass
            time.sleep(0.02)
        self.start_s = time.monotonic() - started

    def pss_mb(self) -> float:
        pids = [self.proc.pid] + children(self.proc.pid)
        total = 0
        for pid in pids:
            try:
                for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
            except OSError:
                pass
        return total / 1024

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            kids = (task / "children").read_text().split()
        except OSError:
            continue
        for kid in kids:
            found += [int(kid), *children(int(kid))]
    return found


# -- load ----------------------------------------------------------------------------------------------
def post(base: str, body: str) -> tuple[int, str]:
    request = urllib.request.Request(
        base + "/slack/events",
        data=body.encode(),
        method="POST",
        headers={"Content-Type": "application/x-www-form-urlencoded", **payloads.sign(SECRET, body)},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")


class Forms:
    """Hands out stored drafts' forms and submits them, recording when each was sent and answered."""

    def __init__(
        self, base: str, fake: FakeSlack, forms: list[tuple[str, dict[str, Any]]], seed: int
    ) -> None:
        self.base, self.fake = base, fake
        self.forms = list(forms)
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.sent: dict[str, float] = {}  # view id -> wall time sent (scheduled)
        self.answers: dict[str, tuple[float, int, dict[str, Any]]] = {}  # view id -> (seconds, status, json)

    def text(self) -> str:
        with self.lock:
            t = title(self.rng)
            return self.rng.choice(REWORDS)(t) if self.rng.random() < 0.7 else t

    def submit(self, scheduled: float | None = None) -> float:
        with self.lock:
            user, view = self.forms.pop()
        answers = {"request": self.text(), "customer": f"Customer {len(self.forms) % 97}"}
        body = payloads.view_submission(view, answers, user_id=user, team_id=TEAM_ID)
        start = time.time() if scheduled is None else scheduled
        self.sent[view["id"]] = start
        status, text = post(self.base, body)
        took = time.time() - start
        data = json.loads(text) if text.strip().startswith("{") else {}
        self.answers[view["id"]] = (took, status, data)
        return took

    def step_seconds(self, wait: float = 10.0) -> list[float | None]:
        """Per submission: seconds from sending to the next step shown (None: never shown)."""
        deadline = time.time() + wait
        while True:
            updates = {}
            for call in list(self.fake.calls):
                if call.method == "views.update" and call.response.get("ok"):
                    updates.setdefault(str(call.args.get("view_id")), call.at)
            out = []
            for view_id, (took, status, data) in self.answers.items():
                if status != 200:
                    out.append(None)
                elif not data or (data.get("response_action") == "update" and not is_checking(data["view"])):
                    out.append(took)  # the step came in the answer (or the form closed, logged)
                elif data.get("response_action") == "update":
                    at = updates.get(view_id)
                    out.append(None if at is None else at - self.sent[view_id])
                else:
                    out.append(None)
            if all(x is not None for x in out) or time.time() > deadline:
                return out
            time.sleep(0.1)

    def reset(self) -> None:
        self.sent.clear()
        self.answers.clear()


def is_checking(view: dict[str, Any]) -> bool:
    return "Checking for similar requests" in json.dumps(view)


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def closed_loop(fn: Callable[[], float], total: int, concurrency: int) -> list[float]:
    with ThreadPoolExecutor(concurrency) as pool:
        return list(pool.map(lambda _: fn(), range(total)))


def open_loop(fn: Callable[[float], float], rate: float, seconds: float) -> list[float]:
    """Send at a fixed rate whatever the answers do; each latency counts from its scheduled time."""
    count = int(rate * seconds)
    start = time.time() + 0.2
    futures = []
    with ThreadPoolExecutor(256) as pool:
        for i in range(count):
            at = start + i / rate
            delay = at - time.time()
            if delay > 0:
                time.sleep(delay)
            futures.append(pool.submit(fn, at))
        return [f.result() for f in futures]


def rates_before(rates: list[int], rate: int) -> int:
    i = rates.index(rate)
    return rates[i - 1] if i else 0


def command(base: str, fake: FakeSlack, user: str) -> float:
    body = payloads.slash_command(
        "/request", "Export the weekly report to CSV", user_id=user, team_id=TEAM_ID,
        response_url=fake.response_url(),
    )  # fmt: skip
    start = time.time()
    status, _ = post(base, body)
    took = time.time() - start
    return took if status == 200 else float("inf")


# -- the run -------------------------------------------------------------------------------------------
def measure(name: str, server: Server, fake: FakeSlack, forms: Forms, args: argparse.Namespace) -> dict:
    out: dict[str, Any] = {"start s": server.start_s}
    users = [f"U{i:07d}" for i in range(args.users)]
    # Warm-up: each worker's first payloads pay for imports and connections.
    closed_loop(lambda: forms.submit(), 20, 4)
    closed_loop(lambda: command(server.base, fake, random.choice(users)), 20, 4)
    forms.step_seconds()
    forms.reset()

    # One requester at a time: each submits once the previous one saw the next step.
    one = []
    for _ in range(args.serial):
        one.append(forms.submit())
        forms.step_seconds()
    out["submit p50 @1 ms"] = statistics.median(one) * 1000
    forms.reset()

    many = closed_loop(lambda: forms.submit(), args.burst, 20)
    steps = forms.step_seconds(wait=120.0)  # the work after the answers drains before the next figure
    out["submit p99 @20 ms"] = pct(many, 99) * 1000
    out["past 3 s"] = sum(1 for x in many if x > DEADLINE)
    out["step p99 @20 ms"] = pct([s if s is not None else float("inf") for s in steps], 99) * 1000
    out["steps missing"] = sum(1 for s in steps if s is None)
    forms.reset()

    cmds = closed_loop(lambda: command(server.base, fake, random.choice(users)), args.burst, 20)
    out["/request p99 @20 ms"] = pct(cmds, 99) * 1000

    best, kept_up, tried = 0, 0, []
    for rate in args.rates:
        if len(forms.forms) < rate * args.step_seconds:
            break
        took = open_loop(lambda at: forms.submit(at), rate, args.step_seconds)
        steps = forms.step_seconds(wait=30.0)  # also lets the work after the answers drain
        p99 = pct(took, 99)
        step99 = pct([s if s is not None else float("inf") for s in steps], 99)
        tried.append(f"{rate}/s: p99 {p99 * 1000:.0f} ms, step p99 {step99 * 1000:.0f} ms")
        forms.reset()
        if p99 > 1.0:
            break
        best = rate
        if step99 <= DEADLINE and kept_up == rates_before(args.rates, rate):
            kept_up = rate
        time.sleep(1.0)
    out["sustained /s"] = best
    out["steps kept up /s"] = kept_up
    out["rate steps"] = tried
    out["PSS MB"] = server.pss_mb()
    print(f"  {name}: " + "; ".join(tried), file=sys.stderr, flush=True)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer samples, short rate steps")
    parser.add_argument("--stored", type=int, default=10_000)
    parser.add_argument("--root", default=str(Path(__file__).resolve().parents[1]), help="checkout to serve")
    args = parser.parse_args()
    args.users = 200
    args.serial, args.burst = (60, 200) if args.quick else (200, 600)
    args.step_seconds = 3.0 if args.quick else 8.0
    args.rates = [25, 50, 75, 100, 125, 150, 200, 250, 300]
    need = 40 + args.serial + args.burst + int(sum(args.rates) * args.step_seconds) + 100
    root = Path(args.root).resolve()

    db_master = stored_db(args.stored, 12_000, args.users)
    workdir = Path(tempfile.mkdtemp(prefix="bench-latency-"))
    results = {}
    try:
        for name in ("partnerbot", "bare Bolt"):
            fake = FakeSlack().start()
            db = workdir / f"{name.replace(' ', '-')}.db"
            shutil.copy(db_master, db)
            env = {
                "SLACK_BOT_TOKEN": "xoxb-bench",
                "SLACK_SIGNING_SECRET": SECRET,
                "SLACK_API_URL": fake.api_url,
                "DATABASE_URL": f"sqlite:///{db}",
                "LOG_LEVEL": "WARNING",
            }
            forms = Forms("", fake, form_views(db, fake, min(need, 12_000)), seed=11)
            if name == "partnerbot":
                server = Server(root, web_line(root), env, workdir / "partnerbot.log", "/healthz")
            else:
                line = web_line(root, "benchmark.bare_bolt:create_wsgi_app()")
                server = Server(Path(__file__).resolve().parents[1], line, env, workdir / "bare.log", "/")
            forms.base = server.base
            print(f"  {name} up in {server.start_s:.1f} s; measuring ...", file=sys.stderr, flush=True)
            try:
                results[name] = measure(name, server, fake, forms, args)
            finally:
                server.stop()
                fake.stop()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    ours, bare = results["partnerbot"], results["bare Bolt"]
    print(f"{args.stored:,} stored requests, 2 workers x 4 threads, {'quick' if args.quick else 'full'} run")
    print(f"{'figure':<22}{'partnerbot':>12}{'bare Bolt':>12}{'ratio':>8}  target")
    rows = [
        ("submit p50 @1 ms", "<= 10x"),
        ("submit p99 @20 ms", "<= 1000 ms"),
        ("past 3 s", "0"),
        ("step p99 @20 ms", "<= 3000 ms"),
        ("steps missing", "0"),
        ("sustained /s", ">= 100/s"),
        ("steps kept up /s", "-"),
        ("/request p99 @20 ms", "<= 2x"),
        ("PSS MB", "<= 600 MB"),
        ("start s", "<= 8 s"),
    ]
    for key, target in rows:
        a, b = ours[key], bare[key]
        ratio = f"{a / b:.1f}x" if b else "-"
        digits = 2 if key == "start s" else 0
        print(f"{key:<22}{a:>12.{digits}f}{b:>12.{digits}f}{ratio:>8}  {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
