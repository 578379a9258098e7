"""What a camera's status poll and frame upload cost on a big capture (issue #22, item 6).

Creates a capture of N frames (default 20,000) through the API on a fresh SQLite database, writes
every other frame file into its upload folder, then times (median of 10, milliseconds):
  * a status poll while uploading (half the frames in);
  * a status poll once queued (a finalised capture);
  * a frame upload that is refused by its SHA-256, i.e. the manifest lookup alone.
To compare with another version, run it with PYTHONPATH at that checkout.

    PYTHONPATH=$PWD .venv/bin/python bench/status_poll.py [N]
"""

from __future__ import annotations

import io
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    from tests.conftest import make_app
    from twin.generate import generate_building
    from webapp.extensions import db
    from webapp.models import Capture
    from webapp.services.uploads import upload_dir

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    tmp = Path(tempfile.mkdtemp())
    app = make_app(f"sqlite:///{tmp / 'db.sqlite3'}", tmp / "data")
    runner = app.test_cli_runner()
    generate_building(tmp / "b.ifc", storeys=1, bays=(1, 1), seed=1)
    assert runner.invoke(args=["ingest", str(tmp / "b.ifc"), "--project", "A"]).exit_code == 0
    created = runner.invoke(args=["token", "create", "--project", "A", "--name", "c", "--json"])
    token = json.loads(created.stdout)
    headers = {"Authorization": f"Bearer {token['token']}"}
    client = app.test_client()
    body = {"format": "sitetwin-capture/1", "capture_id": "big", "started_at": "2026-01-05T09:00:00Z",
            "frames": [{"file": f"frames/{k:06d}.jpg", "timestamp": "2026-01-05T09:00:00Z",
                        "sha256": "0" * 64, "pose_prior": {"position": [1.0, 2.0, 1.7], "yaw": 0.1}}
                       for k in range(n)]}
    started = time.perf_counter()
    response = client.post("/api/v1/captures", json=body, headers=headers)
    result = {"frames": n, "manifest_bytes": len(json.dumps(body)), "create_status": response.status_code,
              "create_ms": round((time.perf_counter() - started) * 1000)}
    capture = response.get_json()["id"]
    with app.app_context():
        folder = upload_dir(app.config, db.session.get(Capture, capture))
    (folder / "frames").mkdir(parents=True, exist_ok=True)
    for k in range(0, n, 2):
        (folder / "frames" / f"{k:06d}.jpg").write_bytes(b"x")

    def median_ms(call) -> float:
        times = []
        for _ in range(10):
            t0 = time.perf_counter()
            call()
            times.append(time.perf_counter() - t0)
        return round(statistics.median(times) * 1000, 1)

    def set_state(state: str) -> None:
        with app.app_context():
            db.session.get(Capture, capture).state = state
            db.session.commit()
            db.session.remove()

    def poll():
        return client.get(f"/api/v1/captures/{capture}", headers=headers)

    result["poll_uploading_ms"] = median_ms(poll)
    set_state("queued")
    result["poll_queued_ms"] = median_ms(poll)
    set_state("uploading")
    result["frame_put_lookup_ms"] = median_ms(lambda: client.put(
        f"/api/v1/captures/{capture}/frames/1", headers=headers, content_type="multipart/form-data",
        data={"file": (io.BytesIO(b"\xff\xd8\xff" + b"0" * 100), "f.jpg")}))
    print(json.dumps(result, indent=1))  # noqa: T201


if __name__ == "__main__":
    main()
