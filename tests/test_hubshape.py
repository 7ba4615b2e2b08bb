"""workshop.hubshape: an untrained model of the hub model's shape, whose files weigh what the hub's do."""

from __future__ import annotations

import json

from workshop import hubshape


def test_the_stand_in_has_the_hub_models_shape_and_weight_bytes(tmp_path, model_dir):
    """Its config is DistilBERT's at the hub model's sizes, its weights file has the hub's byte
    count, its tokenizer makes no token_type_ids (as the hub model's), and its card says it is untrained."""
    folder = hubshape.make(tmp_path / "model", tokenizer_dir=model_dir)
    settings = json.loads((folder / "config.json").read_text())
    assert settings["model_type"] == "distilbert"
    assert {key: settings[key] for key in hubshape.SHAPE} == hubshape.SHAPE
    assert settings["id2label"] == {"0": "NEGATIVE", "1": "POSITIVE"}
    assert (folder / "model.safetensors").stat().st_size == hubshape.HUB_WEIGHTS_BYTES
    assert "untrained" in (folder / "README.md").read_text().lower()

    from transformers import AutoTokenizer

    assert list(AutoTokenizer.from_pretrained(folder)("A fine film.")) == ["input_ids", "attention_mask"]
