"""Validation at the edges (issue #22, item 4): NUL and control characters in URLs, query strings,
form fields and JSON; JSON nested too deep; ids and page numbers out of range. Each is a clear
4xx (JSON under /api/), never a 500, and changes nothing, on SQLite and PostgreSQL."""

from __future__ import annotations

import html
import io
import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from tests.conftest import BACKENDS, dispose, fresh_database, make_app, table_dump
from twin.generate import generate_building
from webapp.guards import MAX_ID, json_depth
from webapp.models import Project, Storey

PASSWORD = "correct horse battery"


@pytest.fixture(scope="module", params=BACKENDS)
def site(request, tmp_path_factory):
    """Project 'p' (a generated one-storey building with its schedule), a manager and a camera token."""
    folder = tmp_path_factory.mktemp("edges")
    with fresh_database(request, request.param, folder) as url:
        app = make_app(url, folder / "data")
        runner = app.test_cli_runner()
        path = folder / "b.ifc"
        generate_building(path, storeys=1, bays=(1, 1), seed=1)
        for args in (["ingest", str(path), "--project", "p"],
                     ["schedule", "import", str(path), "--project", "p"],
                     ["user", "create", "--email", "manager@x.org", "--password", PASSWORD, "--project", "p",
                      "--role", "manager"]):
            result = runner.invoke(args=args)
            assert result.exit_code == 0, result.output
        token = json.loads(runner.invoke(args=["token", "create", "--project", "p", "--name", "cam",
                                               "--json"]).stdout)["token"]
        app.config["TOKEN"] = token
        yield app
        dispose(app)


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', html) or re.search(
        r'<meta name="csrf-token" content="([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def signed_in(app):
    client = app.test_client()
    page = client.get("/auth/login").get_data(as_text=True)
    response = client.post("/auth/login", data={"email": "manager@x.org", "password": PASSWORD,
                                                "csrf_token": csrf_of(page)})
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


def project_ids(app) -> tuple[int, int]:
    from webapp.extensions import db

    with app.app_context():
        p = db.session.scalar(select(Project.id).where(Project.name == "p"))
        storey = db.session.scalar(select(Storey.id).join(Storey.revision)
                                   .where(Storey.revision.has(project_id=p)))
        return p, storey


def dump(app):
    """Every row, but the tokens (a request with a token records when it was last used)."""
    from webapp.extensions import db

    with app.app_context():
        return {name: rows for name, rows in table_dump(db.session).items() if name != "api_tokens"}


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def api(app, method: str, path: str, **kwargs):
    client = app.test_client()
    return client.open(f"/api/v1{path}", method=method,
                       headers={"Authorization": f"Bearer {app.config['TOKEN']}"}, **kwargs)


def test_a_nul_in_the_login_email_is_a_400_and_signs_nobody_in(site):
    client = site.test_client()
    token = csrf_of(client.get("/auth/login").get_data(as_text=True))
    response = client.post("/auth/login", data={"email": "manager\x00@x.org", "password": PASSWORD,
                                                "csrf_token": token})
    assert response.status_code == 400 and "form field 'email'" in text(response)
    assert client.get("/projects").status_code == 302  # still signed out


def test_a_nul_or_control_character_in_a_url_path_or_query_is_a_400(site):
    p, _ = project_ids(site)
    manager = signed_in(site)
    for url in (f"/projects/{p}/elements/%00", f"/projects/{p}/elements/a%00b/review",
                f"/projects/{p}/tasks/x%0D%0ABcc:%20y", f"/projects/{p}/alerts?state=open%00",
                "/auth/login?next=%2F%0D%0ALocation:%20evil", f"/projects/{p}/captures?page%00=1"):
        response = manager.get(url)
        assert response.status_code == 400, (url, response.status_code)
        assert "control character" in response.get_data(as_text=True), url
    response = manager.post(f"/projects/{p}/elements/a%00b/review", data={"stage": "1"})
    assert response.status_code == 400
    # The API answers in JSON.
    response = api(site, "GET", "/captures/1%00")
    assert response.status_code in (400, 404) and "error" in response.get_json()


def test_a_control_character_in_a_form_field_is_a_400_and_changes_nothing(site):
    p, _ = project_ids(site)
    manager = signed_in(site)
    before = dump(site)
    token = csrf_of(manager.get(f"/projects/{p}/settings").get_data(as_text=True))
    for field, value in (("name", "Ann\x00"), ("email", "ann@x.org\x00"), ("trade", "struct\x1bure")):
        response = manager.post(f"/projects/{p}/settings/recipients",
                                data={"csrf_token": token, "name": "Ann", "email": "ann@x.org", field: value})
        assert response.status_code == 400, field
        assert f"form field {field!r}" in text(response)
    response = manager.post(f"/projects/{p}/settings/tokens", data={"csrf_token": token, "name": "cam\x00"})
    assert response.status_code == 400
    assert dump(site) == before
    # Line breaks in free text are text, not an attack on the form: the guard lets them through.
    ok = manager.post(f"/projects/{p}/settings/tokens", data={"csrf_token": token, "name": "tablet\r\nnorth",
                                                                   "role": "camera"})
    assert ok.status_code == 200


