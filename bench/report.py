"""Bench results: one row per measure, each beside its baseline."""

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass
class Measure:
    """One figure, the baseline taken in the same run, and the target.

    `ratio` is how the figure compares with its baseline in the direction
    the target is stated in (e.g. "at most 1.5 times the bare SQL").
    """

    name: str
    value: float | None
    unit: str
    baseline_name: str = ""
    baseline: float | None = None
    ratio: float | None = None
    target: str = ""
    ok: bool | None = None
    note: str = ""


@dataclass
class Report:
    n: int
    machine: dict = field(default_factory=dict)
    seeding: dict = field(default_factory=dict)
    measures: list[Measure] = field(default_factory=list)
    details: dict = field(default_factory=dict)

    def add(self, measure: Measure) -> Measure:
        self.measures.append(measure)
        return measure

    def as_dict(self) -> dict:
        return {
            "n": self.n,
            "machine": self.machine,
            "seeding": self.seeding,
            "measures": [asdict(measure) for measure in self.measures],
            "details": self.details,
        }

    def write_json(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.as_dict(), indent=2, default=str) + "\n")

    def table(self) -> str:
        machine = self.machine
        lines = [
            f"Bench at N={self.n:,} profiles",
            f"Machine: {machine.get('cpu')}, {machine.get('cores')} cores, "
            f"{machine.get('memory_gib')} GiB; PostgreSQL "
            f"{machine.get('postgresql')}; Python {machine.get('python')}; "
            f"Django {machine.get('django')}; psycopg {machine.get('psycopg')}",
        ]
        if self.seeding:
            lines.append(
                "Seeded in "
                f"{self.seeding.get('seconds')} s: "
                + ", ".join(
                    f"{key.replace('_', ' ')} {value:,}"
                    for key, value in self.seeding.items()
                    if key != "seconds" and isinstance(value, int)
                )
            )
        header = ("measure", "result", "baseline", "ratio", "target", "ok")
        rows = [header]
        for measure in self.measures:
            rows.append(
                (
                    measure.name,
                    _figure(measure.value, measure.unit),
                    f"{_figure(measure.baseline, measure.unit)} {measure.baseline_name}"
                    if measure.baseline is not None
                    else measure.baseline_name or "-",
                    "-" if measure.ratio is None else f"{measure.ratio:.3g}",
                    measure.target or "-",
                    {True: "yes", False: "NO", None: "-"}[measure.ok],
                )
            )
        widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
        for index, row in enumerate(rows):
            lines.append(
                "  ".join(
                    cell.ljust(width) for cell, width in zip(row, widths, strict=True)
                ).rstrip()
            )
            if index == 0:
                lines.append("  ".join("-" * width for width in widths))
        notes = [f"- {m.name}: {m.note}" for m in self.measures if m.note]
        if notes:
            lines.append("Notes:")
            lines.extend(notes)
        return "\n".join(lines)


def _figure(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if abs(value) >= 1000:
        text = f"{value:,.0f}"
    elif abs(value) >= 100:
        text = f"{value:.0f}"
    elif abs(value) >= 10:
        text = f"{value:.1f}"
    else:
        text = f"{value:.2f}"
    return f"{text} {unit}".strip()
