"""`pitbox voice install-model`: a vosk model is validated before it is installed; anything else is
refused with a message that names what is missing. Vosk's own tests need a model (PITBOX_VOSK_MODEL)."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import pytest

from driver_app.cli import main
from driver_app.voice.recognition import MODEL_ENV, ModelError, VoskRecognizer, find_vosk_model, install_model


def fake_layout(folder: Path) -> Path:
    """The files a vosk model folder has (contents do not matter to the layout check)."""
    for part in ("am/final.mdl", "conf/model.conf", "graph/HCLr.fst", "graph/Gr.fst"):
        (folder / part).parent.mkdir(parents=True, exist_ok=True)
        (folder / part).write_bytes(b"x")
    return folder


def test_a_folder_that_is_not_a_vosk_model_is_refused_naming_what_is_missing(tmp_path: Path) -> None:
    folder = tmp_path / "downloads" / "not-a-model"
    folder.mkdir(parents=True)
    (folder / "README").write_text("hello")
    with pytest.raises(ModelError, match=r"is not a vosk model: it has no am/final\.mdl, conf/model\.conf, graph/HCLG"):
        install_model(folder, tmp_path / "installed")
    assert not (tmp_path / "installed").exists()


def test_a_zip_without_a_model_and_a_missing_path_are_refused(tmp_path: Path) -> None:
    archive = tmp_path / "model.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("vosk-model-small/notes.txt", "nothing here")
    with pytest.raises(ModelError, match="is not a vosk model"):
        install_model(archive, tmp_path / "installed")
    with pytest.raises(ModelError, match="does not exist"):
        install_model(tmp_path / "nowhere", tmp_path / "installed")
    text = tmp_path / "model.txt"
    text.write_text("not a zip")
    with pytest.raises(ModelError, match="neither a folder nor a .zip"):
        install_model(text, tmp_path / "installed")


def test_a_zipped_model_is_unpacked_and_replaces_the_installed_one(tmp_path: Path) -> None:
    source = fake_layout(tmp_path / "src" / "vosk-model-small-en-us-0.15")
    archive = tmp_path / "vosk.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for path in source.rglob("*"):
            z.write(path, path.relative_to(source.parent))
    target = tmp_path / "data" / "vosk-model"
    fake_layout(target)
    (target / "old-marker").write_text("old")
    assert install_model(archive, target) == target
    assert (target / "am" / "final.mdl").is_file() and not (target / "old-marker").exists()


def test_the_cli_reports_a_bad_model_on_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["voice", "install-model", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("pitbox voice: ") and "is not a vosk model" in err and "\n" not in err


def test_the_environment_variable_points_at_the_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(MODEL_ENV, str(tmp_path))
    assert find_vosk_model() == tmp_path


@pytest.mark.skipif(not os.environ.get(MODEL_ENV), reason=f"vosk tests need a model: set {MODEL_ENV} to its folder")
def test_vosk_loads_the_configured_model() -> None:
    model = find_vosk_model()
    assert model is not None
    recognizer = VoskRecognizer(model)
    assert recognizer.engine == "vosk"
