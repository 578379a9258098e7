"""Every real model in ../shared/ifc ingests on SQLite and PostgreSQL, with the geometry the bare
iterator finds (acceptance of the foundation issue)."""

import json
import multiprocessing

import ifcopenshell
import ifcopenshell.geom
import pytest
from sqlalchemy import func, select

from tests.conftest import shared_models
from webapp.models import Element

MODELS = shared_models()
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not MODELS, reason="../shared/ifc is absent: the real models live beside the repository"),
]
_BARE: dict[str, tuple[int, int]] = {}


def bare_counts(path) -> tuple[int, int]:
    """(IfcElements, distinct elements the bare iterator yields a shape for), computed independently."""
    if str(path) not in _BARE:
        model = ifcopenshell.open(str(path))
        settings = ifcopenshell.geom.settings()
        settings.set("use-world-coords", True)
        elements = model.by_type("IfcElement")
        iterator = ifcopenshell.geom.iterator(settings, model, multiprocessing.cpu_count(), include=elements)
        shaped = set()
        if elements and iterator.initialize():
            while True:
                shaped.add(iterator.get().guid)
                if not iterator.next():
                    break
        _BARE[str(path)] = (len(elements), len(shaped))
    return _BARE[str(path)]


@pytest.mark.parametrize("path", MODELS, ids=[p.stem for p in MODELS])
def test_real_model_ingests_with_every_shaped_element(runner, db_session, path):
    result = runner.invoke(args=["ingest", str(path), "--project", path.stem, "--json"])
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    elements, shaped = bare_counts(path)
    assert out["elements"] == elements
    assert out["with_geometry"] == shaped
    assert db_session.scalar(select(func.count()).select_from(Element)) == elements
    # Metres whatever the file's unit: no real building element is longer than a kilometre.
    longest = db_session.scalar(select(func.max(Element.max_x - Element.min_x)))
    assert 0 < longest < 1000
