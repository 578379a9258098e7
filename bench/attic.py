"""Why attic frames register badly: at the true pose, how far is each kind of element boundary
from the photograph's edges, and does the pose search miss the truth or prefer a wrong pose?

Records ``sitetwin evaluate`` walks over the gable-roofed tuning layouts as bench/pose.py does
(layouts neither trained on nor reported), then for every frame, with the elements the pipeline
anchored the search on (believed built, plus what the frame's detections support at the prior):

- renders the anchors' boundaries from the **true** pose and samples the frame's edge-distance
  map there, per pair of IFC classes either side of the boundary (pixels at the working width,
  truncated as the finest search level is): boundaries with no image edge near them at the truth
  are what a wrong pose can do better on;
- registers the frame and compares its score (edge distance plus the prior's penalty) with the
  truth's: a frame ending more than 10 cm off is a *search* miss if the truth scored better, a
  *score* miss if the pose found scored better.

It also observes every frame from its true pose: built elements observed absent there are lost by
the association of detections with elements, not by the pose.

Frames on the layout's top storey (the attic, under the rafters) are reported apart.

    .venv/bin/python bench/attic.py [--walks 6] [--frames 8] [--write]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench_doc import write_section  # noqa: E402
from pose import record_frames  # noqa: E402
from threshold import TUNING_LAYOUTS  # noqa: E402

from twin.fusion import ABSENT, INSTALLED  # noqa: E402
from twin.generate import generate_building  # noqa: E402
from vision import observe, pose_search, register, visibility  # noqa: E402
from vision.detect import load_detector  # noqa: E402
from vision.equirect import world_rays  # noqa: E402

#: A frame whose refined position is farther than this from the truth (metres) is a miss.
MISS_M = 0.10
#: A boundary point farther than this from any image edge (pixels at the working width) is "far".
FAR_PX = 3.0
#: Reading and trials, written under the tables (figures from the session that measured them).
NOTES = [
    "With the pose polish (2026-11-29, later: `polish_pose`, a continuous search over all six pose "
    "parameters, height included, after the grid search): attic frames 10.1 → 7.3 cm median, misses over "
    "10 cm 16 → 14 (search 6 → 4, score 10 → 10); below the attic 2.1 → 1.1 cm, misses 6 → 2. The attic "
    "misses left are mostly score misses: the pose found, often one rafter along, scores better than the "
    "truth. Given every element truly built instead of the pipeline's anchors (a diagnostic run before the "
    "polish, 24 attic frames), attic frames fared no better (median 7.6 cm against 6.6), so the anchors are "
    "not what holds them back; the periodic rafters are.",
    "",
    "Reading (2026-11-29, after detections were matched to elements in the tiles the detector drew them "
    "in, at the re-chosen operating point, confidence 0.1 and NMS IoU 0.7, and first-level truncation 24 "
    "px): the last column is why that change came first. Observed from the true pose with the "
    "panorama-box association, the attic frames of 953 (2 walks of 5 frames, a diagnostic run) called 11 "
    "to 25 built rafters each absent; in the two frames examined, each of them had a detection over at "
    "least half its pixels. A rafter off the horizon is a curve in the panorama, and its panorama box "
    "rarely fitted the detection's. With that fixed, 170 built elements (of 1201 observed) were still "
    "called absent from the true pose in attic frames; the 31 examined (953, a diagnostic run) were all "
    "rafters whose box a detection fitted that went to a neighbour in the row. Observed as not visible "
    "now (no evidence: the detector keeps one box for the two), 3 are left, and 55 below the attic (59). "
    "The attic frames' median went 21.6 → 10.1 cm and their misses 25 → 16 (12 → 6 search, 13 → 10 "
    "score); below the attic 3.0 → 2.1 cm, 12 → 6 misses (with the 12-px truncation: attic 12.8 cm and 17"
    " misses, below 1.9 cm and 9). Fewer unbuilt rafters anchor the search: rafter–roof boundaries lie "
    "3.17 px from an edge at the truth (3.66 before), 49 % far (58 %).",
    "",
    "Before that change (the same day), the reading was: in attics the anchors' rafter boundaries lie "
    "3.7 px from the photograph's edges on average at the true pose, against 0.6 px for walls against "
    "slabs below; 58 % have no edge within 3 px. Two attic frames drawn with both show two causes. "
    "Rafters not yet built are among the anchors: at the prior, 0.3 m off with rafters 0.9 m apart, a "
    "detection of the rafter beside them fits their box; they are drawn in the sky where the photograph "
    "has nothing. And the far rafters converge towards the gable, their boundaries closer together than "
    "the 512-px edge map resolves. Either gives a wrong pose something to win: about half the attic "
    "misses were score misses, half search misses.",
    "",
    "Trials before that change, on the 200 tuning frames bench/pose.py records (median / p90 cm; then in "
    "use 2.6 / 29.2, gable 953 8.1 / 36.6, 961 8.9 / 89.6; now 2.2 / 17.1, 953 4.2 / 17.3, 961 4.8 / "
    "51.8), each with a throwaway variant of `register_frame` or `boundary_points` (not kept). None "
    "adopted:",
    "",
    "- Anchoring only on support that also holds at the prior moved 0.3 m each way along x and y: "
    "all four 2.9 / 33.8 (953 9.0 / 78.3, 961 6.2 / 41.8), three of four 2.9 / 29.2; 0.13 s more CPU a "
    "frame.",
    "- After the search, anchoring again on the support at the pose found (dropping what no longer "
    "matches) and refining again: 2.9 / 31.0; the gables unchanged.",
    "- Dropping boundary points in dense clusters (more than 10 in 5×5 px, or 14 in 7×7): 3.0 / 36.8 and "
    "3.1 / 31.4.",
    "- Only boundary points nearer than 10 m: 2.9 / 26.3 (953 8.6 / 28.6, 961 9.4 / 89.6).",
    "- Nine starts 0.45 m apart, the best total kept (the 80 gable frames): median 8.5 → 8.2 cm, p90 62 → "
    "52 cm, at nine times the CPU.",
    "- Carrying the previous frame's correction to the next prior, again: ρ 0.9 over the walk 2.5 / 25.2 "
    "(953 4.8 / 25.2, 961 8.7 / 84.8); in segments of 4 frames (Celery's default chunk, so chunked and "
    "whole runs would give the same poses) 2.5 / 25.8 (953 5.8 / 38.8); ρ 1.0 2.6 / 23.7 (961's p90 "
    "168.7); ρ 0.7 2.3 / 43.5. Not monotonic in ρ: at 200 frames these differences are noise as much as "
    "signal, and the gables stay at 5–9 cm medians.",
    "- Scoring a pose by the best 80, 60 or 40 % of its boundary points (a trimmed mean, so that "
    "boundaries with no edge weigh nothing): 3.6 / 43.3, 5.7 / 41.1, 8.5 / 39.0. The plain mean is best.",
    "- Anchoring on a box match only when its IoU beats the next element of the class by a margin (the "
    "unbuilt rafter beside a detected one fits nearly as well at the prior; observations kept the plain "
    "match, since the margin there took 953's rafter recall from 0.76 to 0.37 and mean F1 from 0.951 to "
    "0.909). A throwaway `--anchor-margin` option of bench/pose.py (not kept), 200 frames recorded with "
    "0.3: margin 0 2.55 / 33.9 (953 9.5 / 51.5, 961 9.7 / 86.7), 0.2 2.83 / 28.3, 0.3 2.82 / 27.5 (953 "
    "6.5 / 38.4, 961 7.0 / 39.9), 0.4 2.94 / 27.7. The gables gain 3 cm of median and half their p90, the "
    "flat layouts lose 0.3 cm (913 1.6 → 1.9); by the rule (the lower median) margin 0 wins, so it is "
    "not in the product. Even at 0.3 the gables' medians (6.5–7.0 cm) would miss the 5 cm target.",
    "",
    "What attics need next is open. The reported gable layout 943 still misses the 5 cm target (docs/"
    "accuracy.md), and the attic frames here have a 7.3 cm median. Candidates: the detections' boxes "
    "of discrete members (rafters) scored directly against their projected boxes, now that the two are "
    "compared where the detector drew them; or a two-sided score in which photograph edges that no "
    "rendered boundary explains cost too.",
]


def pose_total(scene, pose, prior, distance) -> float:
    """Edge score of ``pose`` (its own boundary render) plus the prior's penalty, as the search ranks."""
    points = pose_search.boundary_points(scene, pose, distance.shape[1])
    return (pose_search.points_score(points, pose, distance, shift=pose_search.EDGE_SHIFT)
            + float(pose_search.prior_penalty([pose], prior)[0]))


