"""The analysis report: counts, shares and the chart's geometry.

Built from the counts the analysis stored on the delivery, so the report
costs no query over the recipients whatever the target's size.
"""

from dataclasses import dataclass

from django.utils.translation import gettext as _

from delivery.models import Delivery, Exclusion
from delivery.selectors import TO_SEND

# One colour per row of the chart, chosen to stay apart for common forms of
# colour blindness; the table beside it carries the same numbers as text.
COLOURS = {
    TO_SEND: "#2e7d32",
    Exclusion.NO_ADDRESS: "#9e9e9e",
    Exclusion.INVALID_ADDRESS: "#795548",
    Exclusion.OPTED_OUT: "#c62828",
    Exclusion.CHANNEL_OPTED_OUT: "#ef6c00",
    Exclusion.DENYLISTED: "#6a1b9a",
    Exclusion.QUARANTINED: "#1565c0",
    Exclusion.DUPLICATE: "#00838f",
}

BAR_HEIGHT = 22
BAR_GAP = 8
LABEL_WIDTH = 230
BAR_WIDTH = 420
VALUE_WIDTH = 150


@dataclass(frozen=True)
class ReportRow:
    key: str
    label: str
    count: int
    share: float  # percent of the target
    colour: str
    # Chart geometry, in SVG user units.
    y: int
    width: float

    @property
    def text_y(self) -> int:
        return self.y + BAR_HEIGHT - 6


@dataclass(frozen=True)
class Report:
    target: int
    to_send: int
    excluded: int
    rows: list[ReportRow]
    segments: list[dict]  # the stacked bar: x, width, colour, label

    @property
    def chart_height(self) -> int:
        return (len(self.rows) + 1) * (BAR_HEIGHT + BAR_GAP) + BAR_GAP

    label_width = LABEL_WIDTH
    bar_width = BAR_WIDTH
    chart_width = LABEL_WIDTH + BAR_WIDTH + VALUE_WIDTH
    bar_height = BAR_HEIGHT


def _share(count: int, target: int) -> float:
    return round(100 * count / target, 1) if target else 0.0


def build_report(delivery: Delivery) -> Report | None:
    """The report of the delivery's last analysis, or None before one."""
    if delivery.target_count is None:
        return None
    target = delivery.target_count
    counts = [(TO_SEND, _("To send"), delivery.to_send_count or 0)] + [
        (key, label, int(delivery.excluded_counts.get(key, 0)))
        for key, label in Exclusion.choices
    ]

    rows = []
    # The first line of the chart is the stacked bar; rows come below it.
    for index, (key, label, count) in enumerate(counts, start=1):
        rows.append(
            ReportRow(
                key=key,
                label=str(label),
                count=count,
                share=_share(count, target),
                colour=COLOURS[key],
                y=BAR_GAP + index * (BAR_HEIGHT + BAR_GAP),
                width=round(BAR_WIDTH * count / target, 2) if target else 0,
            )
        )

    segments, x = [], float(LABEL_WIDTH)
    for row in rows:
        if row.count:
            segments.append(
                {"x": round(x, 2), "width": row.width, "colour": row.colour, "row": row}
            )
            x += row.width

    return Report(
        target=target,
        to_send=delivery.to_send_count or 0,
        excluded=target - (delivery.to_send_count or 0),
        rows=rows,
        segments=segments,
    )
