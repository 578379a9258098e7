"""Commands about captures: simulate, process, evaluate, and train the detector."""

from __future__ import annotations

from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from webapp.cli.common import emit, ensure_database, fail, progress_bar

#: What a simulated camera knows of where it is (vision.simulate.PRIORS, spelt out here so that the
#: command line starts without importing the vision stack), for simulate-capture and evaluate.
PRIOR_OPTION = click.option(
    "--prior", type=click.Choice(["noisy", "start", "none"]), default="noisy", show_default=True,
    help="What the camera knows of where it is: a noisy pose per frame (a tracking app), the storey and a "
         "start point tapped on the plan, or nothing (gravity alone).")


@click.command("simulate-capture")
@click.option("--project", "project_name", required=True)
@click.option("--date", "date", required=True, type=click.DateTime(["%Y-%m-%d"]), help="Walk date (YYYY-MM-DD).")
@click.option("--storey", default=None, help="Storey name or GlobalId (default: the lowest).")
@click.option("--frames", default=10, show_default=True, type=click.IntRange(1, 10000))
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--width", default=2048, show_default=True, type=click.IntRange(64, 8192))
@click.option("--pose-noise", nargs=2, type=float, default=(0.3, 5.0), show_default=True,
              metavar="METRES DEGREES", help="Pose-prior error: position σ and yaw σ.")
@click.option("--slip-sigma", default=3.0, show_default=True, help="Random task slip σ, days.")
@PRIOR_OPTION
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@with_appcontext
def simulate_capture_command(project_name, date, storey, frames, seed, width, pose_noise, slip_sigma, prior,
                             out_dir, as_json) -> None:
    """Simulate a helmet-camera walk of a project's twin as built on DATE (with ground truth)."""
    from webapp.extensions import db
    from webapp.services.simulation import simulate_project_capture
    from webapp.services.twins import NotFound

    ensure_database()
    try:
        result = simulate_project_capture(db.session, current_app.config["SITETWIN_DATA_DIR"], project_name,
                                          date.date(), out_dir, storey=storey, frames=frames, seed=seed, width=width,
                                          pose_noise=pose_noise, slip_sigma=slip_sigma, prior=prior)
    except (NotFound, ValueError) as error:
        fail(str(error))
    emit(result, as_json, f"{out_dir}: {result['frames']} frames on {result['storey']!r}, "
                          f"{result['path_length_m']:.1f} m walked")