def boundary_pairs(twin, scene, pose, distance) -> tuple[np.ndarray, np.ndarray]:
    """(pair label per boundary pixel, its truncated edge distance) of ``scene`` rendered from ``pose``."""
    origin, directions = world_rays(pose, distance.shape[1])
    hits = scene.cast(origin, directions)
    element = hits.element
    edge = pose_search.boundaries(element) & np.isfinite(hits.distance)
    right = np.roll(element, -1, axis=1)
    lower = np.vstack([element[1:], element[-1:]])
    other = np.where(right != element, right, lower)[edge]
    names = np.array([e.ifc_class for e in twin.elements] + ["nothing"])  # -1 (a miss) is the last
    first, second = names[element[edge]], names[other]
    pairs = np.where(first <= second, np.char.add(np.char.add(first, " – "), second),
                     np.char.add(np.char.add(second, " – "), first))
    return pairs, np.minimum(distance[edge], pose_search.EDGE_TRUNCATION)


def analyse(records: list[dict]) -> tuple[dict, list[dict]]:
    """Per (group, class pair): [points, sum of distances, far points]; per frame: error and scores."""
    from webapp.services.evaluation import pose_error

    pairs: dict[tuple[str, str], list[float]] = {}
    frames = []
    for r in records:
        twin, scene, image, prior, truth = r["twin"], r["scene"], r["image"], r["prior"], r["truth"]
        group = "attic" if truth.z > max(s.elevation for s in twin.storeys) + 0.5 else "below"
        distance = pose_search.edge_distance(image)
        anchors = r["believed"] | observe.supported(twin, scene, prior, r["believed"], r["detections"],
                                                     image.shape[1], r["reliability"])
        anchored = scene.scene(anchors.astype(np.int8))
        labels, far = boundary_pairs(twin, anchored, truth, distance)
        for label in np.unique(labels):
            d = far[labels == label]
            sums = pairs.setdefault((group, str(label)), [0, 0.0, 0])
            sums[0] += len(d)
            sums[1] += float(d.sum())
            sums[2] += int((d > FAR_PX).sum())
        result = register.register_frame(twin, scene, image, prior, r["believed"], r["detections"], True,
                                         r["reliability"])
        at_truth = register.register_frame(twin, scene, image, truth, r["believed"], r["detections"], False,
                                           r["reliability"]).observations
        built = [o.kind for o in at_truth if r["stages"][twin.elements[o.row].global_id] >= 1]
        frames.append(dict(group=group, error_cm=pose_error(result.pose, truth)[0],
                           truth=pose_total(anchored, truth, prior, distance),
                           found=pose_total(anchored, result.pose, prior, distance),
                           built_installed=built.count(INSTALLED), built_absent=built.count(ABSENT)))
    return pairs, frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--walks", type=int, default=6)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    detector = load_detector()
    layouts = [(label, spec) for label, spec in TUNING_LAYOUTS if spec.get("roof") == "gable"]
    records = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, spec in layouts:
            path = Path(tmp) / f"attic-{spec['seed']}.ifc"
            generate_building(path, **spec)
            work_dir = Path(tmp) / f"work-{spec['seed']}"
            records += record_frames(path, detector, args.walks, args.frames, work_dir)
            print(f"recorded {label}: {len(records)} frames so far", file=sys.stderr)
        pairs, frames = analyse(records)
    lines = [f"`bench/attic.py --walks {args.walks} --frames {args.frames}`: {len(frames)} frames of the "
             f"gable tuning layouts ({', '.join(label for label, _ in layouts)}). Edge distance at the "
             f"true pose of the anchors' boundaries, in pixels at {visibility.WORK_WIDTH} px, truncated at "
             f"{pose_search.EDGE_TRUNCATION:g}; far: more than {FAR_PX:g} px from any image edge.", "",
             "| frames | boundary between | points | mean px | far |", "|---|---|---:|---:|---:|"]
    for group in ("attic", "below"):
        rows = sorted(((k[1], v) for k, v in pairs.items() if k[0] == group), key=lambda kv: -kv[1][0])
        for label, (n, total, far) in rows[:8]:
            lines.append(f"| {group} | {label} | {n} | {total / n:.2f} | {far / n:.0%} |")
    lines += ["", "| frames | count | median cm | misses (> 10 cm) | of which the truth scored better "
              "(search) | the pose found scored better (score) | built elements observed from the true pose: "
              "installed / absent |", "|---|---:|---:|---:|---:|---:|---:|"]
    for group in ("attic", "below"):
        chosen = [f for f in frames if f["group"] == group]
        if not chosen:
            continue
        misses = [f for f in chosen if f["error_cm"] > MISS_M * 100]
        search = sum(f["truth"] < f["found"] for f in misses)
        lines.append(f"| {group} | {len(chosen)} | {np.median([f['error_cm'] for f in chosen]):.1f} | "
                     f"{len(misses)} | {search} | {len(misses) - search} | "
                     f"{sum(f['built_installed'] for f in chosen)} / "
                     f"{sum(f['built_absent'] for f in chosen)} |")
    print("\n".join(lines))
    if args.write:
        write_section("Attic registration (`bench/attic.py`)", lines + [""] + NOTES)


if __name__ == "__main__":
    main()
