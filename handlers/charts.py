"""An area's chart as a PNG (matplotlib, imported only when a chart is drawn, so start-up stays fast),
uploaded to Slack at most once a day and shown with an image block in the PM's Home."""

from __future__ import annotations

import io
import logging
import textwrap
from datetime import datetime

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlmodel import Session

from storage import charts as store
from storage.models import ProductArea
from storage.money import format_money

log = logging.getLogger(__name__)

SIZE = (10.0, 4.2)  # inches, at DPI: 1000 x 420 pixels, readable in Slack's image preview
DPI = 100


def available() -> bool:
    """matplotlib is installed (it is a dependency, but the bot runs without charts if it is missing)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def render_png(figures: store.AreaFigures) -> bytes:
    """Left: occurrences per week over the quarter, stacked by the most heard requests. Right: the top
    requests by how many customers asked, with their money."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=SIZE, dpi=DPI)
    FigureCanvasAgg(figure)
    weekly, top = figure.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]})
    labels = [f"{w:%b %-d}" for w in figures.weeks]
    x = list(range(len(figures.weeks)))
    bottom = [0] * len(x)
    for label, counts in figures.series.items():
        weekly.bar(x, counts, bottom=bottom, label=textwrap.shorten(label, 40, placeholder="…"))
        bottom = [b + c for b, c in zip(bottom, counts, strict=True)]
    weekly.set_xticks(x[::2], labels[::2], rotation=45, ha="right", fontsize=8)
    weekly.set_title(f"{figures.area.name}: heard per week, last quarter", fontsize=10)
    weekly.set_ylabel("occurrences")
    weekly.yaxis.set_major_locator(MaxNLocator(integer=True))
    top.xaxis.set_major_locator(MaxNLocator(integer=True))
    if figures.series:
        weekly.legend(fontsize=7, loc="upper left")
    else:
        weekly.text(0.5, 0.5, "nothing logged this quarter", ha="center", transform=weekly.transAxes)
    names = [textwrap.shorten(f"#{r.id} {r.title}", 34, placeholder="…") for r, _ in figures.top][::-1]
    customers = [s.customer_count for _, s in figures.top][::-1]
    bars = top.barh(names, customers, color="#4a90d9")
    for bar, (_, stats) in zip(bars, figures.top[::-1], strict=True):
        money = " + ".join(format_money(c, cur) for cur, c in sorted(stats.money.items()))
        if money:
            top.text(
                bar.get_width(), bar.get_y() + bar.get_height() / 2, f" {money}", va="center", fontsize=7
            )
    top.set_title("Top requests: customers (and money)", fontsize=10)
    top.set_xlabel("customers")
    top.tick_params(axis="y", labelsize=7)
    figure.tight_layout()
    out = io.BytesIO()
    figure.savefig(out, format="png")
    return out.getvalue()


def area_chart(*, session: Session, client: WebClient, area: ProductArea, now: datetime) -> str | None:
    """The file id of today's chart of the area: drawn and uploaded the first time today, reused after.
    None when charts cannot be drawn here or Slack refused the upload."""
    today = now.date()
    existing = store.chart_for(session=session, area_id=area.id, day=today)
    if existing is not None:
        return existing.file_id or None
    if not available():
        return None
    figures = store.area_figures(session=session, area=area, now=now)
    png = render_png(figures)
    try:
        response = client.files_upload_v2(
            content=png,
            filename=f"partnerbot-area-{area.id}-{today:%Y%m%d}.png",
            title=f"{area.name}: requests this quarter",
        )
    except (SlackApiError, OSError) as e:
        log.warning("chart upload for area %s failed: %s", area.id, e)
        return None
    file = response.get("file") or (response.get("files") or [{}])[0]
    file_id = str(file.get("id") or "")
    if not file_id:
        return None
    if not store.record_chart(session=session, area=area, day=today, file_id=file_id):
        # Another process drew today's first: show that one (the extra upload is simply unused).
        chosen = store.chart_for(session=session, area_id=area.id, day=today)
        return chosen.file_id if chosen is not None else file_id
    return file_id