@click.command("train-detector")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Weights file (default: the bundled vision/weights/sitetwin-det.pt).")
@click.option("--config", type=click.Choice(["cpu", "gpu"]), default="cpu", show_default=True)
@click.option("--epochs", type=click.IntRange(1, 10000), default=None, help="Override the configuration's epochs.")
@click.option("--images", type=click.IntRange(10, 10_000_000), default=None, help="Training images to render.")
@click.option("--seed", default=0, show_default=True)
@click.option("--start-from", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Continue training these weights on freshly rendered data.")
@click.option("--render-to", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Only render the dataset into this directory (to train elsewhere with --data).")
@click.option("--data", type=click.Path(file_okay=False, exists=True, path_type=Path), default=None,
              help="Train on a dataset rendered before with --render-to (renders nothing).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
def train_detector_command(out, config, epochs, images, seed, start_from, render_to, data, as_json) -> None:
    """Render training tiles of generated buildings and train the YOLO detector on them."""
    from vision.detect import BUNDLED_WEIGHTS
    from vision.train import fit_detector, render_training_data, settings_for, train_detector

    if render_to and data:
        fail("--render-to and --data are two halves of one run: give one of them")
    settings = settings_for(config, images=images, epochs=epochs)
    if render_to:
        with progress_bar(settings["images"], "rendering tiles") as update:
            counts = render_training_data(render_to, settings["images"], settings["size"], seed,
                                          progress=update)
        emit({"dataset": str(render_to), "label_counts": counts}, as_json,
             f"{render_to}: {settings['images']} training tiles rendered")
        return
    if data:
        result = fit_detector(out or BUNDLED_WEIGHTS, data, settings, seed=seed, start_from=start_from)
    else:
        with progress_bar(settings["images"], "rendering tiles") as update:
            result = train_detector(out or BUNDLED_WEIGHTS, config=config, images=images, epochs=epochs,
                                    seed=seed, start_from=start_from, progress=update)
    emit(result.as_dict(), as_json, f"{result.weights}: mAP50 {result.map50_all:.3f} on the held-out layout "
                                    f"after {result.seconds / 60:.0f} min")


@click.command("process")
@click.argument("capture_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--project", "project_name", required=True)
@click.option("--no-refine", is_flag=True, help="Keep the pose priors (no pose refinement).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@with_appcontext
def process_command(capture_dir: Path, project_name: str, no_refine: bool, as_json: bool) -> None:
    """Detect, register, observe and fuse a capture directory (the upload format)."""
    from vision.capture import CaptureError, read_capture
    from vision.detect import DetectorError
    from vision.detector_process import DetectorProcess
    from webapp.extensions import db
    from webapp.services.processing import process_capture
    from webapp.services.twins import NotFound

    ensure_database()
    try:
        # detection in its own process: it runs beside registration instead of taking turns with it
        frames = len(read_capture(capture_dir).frames)  # the bar's total; a malformed manifest stops here
        with DetectorProcess() as detector, progress_bar(frames, f"processing {capture_dir.name}") as update:
            result = process_capture(db.session, current_app.config["SITETWIN_DATA_DIR"], project_name, capture_dir,
                                     detector, refine=not no_refine, progress=update,
                                     localise=current_app.config["SITETWIN_LOCALISE"])
    except (CaptureError, NotFound, DetectorError) as error:
        fail(str(error))
    if not result.unchanged:
        _check_after_capture(project_name)
    if result.unchanged:
        text = f"{capture_dir}: capture {result.capture!r} already processed; nothing changed"
    else:
        text = (f"{capture_dir}: {result.frames} frames, observations {result.observations}, "
                f"{result.status_changes} status changes in {result.seconds:.1f} s")
        for skipped in result.skipped_frames:
            text += f"\n  skipped frame {skipped['index']} ({skipped['file']}): {skipped['reason']}"
        for frame in result.not_localised_frames:
            text += f"\n  frame {frame['index']} ({frame['file']}) not localised: {frame['reason']}"
    emit(result.as_dict(), as_json, text)


def _check_after_capture(project_name: str) -> None:
    """A processed capture may open or resolve alerts: check now (projects with a schedule)."""
    from twin.schedule import ScheduleImportError
    from webapp.extensions import db
    from webapp.services.alerts import check_alerts, deliver_outbox

    try:
        check_alerts(db.session, current_app.config, project_name)
    except ScheduleImportError:  # no schedule yet: nothing to check against
        return
    deliver_outbox(db.session, current_app.config)


@click.command("evaluate")
@click.argument("model_path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--walks", default=3, show_default=True, type=click.IntRange(1, 100))
@click.option("--frames", default=8, show_default=True, type=click.IntRange(1, 1000), help="Frames per walk.")
@click.option("--seed", default=0, show_default=True)
@click.option("--pose-noise", nargs=2, type=float, default=(0.3, 5.0), show_default=True,
              metavar="METRES DEGREES", help="Pose-prior error: position σ and yaw σ.")
@click.option("--width", default=1024, show_default=True, type=click.IntRange(128, 8192),
              help="Panorama width of the simulated frames.")
@click.option("--no-refine", is_flag=True, help="Keep the pose priors (no pose refinement).")
@PRIOR_OPTION
@click.option("--timeline", is_flag=True,
              help="Weeks of walks on one project, scored after every capture (see docs/accuracy.md).")
@click.option("--weeks", default=12, show_default=True, type=click.IntRange(1, 200), help="With --timeline.")
@click.option("--walks-per-week", default=2, show_default=True, type=click.IntRange(1, 20),
              help="With --timeline.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
def evaluate_command(model_path, walks, frames, seed, pose_noise, width, no_refine, prior, timeline, weeks,
                     walks_per_week, as_json) -> None:
    """Run the whole loop on simulated walks of MODEL_PATH and score it against ground truth."""
    from twin.ifc import IfcReadError
    from vision.detect import DetectorError
    from vision.detector_process import DetectorProcess
    from webapp.services.evaluation import evaluate_model

    if timeline:
        if prior != "noisy":
            fail("--prior start|none is not available with --timeline yet: its walks carry noisy pose priors")
        _evaluate_timeline(model_path, weeks, walks_per_week, frames, seed, pose_noise, width, as_json)
        return
    try:
        with DetectorProcess() as detector, progress_bar(walks, f"evaluating {model_path.name}") as update:
            report = evaluate_model(model_path, detector, walks=walks, frames=frames, seed=seed,
                                    pose_noise=tuple(pose_noise), width=width, refine=not no_refine, prior=prior,
                                    progress=update)
    except (IfcReadError, DetectorError, ValueError) as error:
        fail(str(error))
    overall, pose = report["overall"], report["pose"]
    lines = [f"{report['model']} ({report['schedule']} schedule, {report['frames']} frames): "
             f"F1 {overall['f1']}, precision {overall['precision']}, recall {overall['recall']}, "
             f"stage accuracy {overall['stage_accuracy']} over {overall['elements']} element-walks",
             f"pose: prior median {pose['prior_median_cm']} cm → {pose['median_cm']} cm (p90 {pose['p90_cm']}), "
             f"{pose['median_deg']}° (p90 {pose['p90_deg']}°)"]
    if report.get("localisation"):
        loc = report["localisation"]
        lines.append(f"localisation ({prior} prior): {loc['localised_share']:.0%} of frames localised, wrong storey "
                     f"{loc['wrong_storey']}, {loc['median_cm']} cm (p90 {loc['p90_cm']}), {loc['median_deg']}°, "
                     f"{loc['seconds_per_frame']} s a frame")
    lines += [f"  {cls:14s} P {m['precision']} R {m['recall']} F1 {m['f1']} stage {m['stage_accuracy']} "
              f"n={m['samples']}" for cls, m in report["per_class"].items()]
    emit(report, as_json, "\n".join(lines))


def _evaluate_timeline(model_path, weeks, walks_per_week, frames, seed, pose_noise, width, as_json) -> None:
    from twin.ifc import IfcReadError
    from vision.detect import DetectorError
    from webapp.services.timeline import evaluate_timeline

    try:
        with progress_bar(weeks * walks_per_week, f"timeline of {model_path.name}") as update:
            report = evaluate_timeline(model_path, weeks=weeks, walks_per_week=walks_per_week, seed=seed,
                                       frames=frames, width=width, pose_noise=tuple(pose_noise), progress=update)
    except (IfcReadError, DetectorError, ValueError) as error:
        fail(str(error))
    o = report["overall"]
    lines = [f"{report['model']} ({report['schedule']} schedule): {report['captures']} captures over "
             f"{report['weeks']} weeks, {report['elements']} elements, coverage {o['coverage']}",
             f"F1 {o['f1']} (P {o['precision']}, R {o['recall']}), stage accuracy {o['stage_accuracy']}; "
             f"persisting false installs {o['persisting_false_installs']} of {o['element_weeks']} element-weeks; "
             f"latency median {o['latency_median_days']} d (p90 {o['latency_p90_days']}); "
             f"flags {o['flags_right']}/{o['flags_raised']} right; percent off by at most {o['percent_error_max']}"]
    lines += [f"  week {w['week']:2d} to {w['week_end']}: F1 {w['f1']} stage {w['stage_accuracy']} "
              f"false {w['false_installs_at_week_end']} flagged {w['flagged']} "
              f"{w['percent']} % vs {w['true_percent']} %, slip {w['slip_days']} vs {w['true_slip_days']} d"
              for w in report["per_week"]]
    emit(report, as_json, "\n".join(lines))


@click.command("worker")
@click.option("--concurrency", default=1, show_default=True, help="Celery worker processes.")
@click.option("--name", default="sitetwin@%h", show_default=True,
              help="Celery node name (%h: the host name); give each worker on one host its own.")
@with_appcontext
def worker_command(concurrency: int, name: str) -> None:
    """Process queued captures: a Celery worker when CELERY_BROKER_URL is set, else poll the database."""
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    ensure_database()
    if current_app.config.get("CELERY_BROKER_URL"):
        from webapp.celery_app import celery, configure

        configure(current_app.config["CELERY_BROKER_URL"])
        celery.worker_main(["worker", "--loglevel=INFO", f"--concurrency={concurrency}", "-Q", "sitetwin", "-n", name,
                            "--without-gossip", "--without-mingle"])
    else:
        from webapp.jobs import run_worker

        run_worker(current_app._get_current_object())
