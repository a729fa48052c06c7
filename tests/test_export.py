"""`python -m export.to_onnx`: the bundle's files and manifest, torch/ONNX parity, clear failures."""
import json

import numpy as np
import onnx
import pytest
import torch

from conftest import run_module
from export.open_set import calibrate_relative
from export.reconstructor import load_reconstructor
from export.to_onnx import MAX_TILES, OPSET, ParityError, build_graphs, check_parity, dataset_tiles, export_graph
from export.checkpoints import load_model, load_model_on
from export.phase2 import reencode
from runtime.bundle import GRAPHS, read_manifest, sha256
from runtime.engine import Engine


def test_bundle_has_every_graph_checked_and_a_complete_manifest(tiny_bundle, tiny_checkpoint, tiny_dataset):
    manifest = read_manifest(tiny_bundle)
    model, state, config, reconstructor = load_model_on(tiny_checkpoint, tiny_dataset)
    assert [row["name"] for row in manifest["labels"]] == state["labels"]
    assert manifest["real_label"] == "real" and manifest["held_out"][0]["name"] == "gan-bicubic"
    assert manifest["tile"] == {"size": 32, "stride": 16, "max_tiles": MAX_TILES}
    assert manifest["anonymize"]["stride"] == 24  # 48 per 64 pixels of tile: the changes cross-fade
    assert len(manifest["enrollment_guard"]["camera_embeddings"]) == 2  # the tiny dataset's validation photos
    assert manifest["opset"] == OPSET >= 17
    assert np.array(manifest["fingerprint"]["prototypes"]).shape == (4, state["model_config"]["fingerprint_dim"])
    # the open-set rule is calibrated on the known sources' validation images
    assert manifest["open_set"] == calibrate_relative(model, reconstructor, config, state["labels"])
    assert manifest["open_set"]["rule"] == "relative" and manifest["open_set"]["calibration"]["split"] == "val"
    floor = state["train_config"]["cf_psnr_floor"]
    assert manifest["anonymize"]["psnr_floor_db"] == floor
    assert manifest["anonymize"]["max_change_rms"] == pytest.approx(2 * 10 ** (-floor / 20))
    assert {"commit", "tools", "train_config"} <= set(manifest["provenance"])
    assert manifest["provenance"]["checkpoint_sha256"] == sha256(tiny_checkpoint)  # which weights it was made from
    # a {"path", "sha256"} pair anywhere in the manifest names a file of the bundle (what checkers walk)
    pending, pairs = [manifest], []
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            if isinstance(node.get("path"), str) and isinstance(node.get("sha256"), str):
                pairs.append(node)
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
    assert len(pairs) == len(GRAPHS)
    assert all(sha256(tiny_bundle / pair["path"]) == pair["sha256"] for pair in pairs)
    for graph in GRAPHS:
        entry = manifest["files"][graph]
        path = tiny_bundle / entry["path"]
        assert sha256(path) == entry["sha256"]
        proto = onnx.load(str(path))
        onnx.checker.check_model(proto)
        assert [o.name for o in proto.graph.output] == entry["outputs"]
        assert max(entry["max_abs_difference_vs_torch"].values()) < 1e-4
        # the batch axis is dynamic
        assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param
    assert sum(p.stat().st_size for p in tiny_bundle.iterdir()) < 50 * 2**20


def test_onnx_pipeline_agrees_with_torch_on_the_test_tiles(tiny_bundle, tiny_checkpoint, tiny_dataset):
    model, state = load_model(tiny_checkpoint)
    reconstructor = load_reconstructor()
    x = dataset_tiles(tiny_dataset, "test", state["labels"], 32, 16)
    with torch.no_grad():
        expected = reencode(model, reconstructor, x)
    got = Engine.load(tiny_bundle, device="cpu").run_tiles(x.numpy())
    for output in ("logits", "decision"):
        same_label = (got[output].argmax(1) == expected[output].argmax(1).numpy()).mean()
        assert len(x) > 500 and same_label >= 0.999, output
    assert np.abs(got["mu"] - expected["mu"].numpy()).max() < 1e-3


def test_a_parity_failure_lists_every_mismatching_output(tiny_checkpoint, tiny_dataset, tmp_path):
    model, state = load_model(tiny_checkpoint)
    x = dataset_tiles(tiny_dataset, "test", state["labels"], 32, 32)[:4]
    graph = [g for g in build_graphs(model, load_reconstructor(), x) if g.name == "fingerprint_encoder"][0]
    path = export_graph(graph, tmp_path)
    with torch.no_grad():
        model.head.bias[0] += 0.5  # torch now disagrees with the exported file on the f head
    with pytest.raises(ParityError) as caught:
        check_parity(graph, path, graph.example, 1e-4)
    # the f head and the decision built on it, and nothing else
    named = sorted(m.split(":")[0] for m in caught.value.mismatches)
    assert named == ["fingerprint_encoder.decision", "fingerprint_encoder.logits"]


def test_the_manifest_names_the_sources_as_the_dataset_records_them(tiny_bundle, tiny_checkpoint, tiny_dataset,
                                                                     tmp_path):
    from export.to_onnx import make_manifest
    from export.trainset import dataset_sources

    sources = dataset_sources(tiny_dataset)
    manifest = json.loads((tiny_bundle / "manifest.json").read_text())
    assert [row["name"] for row in manifest["labels"]] == [n for n, row in sources.items() if not row["held_out"]]
    assert all(row["display_name"] == sources[row["name"]]["display_name"] for row in manifest["labels"])
    # a dataset's own names for its sources reach the manifest, whatever the zoo's code calls them
    renamed = {name: {**row, "display_name": f"Studio {k}", "family": f"family-{k}"}
               for k, (name, row) in enumerate(sources.items())}
    state = torch.load(tiny_checkpoint, weights_only=False, map_location="cpu")
    made = make_manifest(tiny_checkpoint, state, [], tmp_path, torch.zeros(4), manifest["open_set"], 32, 1e-3, renamed, [])
    assert [row["display_name"] for row in made["labels"]] == [renamed[n]["display_name"] for n in state["labels"]]
    assert [row["family"] for row in made["held_out"]] == [renamed[n]["family"] for n in state["held_out"]]


def test_cli_refuses_a_missing_checkpoint_without_a_traceback(tmp_path):
    result = run_module("export.to_onnx", "--checkpoint", str(tmp_path / "nope.pt"), "--output", str(tmp_path / "w"))
    assert result.returncode == 2
    assert "no such checkpoint" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "w").exists()


def test_manifest_commit_says_when_the_export_code_was_not_committed(tmp_path):
    import os
    import subprocess

    from export.to_onnx import git_commit

    assert git_commit(tmp_path) == "unknown"  # not a checkout
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}

    def git(*args):
        return subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True, text=True,
                              env={**os.environ, **env}).stdout.strip()

    git("init", "-q")
    (tmp_path / "export").mkdir()
    (tmp_path / "export" / "model.py").write_text("A = 1\n")
    git("add", "-A")
    git("commit", "-q", "-m", "one")
    head = git("rev-parse", "HEAD")
    assert git_commit(tmp_path) == head
    (tmp_path / "notes.txt").write_text("elsewhere\n")  # outside export/ and runtime/: the code is the commit's
    assert git_commit(tmp_path) == head
    (tmp_path / "export" / "model.py").write_text("A = 2\n")
    assert git_commit(tmp_path) == head + "+uncommitted"
