"""Progress and statuses at a past date: the statuses as believed then (from the status history and
the frames taken by then), through the service, the CLI and every dashboard page with ``?date=``."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from sqlalchemy import select

from tests.conftest import BACKENDS, dispose, fresh_database, make_app
from twin import taxonomy
from twin.generate import generate_building
from webapp.models import (
    Capture,
    Element,
    ElementStatus,
    ElementStatusChange,
    Frame,
    Observation,
    Project,
    Storey,
)

TODAY = dt.date.today()
FIRST = TODAY - dt.timedelta(days=20)  # first walk: the "early" elements seen installed, the rest of storey absent
SECOND = TODAY - dt.timedelta(days=5)  # second walk: the "late" elements installed, the "unseen" first seen
BETWEEN = TODAY - dt.timedelta(days=10)
BEFORE = TODAY - dt.timedelta(days=25)
PASSWORD = "correct horse battery"


def _at(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(10, 0), tzinfo=dt.UTC)


@pytest.fixture(scope="module", params=BACKENDS)
def site(request, tmp_path_factory):
    """Project 'p': a generated storey whose tracked elements are split in three: ``early`` seen
    installed on FIRST, ``late`` seen absent on FIRST and installed on SECOND, ``unseen`` seen
    (absent) only on SECOND. Statuses and their history written as fusion writes them."""
    folder = tmp_path_factory.mktemp("asof")
    with fresh_database(request, request.param, folder) as url:
        app = make_app(url, folder / "data")
        runner = app.test_cli_runner()
        path = folder / "b.ifc"
        generate_building(path, storeys=1, bays=(2, 2), seed=4, start=TODAY - dt.timedelta(days=40))
        for args in (["ingest", str(path), "--project", "p"], ["schedule", "import", str(path), "--project", "p"],
                     ["user", "create", "--email", "v@x.org", "--password", PASSWORD, "--project", "p",
                      "--role", "viewer"]):
            result = runner.invoke(args=args)
            assert result.exit_code == 0, result.output
        from webapp.extensions import db

        with app.app_context():
            session = db.session
            project = session.scalar(select(Project).where(Project.name == "p"))
            rows = session.execute(select(Element.global_id, Element.tracked_class).where(
                Element.tracked_class.is_not(None), Element.physical, Element.triangles > 0)
                .order_by(Element.global_id)).all()
            tracked = [(g, c) for g, c in rows if c in taxonomy.BY_NAME]
            third = len(tracked) // 3
            groups = {"early": tracked[:third], "late": tracked[third:2 * third], "unseen": tracked[2 * third:]}
            frames = {}
            for day in (FIRST, SECOND):
                capture = Capture(project_id=project.id, key=f"walk-{day}", started_at=_at(day), state="processed")
                session.add(capture)
                session.flush()
                frame = Frame(capture_id=capture.id, index=0, file="x.jpg", sha256=f"{day}", taken_at=_at(day),
                              width=2, height=1, pose_prior=[0, 0, 1.6, 0])
                session.add(frame)
                session.flush()
                frames[day] = (capture.id, frame.id)

            def observe(day, gid, kind, stage):
                session.add(Observation(project_id=project.id, frame_id=frames[day][1], global_id=gid, kind=kind,
                                        stage=stage, confidence=0.9))

            def change(day, gid, stage, previous, review=False):
                session.add(ElementStatusChange(project_id=project.id, global_id=gid, stage=stage,
                                                previous_stage=previous, probability=0.9, needs_review=review,
                                                capture_id=frames[day][0], changed_at=_at(day)))

            for k, (gid, cls) in enumerate(groups["early"]):
                final = taxonomy.BY_NAME[cls].final_stage
                observe(FIRST, gid, "installed", final)
                change(FIRST, gid, final, 0)
                if k == 0:  # seen absent again on SECOND: flagged for review since
                    observe(SECOND, gid, "absent", 0)
                    change(SECOND, gid, final, final, review=True)
                session.add(ElementStatus(project_id=project.id, global_id=gid, stage=final, probability=0.9,
                                          first_seen=_at(FIRST), last_seen=_at(SECOND if k == 0 else FIRST),
                                          needs_review=k == 0))
            for gid, cls in groups["late"]:
                final = taxonomy.BY_NAME[cls].final_stage
                observe(FIRST, gid, "absent", 0)
                observe(SECOND, gid, "installed", final)
                change(SECOND, gid, final, 0)
                session.add(ElementStatus(project_id=project.id, global_id=gid, stage=final, probability=0.9,
                                          first_seen=_at(FIRST), last_seen=_at(SECOND)))
            for gid, _ in groups["unseen"]:
                observe(SECOND, gid, "absent", 0)
                session.add(ElementStatus(project_id=project.id, global_id=gid, stage=0, probability=0.9,
                                          first_seen=_at(SECOND), last_seen=_at(SECOND)))
            session.commit()
            storey, project_id = session.scalar(select(Storey.id)), project.id
        app.config["AS_OF_TEST"] = {"project": project_id, "storey": storey,
                                    **{k: [g for g, _ in v] for k, v in groups.items()}}
        yield app
        dispose(app)


def _client(app):
    client = app.test_client()
    page = client.get("/auth/login").get_data(as_text=True)
    token = re.search(r'<meta name="csrf-token" content="([^"]+)"', page).group(1)
    response = client.post("/auth/login", data={"email": "v@x.org", "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302
    return client


def _progress(app, date: dt.date | None) -> dict:
    args = ["progress", "--project", "p", "--json"] + (["--date", date.isoformat()] if date else [])
    result = app.test_cli_runner().invoke(args=args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # exactly one JSON object on stdout


def test_statuses_at_a_past_date_are_those_believed_then(site):
    from webapp.extensions import db
    from webapp.services.as_of import statuses_on

    facts = site.config["AS_OF_TEST"]
    with site.app_context():
        between = statuses_on(db.session, facts["project"], BETWEEN)
        now = statuses_on(db.session, facts["project"], None)
        before = statuses_on(db.session, facts["project"], BEFORE)
    early, late, unseen = facts["early"][1], facts["late"][0], facts["unseen"][0]
    assert between[early][0] > 0 and between[early][2]  # installed on FIRST
    flagged = facts["early"][0]
    assert between[flagged][1] is False and now[flagged][1] is True  # flagged on SECOND only
    assert between[late] == (0, False, True)  # seen absent on FIRST, installed only later
    assert unseen not in between  # first seen after BETWEEN: not observed then
    assert now[late][0] > 0 and now[unseen][2]
    assert before == {}


def test_progress_at_a_past_date_uses_the_statuses_of_that_date(site):
    now, then, before = _progress(site, None), _progress(site, BETWEEN), _progress(site, BEFORE)
    assert then["as_of"] == BETWEEN.isoformat() and now["as_of"] is None
    assert 0 < then["overall"]["actual_pct"] < now["overall"]["actual_pct"]
    # before any walk nothing had been seen: the plan's estimate, and nothing seen installed
    assert before["overall"]["actual_pct"] == before["overall"]["planned_pct"]
    assert before["overall"]["seen_installed_pct"] == 0.0 < then["overall"]["seen_installed_pct"]
    # the curve of that date stops there, at the figure of that date; today's passes through FIRST's
    assert then["s_curve"][-1] == {"date": BETWEEN.isoformat(), "planned_pct": then["overall"]["planned_pct"],
                                   "actual_pct": then["overall"]["actual_pct"]}
    first = next(p for p in now["s_curve"] if p["date"] == FIRST.isoformat())
    assert first["actual_pct"] == _progress(site, FIRST)["overall"]["actual_pct"]


def test_a_future_cli_date_uses_the_current_statuses(site):
    assert _progress(site, TODAY + dt.timedelta(days=3))["as_of"] is None


def test_status_json_at_a_past_date_tells_seen_absent_from_not_observed(site):
    facts = site.config["AS_OF_TEST"]
    client = _client(site)
    url = f"/projects/{facts['project']}/storeys/{facts['storey']}/status.json"
    then = client.get(f"{url}?date={BETWEEN.isoformat()}").get_json()
    now = client.get(url).get_json()
    assert then["as_of"] == BETWEEN.isoformat() and now["as_of"] is None
    early, late, unseen = facts["early"][1], facts["late"][0], facts["unseen"][0]
    assert then["elements"][early] == "installed" and now["elements"][late] == "installed"
    assert then["elements"][facts["early"][0]] == "installed" and now["elements"][facts["early"][0]] == "review"
    assert then["elements"][late] in ("not_started", "late")  # seen absent then, not installed
    assert then["elements"][unseen] in ("unobserved", "late")
    assert now["elements"][unseen] != "unobserved"


@pytest.mark.parametrize("page", ["", "/schedule", "/tasks/{task}", "/storeys/{storey}/plan", "/storeys/{storey}/3d"])
def test_every_page_with_a_past_date_says_so_and_keeps_the_date_in_its_links(site, page):
    facts = site.config["AS_OF_TEST"]
    client = _client(site)
    task = _progress(site, None)["tasks"][0]["id"]
    url = f"/projects/{facts['project']}{page.format(storey=facts['storey'], task=task)}"
    html = client.get(f"{url}?date={BETWEEN.isoformat()}").get_data(as_text=True)
    assert "As believed on" in html and f'value="{BETWEEN.isoformat()}"' in html
    assert f"date={BETWEEN.isoformat()}" in html  # links (and the status URL) carry the date
    today = client.get(url).get_data(as_text=True)
    assert "As believed on" not in today and f"date={BETWEEN.isoformat()}" not in today


def test_the_overview_at_a_past_date_shows_that_dates_figures(site):
    facts = site.config["AS_OF_TEST"]
    client = _client(site)
    then, now = _progress(site, BETWEEN), _progress(site, None)
    assert then["overall"]["actual_pct"] != now["overall"]["actual_pct"]
    for report, query in ((then, f"?date={BETWEEN.isoformat()}"), (now, "")):
        html = client.get(f"/projects/{facts['project']}{query}").get_data(as_text=True)
        kpi = re.search(r'id="kpi-actual"><span class="kpi-value">([\d.]+)%', html).group(1)
        assert float(kpi) == report["overall"]["actual_pct"]
        to_review = re.search(r'<span class="kpi-value">(\d+)</span><span>to review', html).group(1)
        assert to_review == ("1" if report is now else "0")  # flagged on SECOND, after BETWEEN


@pytest.mark.parametrize("bad", ["2026-13-01", "yesterday", "2026-1-1", (TODAY + dt.timedelta(days=1)).isoformat()])
def test_a_bad_or_future_date_is_a_400_not_a_500(site, bad):
    facts = site.config["AS_OF_TEST"]
    client = _client(site)
    for page in ("", "/schedule", f"/storeys/{facts['storey']}/plan", f"/storeys/{facts['storey']}/status.json"):
        response = client.get(f"/projects/{facts['project']}{page}", query_string={"date": bad})
        assert response.status_code == 400, (page, bad)


def _report(finish: str | None, reason: str | None) -> dict:
    return {"planned_curve": [{"date": "2026-09-01", "planned_pct": 0.0}, {"date": "2027-03-01", "planned_pct": 100.0}],
            "s_curve": [{"date": "2026-10-01", "planned_pct": 20.0, "actual_pct": 10.0},
                        {"date": "2026-10-15", "planned_pct": 30.0, "actual_pct": 30.0}],
            "forecast": {"finish": finish, "reason": reason}}


def test_the_s_curve_continues_the_actual_line_to_100_percent_at_the_forecast_finish():
    from webapp.dashboard.charts import s_curve_svg

    chart = s_curve_svg(_report("2027-06-01", None))
    start, end = (tuple(map(float, p.split(","))) for p in chart["forecast"].split())
    assert start == tuple(map(float, chart["actual"].split()[-1].split(",")))  # from the last actual point
    assert end[1] == chart["pad"]  # 100 % at the top of the plot
    assert end[0] == chart["width"] - chart["pad"]  # the finish, after the plan's end, is the right edge
    none = s_curve_svg(_report(None, "not enough production yet to forecast"))
    assert none["forecast"] == "" and none["forecast_reason"] == "not enough production yet to forecast"


def test_the_schedule_and_overview_show_the_s_curve_with_the_forecast_or_why_there_is_none(site):
    facts = site.config["AS_OF_TEST"]
    client = _client(site)
    now, then = _progress(site, None), _progress(site, BETWEEN)
    # today: a third of the elements installed between the two walks, 15 days apart: a rate to forecast from
    assert now["forecast"]["finish"] > TODAY.isoformat() and now["forecast"]["reason"] is None
    # on BETWEEN only the first walk had been made: no rate yet
    assert then["forecast"]["finish"] is None and then["forecast"]["reason"]
    for page in ("", "/schedule"):
        html = client.get(f"/projects/{facts['project']}{page}").get_data(as_text=True)
        assert 'class="forecast"' in html and now["forecast"]["finish"] in html
        html = client.get(f"/projects/{facts['project']}{page}?date={BETWEEN}").get_data(as_text=True)
        assert 'class="scurve"' in html and 'class="forecast"' not in html and then["forecast"]["reason"] in html
