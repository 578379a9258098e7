def test_health_reports_a_reachable_database(app):
    response = app.test_client().get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok"}


def test_health_reports_an_unreachable_database(tmp_path):
    from webapp import create_app

    app = create_app({"SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://nobody@127.0.0.1:1/none",
                      "SITETWIN_DATA_DIR": str(tmp_path), "TESTING": True})
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["status"] == "error"
