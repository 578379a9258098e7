"""Register a frame to the twin: refine its pose, then observe every element from it.

The steps live in their own modules: the pose search around the prior (:mod:`vision.pose_search`),
what each pixel sees with occlusion (:mod:`vision.visibility`), and the association of detections
with elements into observations (:mod:`vision.observe`). This module runs them in order for one
frame (:func:`register_frame`) and holds the result a worker hands on (:class:`RegistrationResult`).

Frames: world metres, radians, panorama pixels as in :mod:`vision.equirect`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from twin.model import Twin
from vision.detect import Detection
from vision.observe import FrameObservation, observe, supported
from vision.pose import Pose
from vision.pose_search import edge_distance, refine_pose
from vision.render import RenderScene


@dataclass
class RegistrationResult:
    """A registered frame: the refined pose, its score, and the observations. ``localisation``:
    where the frame had no pose prior, how it was localised (storey, score, margin)."""

    pose: Pose
    prior: Pose
    score: float
    prior_score: float
    observations: list[FrameObservation] = field(default_factory=list)
    localisation: dict | None = None

    def to_dict(self) -> dict:
        """Plain JSON-able data (a worker sends it to the one that stores the capture)."""
        return {"pose": self.pose.as_list(), "prior": self.prior.as_list(), "score": self.score,
                "prior_score": self.prior_score,
                "observations": [[o.row, o.kind, o.stage, o.confidence, o.visible_pixels,
                                  list(o.region) if o.region else None] for o in self.observations],
                "localisation": self.localisation}

    @classmethod
    def from_dict(cls, data: dict) -> RegistrationResult:
        observations = [FrameObservation(int(row), kind, int(stage), float(confidence), int(pixels),
                                         tuple(region) if region else None)
                        for row, kind, stage, confidence, pixels, region in data["observations"]]
        return cls(Pose.from_list(data["pose"]), Pose.from_list(data["prior"]), float(data["score"]),
                   float(data["prior_score"]), observations, data.get("localisation"))


#: The pose search from a pose that localisation already refined (:mod:`vision.localise` confirms
#: its places with this module's own search): the fine levels only.
FINE_SEARCH = dict(step_m=0.075, step_deg=1.0, levels=4, coarse_levels=0)


def register_frame(twin: Twin, scene: RenderScene, image: np.ndarray, prior: Pose, believed: np.ndarray,
                   detections: list[Detection], refine: bool = True,
                   reliability: Mapping[str, float] | None = None,
                   localised: bool = False) -> RegistrationResult:
    """Refine the pose of one RGB frame and observe every element from it.

    The pose is refined against what is believed built plus what this frame's detections support
    at the prior pose (so the first walk of a project, with nothing believed yet, registers
    against the structure it sees). Detections that did not match at the prior may match at the
    refined pose: if they add elements, a finer search from the refined pose uses them too.
    ``localised``: ``prior`` is a pose localisation found and refined already; only the fine
    levels of the search run (:data:`FINE_SEARCH`).
    """
    distance = edge_distance(image)
    width = image.shape[1]
    anchors = believed | supported(twin, scene, prior, believed, detections, width, reliability)
    pose, score, prior_score = prior, 0.0, 0.0
    if refine and anchors.any():
        pose, score, prior_score = refine_pose(scene.scene(anchors.astype(np.int8)), prior, distance,
                                               **(FINE_SEARCH if localised else {}))
        if score >= prior_score:  # never worse than the prior
            pose, score = prior, prior_score
        more = anchors
        if pose != prior:  # detections that missed their element at the prior may match it now
            more = anchors | supported(twin, scene, pose, anchors, detections, width, reliability)
        if (more & ~anchors).any():
            anchors = more
            again, again_score, before = refine_pose(scene.scene(anchors.astype(np.int8)), pose, distance,
                                                     prior=prior, **FINE_SEARCH)
            if again_score < before:
                pose, score = again, again_score
    observations = observe(twin, scene, pose, anchors, detections, width, reliability=reliability)
    return RegistrationResult(pose, prior, score, prior_score, observations)
