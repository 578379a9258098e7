"""Small SVG charts drawn on the server (no chart library to ship): the planned-vs-actual S-curve."""

from __future__ import annotations

import datetime as dt


def s_curve_svg(report: dict, width: int = 960, height: int = 280, pad: int = 48) -> dict | None:
    """Polyline points of a progress report's S-curve, in SVG pixels (x: date, y: percent, 0 at the bottom).

    The planned line is the report's ``planned_curve`` (weekly over the whole schedule); the actual
    line is its ``s_curve`` (one point per day a capture changed something, and the report's date);
    ``forecast`` (dashed on the page) continues the actual line to 100 % at the report's forecast
    finish, empty when there is no forecast."""
    planned, actual = report.get("planned_curve") or [], report.get("s_curve") or []
    finish = (report.get("forecast") or {}).get("finish")
    ahead = []
    if finish and actual and finish > actual[-1]["date"]:
        ahead = [{"date": actual[-1]["date"], "actual_pct": actual[-1]["actual_pct"]},
                 {"date": finish, "actual_pct": 100.0}]
    days = [dt.date.fromisoformat(p["date"]) for p in [*planned, *actual, *ahead]]
    if len(days) < 2:
        return None
    first, last = min(days), max(days)
    span = max((last - first).days, 1)

    def x(iso: str) -> float:
        return round(pad + (width - 2 * pad) * (dt.date.fromisoformat(iso) - first).days / span, 1)

    def y(pct: float) -> float:
        return round(height - pad - (height - 2 * pad) * pct / 100.0, 1)

    ticks = [first + dt.timedelta(days=round(i * span / 4)) for i in range(5)]
    return {
        "width": width,
        "height": height,
        "pad": pad,
        "planned": " ".join(f"{x(p['date'])},{y(p['planned_pct'])}" for p in planned),
        "actual": " ".join(f"{x(p['date'])},{y(p['actual_pct'])}" for p in actual),
        "forecast": " ".join(f"{x(p['date'])},{y(p['actual_pct'])}" for p in ahead),
        "forecast_finish": finish,
        "forecast_reason": (report.get("forecast") or {}).get("reason"),
        "today": x(actual[-1]["date"]) if actual else None,
        "x_ticks": [{"x": x(t.isoformat()), "label": t.strftime("%d %b %y")} for t in ticks],
        "y_ticks": [{"y": y(v), "label": f"{v}%"} for v in (0, 25, 50, 75, 100)],
    }