def test_json_with_a_nul_in_a_string_or_key_is_refused_and_stores_nothing(site):
    before = dump(site)
    manifest = {"format": "sitetwin-capture/1", "capture_id": "walk\x00", "device": "cam", "frames": []}
    response = api(site, "POST", "/captures", json=manifest)
    assert response.status_code == 400 and "$.capture_id" in response.get_json()["error"]
    response = api(site, "POST", "/captures", json={"format": "sitetwin-capture/1", "x\x00": 1})
    assert response.status_code == 400 and "key" in response.get_json()["error"]
    response = api(site, "POST", "/captures", json={"frames": [{"file": "a.jpg"}, {"file": "b\x07.jpg"}]})
    assert response.status_code == 400 and "$.frames[1].file" in response.get_json()["error"]
    assert dump(site) == before


def test_json_nested_a_thousand_deep_is_a_400_not_a_recursion_error(site):
    before = dump(site)
    deep = "[" * 1000 + "]" * 1000  # 2 KB
    response = api(site, "POST", "/captures", data=deep, content_type="application/json")
    assert response.status_code == 400
    assert "nested 1000 deep" in response.get_json()["error"]
    objects = '{"a":' * 1000 + "1" + "}" * 1000
    assert api(site, "POST", "/captures", data=objects, content_type="application/json").status_code == 400
    # Within the limit, the guard lets the body through to the view (which refuses it for what it is).
    shallow = api(site, "POST", "/captures", data="[" * 30 + "]" * 30, content_type="application/json")
    assert shallow.status_code == 400 and "nested" not in shallow.get_json()["error"]
    # Brackets inside strings are text.
    brackets = {"capture_id": "[" * 200, "device": "{" * 200}
    response = api(site, "POST", "/captures", json=brackets)
    assert response.status_code == 400 and "nested" not in response.get_json()["error"]
    # The same body to a dashboard route that takes no JSON: refused the same way, not a 500.
    page = site.test_client().post("/auth/login", data=deep, content_type="application/json")
    assert page.status_code == 400
    assert dump(site) == before


def test_the_depth_limit_is_a_setting(site):
    site.config["SITETWIN_MAX_JSON_DEPTH"] = 4
    try:
        response = api(site, "POST", "/captures", json={"a": {"b": {"c": {"d": {"e": 1}}}}})
        assert response.status_code == 400 and "at most 4 levels" in response.get_json()["error"]
    finally:
        site.config["SITETWIN_MAX_JSON_DEPTH"] = 32


def test_ids_beyond_a_postgresql_integer_are_404_not_500(site):
    p, storey = project_ids(site)
    manager = signed_in(site)
    huge = [MAX_ID + 1, 2**63, 10**20]
    for n in huge:
        for url in (f"/projects/{n}", f"/projects/{n}/captures", f"/projects/{p}/storeys/{n}/plan",
                    f"/projects/{p}/storeys/{n}/status.json", f"/projects/{p}/observations/{n}/evidence.jpg"):
            assert manager.get(url).status_code == 404, url
        token = csrf_of(manager.get(f"/projects/{p}/settings").get_data(as_text=True))
        assert manager.post(f"/projects/{p}/settings/rules/{n}/toggle",
                            data={"csrf_token": token}).status_code == 404
        for method, path in (("GET", f"/captures/{n}"), ("POST", f"/captures/{n}/finalise"),
                             ("PUT", f"/captures/1/frames/{n}")):
            response = api(site, method, path)
            assert response.status_code == 404 and "ids go up to" in response.get_json()["error"], path
    # The largest id that can exist is looked up as usual (and is not there).
    assert manager.get(f"/projects/{p}/storeys/{MAX_ID}/plan").status_code == 404
    assert manager.get(f"/projects/{p}/storeys/{storey}/plan").status_code == 200


def test_page_numbers_out_of_range_show_the_last_page(site):
    p, _ = project_ids(site)
    manager = signed_in(site)
    for page in ("99999999999999999999", str(2**63), "-99999999999999999999", "0", "x", "1e9"):
        for url in (f"/projects/{p}/alerts", f"/projects/{p}/captures", f"/projects/{p}/review"):
            response = manager.get(f"{url}?page={page}")
            assert response.status_code == 200, (url, page, response.status_code)


@settings(max_examples=200, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(alphabet='[]{}"\\ab,:'),
                    lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(st.text(alphabet='[]{}"\\a'), inner, max_size=3),
                    max_leaves=30))
