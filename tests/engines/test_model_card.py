"""The model card is rendered from engine.json and re-rendered when artifacts are added; the
hand-written notes below its marker (data, licence, pictures) survive that."""
import shutil
from pathlib import Path

from pix2pix_stream.engines.runtime.metadata import read_metadata
from pix2pix_stream.engines.runtime.model_card import NOTES_MARKER, README, kept_notes, render_model_card, \
    update_metadata, write_model_card

ROOT = Path(__file__).resolve().parents[2]


def test_notes_survive_when_engine_json_changes(tiny_engine_dir, tmp_path):
    engine = tmp_path / "engine"
    shutil.copytree(tiny_engine_dir, engine)
    write_model_card(engine, read_metadata(engine), notes="## Data\n\nDrawn by hand.\n")
    update_metadata(engine, description="now with notes")
    card = (engine / README).read_text()
    assert card.startswith(render_model_card(read_metadata(engine)))
    assert "now with notes" in card
    assert card.endswith(f"{NOTES_MARKER}\n## Data\n\nDrawn by hand.\n")


def test_a_card_without_notes_stays_generated_only(tiny_engine_dir, tmp_path):
    engine = tmp_path / "engine"
    shutil.copytree(tiny_engine_dir, engine)
    update_metadata(engine, description="plain")
    assert (engine / README).read_text() == render_model_card(read_metadata(engine))


def test_shipped_card_is_in_step_with_its_engine_json():
    engine = ROOT / "engines" / "edges2facades"
    card = (engine / README).read_text()
    assert "## Samples" in kept_notes(card)
    assert card == render_model_card(read_metadata(engine)) + "\n" + kept_notes(card)