def test_json_depth_measures_what_the_parser_would_nest(value):
    def depth(v) -> int:
        if isinstance(v, list):
            return 1 + max(map(depth, v), default=0)
        if isinstance(v, dict):
            return 1 + max(map(depth, v.values()), default=0)
        return 0

    assert json_depth(json.dumps(value).encode()) == depth(value)
    assert json_depth(json.dumps(value, ensure_ascii=False).encode()) == depth(value)


def test_the_same_recipient_twice_is_a_400_not_a_500(site):
    """Found by the form fuzzing below: the unique (project, email, phone) constraint raised a 500."""
    from webapp.extensions import db
    from webapp.models import Recipient

    p, _ = project_ids(site)
    manager = signed_in(site)
    token = csrf_of(manager.get(f"/projects/{p}/settings").get_data(as_text=True))
    form = {"csrf_token": token, "email": "twice@x.org", "phone": "+447700900999"}
    assert manager.post(f"/projects/{p}/settings/recipients", data=form).status_code == 303
    again = manager.post(f"/projects/{p}/settings/recipients", data=form)
    assert again.status_code == 400 and "already a recipient" in text(again)
    with site.app_context():
        assert len(db.session.scalars(select(Recipient).where(Recipient.email == "twice@x.org")).all()) == 1


def form_routes(p: int, gid: str) -> dict[str, st.SearchStrategy]:
    """Every form the dashboard posts (but sign-in and out), each with its fields drawn from
    plausible values mixed with arbitrary text: a path → a strategy of (fields, files)."""
    text = st.text(max_size=300)
    any_id = st.integers(min_value=0, max_value=2**64) | st.sampled_from([1, 2, 3])
    number = st.sampled_from(["0", "3", "-1", "1e309", "nan", "99999999999999999999", "１２"]) | text
    date = st.sampled_from(["2027-01-04", "2027-02-30", "0000-01-01", "9999-12-31"]) | text

    ids_of = any_id.map(lambda n: {"__id__": n})

    def fields(**strategies):
        return st.fixed_dictionaries({}, optional=strategies)

    names = st.sampled_from(["x.ifc", "x.csv", "x.xml", "x.xer", "x.pdf", "../../x.csv", "\u202ex.csv", ""])
    upload = st.tuples(st.binary(max_size=2048), names)
    kinds = st.sampled_from(["slip_days", "behind_pct", "past_finish", "forecast_beyond"])
    phone = st.from_regex(r"\+[1-9]\d{6,14}", fullmatch=True)
    roles = st.sampled_from(["camera", "manager"]) | text
    return {
        f"/projects/{p}/settings/rules": fields(kind=kinds | text, threshold=number, milestone=date,
                                                trade=text, storey=text),
        f"/projects/{p}/settings/recipients": fields(name=text, email=st.emails() | text, phone=phone | text,
                                                     trade=text, storey=text),
        f"/projects/{p}/settings/tokens": fields(name=text, role=roles),
        f"/projects/{p}/elements/{gid}/review": fields(stage=number, note=text),
        **{f"/projects/{p}/settings/{kind}/{{id}}/{action}": ids_of
           for kind, action in (("rules", "toggle"), ("recipients", "toggle"), ("tokens", "revoke"))},
        f"/projects/{p}/settings/schedule": fields(lenient=st.sampled_from(["y", "", "false"]) | text,
                                                   file=upload),
        f"/projects/{p}/settings/model": fields(file=upload),
    }


def test_generated_form_posts_with_their_csrf_token_get_no_server_error(site):
    """Hypothesis fills every dashboard form (a signed-in manager, its valid CSRF token) with
    arbitrary values, ids and files: each answer is a page, a redirect or a 4xx, never a 5xx."""
    from webapp.extensions import db
    from webapp.models import Element

    p, _ = project_ids(site)
    with site.app_context():
        gid = db.session.scalar(select(Element.global_id).limit(1))
    manager = signed_in(site)  # once: sign-in is rate limited
    token = csrf_of(manager.get(f"/projects/{p}/settings").get_data(as_text=True))
    routes = form_routes(p, gid)
    seen: list[tuple[str, int]] = []

    @settings(max_examples=250, deadline=None, database=None)
    @given(st.data())
    def post(data):
        route = data.draw(st.sampled_from(sorted(routes)))
        form = dict(data.draw(routes[route]))
        url = route.replace("{id}", str(form.pop("__id__", 1)))
        upload = form.pop("file", None)
        if upload is not None:
            form["file"] = (io.BytesIO(upload[0]), upload[1])
        response = manager.post(url, data={"csrf_token": token, **form},
                                content_type="multipart/form-data" if upload else None)
        seen.append((route, response.status_code))
        assert response.status_code < 500, (url, form, response.status_code, text(response)[-800:])

    post()
    assert {route for route, _ in seen} == set(routes)
    statuses = {status for _, status in seen}
    assert 400 in statuses and statuses & {200, 302, 303}  # refusals and accepted posts were both reached
    assert manager.get("/projects").status_code == 200  # still signed in: no form signed the manager out
