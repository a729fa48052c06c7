"""The causal-fingerprint model's training and evaluation, on a tiny dataset in seconds."""
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from export.open_set import called_unknown, manifest_entry
from export.evaluate import run as evaluate_run
from export.losses import supervised_contrastive
from export.model import CausalFingerprintModel
from export.reconstructor import load_reconstructor
from export.checkpoints import load_model, model_config_for
from export.train import run, train_phase1
from export.trainset import build_train_tiles, known_labels

from conftest import load_bench, tiny_config

ROOT = Path(__file__).resolve().parents[1]


def test_tiny_config_trains_in_seconds_its_loss_falls_and_it_resumes(tiny_dataset, tmp_path):
    config = tiny_config(tiny_dataset, tmp_path)
    reconstructor = load_reconstructor()
    labels, held_out = known_labels(tiny_dataset)
    assert labels == ["real", "gan-nearest", "gan-pixelshuffle", "tiny-ae"] and held_out == ["gan-bicubic"]
    tiles = build_train_tiles(config, reconstructor, labels)
    # content-matched: every content id holds one tile of every class
    assert torch.bincount(tiles.content).unique().tolist() == [len(labels)]
    torch.manual_seed(0)
    model = CausalFingerprintModel(model_config_for(config, len(labels), reconstructor))
    adversary = torch.nn.Linear(model.config.content_dim, len(labels))
    model, losses = train_phase1(config, model, adversary, tiles, tmp_path / "phase1.pt")
    assert len(losses) == config.steps
    assert np.mean(losses[-15:]) < 0.9 * np.mean(losses[:15])
    state = torch.load(tmp_path / "phase1.pt", weights_only=False)
    assert state["step"] == config.steps
    _, again = train_phase1(config, model, adversary, tiles, tmp_path / "phase1.pt")
    assert again == [], "a finished run resumes at its last step"


def test_whole_run_then_evaluation_writes_every_key(tiny_dataset, tiny_checkpoint, tmp_path):
    config = tiny_config(tiny_dataset, tmp_path / "run")
    checkpoint = tiny_checkpoint
    ablation = run(replace(config, output=str(tmp_path / "ablation"), ablation="residual-only"))
    model, state = load_model(checkpoint)
    assert state["train_config"]["steps"] == 80 and state["labels"][0] == "real"
    assert state["prototypes"].shape == (4, model.config.fingerprint_dim)
    # the decision heads were chosen on validation, and their accuracy there is the one saved
    assert set(model.config.decision_spaces) <= set(model.config.spaces)
    assert len(state["decision_selection"]) == 2 ** len(model.config.spaces)
    assert state["val_accuracy"] == max(state["decision_selection"].values())
    assert load_model(ablation)[0].config.spaces == ("pixel",)
    output = tmp_path / "results" / "attribution.json"
    evaluate_run(tiny_dataset, checkpoint, ablation, output, tmp_path / "docs", baseline_steps=10)
    result = json.loads(output.read_text())
    assert set(result["methods"]) == {"causal-fingerprint", "residual-cnn", "dct-linear", "noise-correlation", "pixel-cnn"}
    for metrics in result["methods"].values():
        assert {"accuracy", "macro_f1", "confusion", "family_accuracy", "image_accuracy"} <= set(metrics)
        assert np.array(metrics["confusion"]).shape == (4, 4)
    assert result["fdr"]["value"] > 0 and "tr(S_B)" in result["fdr"]["formula"]
    assert 0 <= result["open_set"]["auroc"] <= 1
    assert all(0 <= share <= 1 for share in result["open_set"]["images_called_unknown"].values())
    assert result["open_set"]["rule"]["rule"] == "relative"
    assert set(result["open_set"]["scores"]["relative"]) == {"tile_auroc", "image_auroc"}
    assert set(result["open_set"]["held_out_named_in_own_family"]) == {"tiles", "images"}
    assert all(0 <= share <= 1 for share in result["open_set"]["held_out_named_in_own_family"].values())
    assert set(result["robustness"]) == {"jpeg95", "jpeg75", "jpeg50", "resize0.5", "resize1.5", "blur1", "crop"}
    assert set(result["format_shortcut"]) == {"jpeg90_all_classes_accuracy", "clean_accuracy"}
    assert {"ssim_mean", "psnr_mean", "true_source_rate", "chance", "true_source_rate_strongest_baseline",
            "counterfactual_hit_rate"} <= set(result["anonymization"])
    assert result["anonymization"]["chance"] == pytest.approx(1 / 3)
    called = result["anonymization"]["images_called_unknown"]
    assert set(called) == {"input", "neutral", "named"} and all(0 <= share <= 1 for share in called.values())
    assert output.with_suffix(".md").read_text().startswith("# Attribution benchmark")
    assert {p.name for p in (tmp_path / "docs").iterdir()} == {"fingerprint_space.png", "confusion.png", "anonymize.png"}


def test_the_relative_rule_threshold_leaves_the_quantile_of_known_images_below_it():
    known = np.arange(20, dtype=np.float64)  # 20 known validation images
    entry = manifest_entry(known, 0.95)
    assert entry["rule"] == "relative" and entry["calibration"] == {"split": "val", "images": 20, "quantile": 0.95}
    assert called_unknown(known, entry["threshold"]) == pytest.approx(1 / 20)  # only the highest lies above
    assert called_unknown(np.array([entry["threshold"], entry["threshold"] + 1e-6]), entry["threshold"]) == 0.5


def test_arrival_augment_draws_each_way_photos_arrive_alike_for_every_class(tiny_dataset, tmp_path):
    from export.augment import ARRIVAL_FAMILIES
    from export.trainset import train_tile_arrays

    labels, _held_out = known_labels(tiny_dataset)
    config = replace(tiny_config(tiny_dataset, tmp_path), augment="arrival", augment_draws=len(ARRIVAL_FAMILIES))
    xs, ys, contents, _photos = train_tile_arrays(config, labels)
    benchmark, _ys, _contents, _photos = train_tile_arrays(replace(config, augment="benchmark"), labels)
    assert xs.dtype == np.uint8 and xs.shape[1:] == (32, 32, 3)
    # content-matched: each content holds one tile of every class, under one and the same arrival
    for content in np.unique(contents)[:20]:
        assert sorted(ys[contents == content].tolist()) == list(range(len(labels)))
    # the ways photos arrive include downscales: fewer tiles fit than under the benchmark's draws
    assert len(xs) != len(benchmark)


def test_supervised_contrastive_prefers_grouped_features():
    groups = torch.tensor([0, 0, 1, 1, 2, 2])
    grouped = torch.eye(3)[groups] + 0.01 * torch.randn(6, 3)
    assert supervised_contrastive(grouped, groups, 0.1) < supervised_contrastive(torch.randn(6, 3), groups, 0.1)


def test_a_saved_train_config_drops_the_settings_of_options_that_left_the_code():
    from export.config import saved_config

    config = saved_config({"steps": 12, "w_fisher": 0.0, "w_outlier": 0.0, "outliers": "tilt"}, dataset="d")
    assert (config.steps, config.dataset) == (12, "d") and not hasattr(config, "w_fisher")


def test_finetune_from_starts_phase_1_from_a_checkpoint_and_calibrates_afresh(tiny_dataset, tiny_checkpoint, tmp_path):
    """--finetune-from: phase 1 (here on the ways photos arrive) moves the checkpoint's own weights,
    not fresh ones; the run calibrates again, continues G's trace branch and records its source."""
    from export.train import phase1_loss
    from runtime.errors import InputError

    source_model, source = load_model(tiny_checkpoint)
    config = replace(tiny_config(tiny_dataset, tmp_path / "ft"), finetune_from=str(tiny_checkpoint), steps=6,
                     lr=1e-4, augment="arrival", cf_steps=2)
    model, state = load_model(run(config))
    assert state["train_config"]["finetune_from"] == str(tiny_checkpoint)
    assert state["continued_from"][0] == {"checkpoint": str(tiny_checkpoint), "train_config": source["train_config"]}
    moved = {name: (value - source_model.state_dict()[name]).abs().max().item()
             for name, value in model.state_dict().items() if value.is_floating_point()}
    assert 0 < moved["head.weight"] < 0.05  # a few small steps away from the source, not a fresh start
    assert not torch.equal(state["prototypes"], source["prototypes"])  # calibrated again
    tiles = build_train_tiles(config, load_reconstructor(), known_labels(tiny_dataset)[0])
    adversary = torch.nn.Linear(model.config.content_dim, model.config.num_classes)
    index = torch.arange(64)
    _, parts = phase1_loss(config, model, adversary, tiles.batch(index), tiles.labels[index], tiles.content[index])
    assert set(parts) == {"ce", "space", "supcon_f", "supcon_c", "adversary", "recon", "kl"}
    assert all(torch.isfinite(value) for value in parts.values())
    for bad, message in ((dict(finetune_from=str(tmp_path / "nope.pt")), "no such checkpoint"),
                         (dict(finetune_from=str(tiny_checkpoint), init_from=str(tiny_checkpoint)), "exclude each other"),
                         (dict(finetune_from=str(tiny_checkpoint), ablation="residual-only"), "wants")):
        with pytest.raises(InputError, match=message):
            run(replace(config, output=str(tmp_path / "bad"), **bad))


def test_counterfactual_decoder_identity_and_zero_residual(tiny_checkpoint, tiny_dataset):
    """G(f, c, r) - G(f, c, r) is zero (x_cf = x when the target is the source), a zero residual
    leaves only the VAE decoder G(f, c), and the trained trace branch does move a real residual."""
    from export.to_onnx import dataset_tiles
    from export.phase2 import counterfactual, reencode

    model, state = load_model(tiny_checkpoint)
    x = dataset_tiles(tiny_dataset, "test", state["labels"], 32, 32)[:16]
    reconstructor = load_reconstructor()
    with torch.no_grad():
        out = reencode(model, reconstructor, x)
        x_hat = reconstructor.decode(reconstructor.encode(x)).clamp(-1, 1)
        x_cf, delta = counterfactual(model, x, x_hat, out["mu"], out["content"], out["mu"], 0.05)
        assert torch.equal(delta, torch.zeros_like(delta)) and torch.equal(x_cf, x.clamp(-1, 1))
        mu, c = out["mu"], out["content"]
        assert torch.equal(model.decode(mu, c, torch.zeros_like(x)), model.decode(mu, c))
        target = state["neutral"].expand_as(mu)
        trace = (model.decode(target, c, x - x_hat) - model.decode(mu, c, x - x_hat)) \
            - (model.decode(target, c) - model.decode(mu, c))
        assert trace.abs().max() > 0
        _x_cf, clipped = counterfactual(model, x, x_hat, mu, c, target, 0.01)
        assert clipped.pow(2).mean(dim=(1, 2, 3)).sqrt().max() <= 0.01 * (1 + 1e-5)


def test_decision_heads_are_the_subset_most_accurate_on_validation():
    from export.train import choose_decision_spaces

    labels = torch.arange(4).repeat(25)
    right = torch.nn.functional.one_hot(labels, 4).float() * 5
    wrong = torch.nn.functional.one_hot((labels + 1) % 4, 4).float() * 5
    # f alone is right half of the time; "dct" always; "pixel" never
    f_logits = torch.where((torch.arange(100) % 2 == 0)[:, None], right, wrong * 0.2)
    outputs = {"logits": f_logits, "space_logits": torch.stack([wrong, right, right], dim=1)}
    chosen, scores = choose_decision_spaces(outputs, labels, ("pixel", "dct", "spectrum"))
    assert len(scores) == 8 and scores["f"] == 0.5
    assert chosen == ("dct",)  # "dct" and "dct+spectrum" tie at 1.0: the smaller subset wins
    assert scores["f+pixel"] < scores["f+dct"] == scores["f+dct+spectrum"] == 1.0


def test_neutral_loss_away_pushes_the_true_source_and_real_down():
    from export.phase2 import neutral_loss

    generators, real = [1, 2, 3], 0
    sources = torch.tensor([1, 2])
    named = torch.log_softmax(torch.tensor([[0.0, 4.0, 0.0, 0.0], [0.0, 0.0, 4.0, 0.0]]), 1)
    elsewhere = torch.log_softmax(torch.tensor([[0.0, 0.0, 4.0, 0.0], [0.0, 0.0, 0.0, 4.0]]), 1)
    laundered = torch.log_softmax(torch.tensor([[4.0, 0.0, 0.0, 0.0], [4.0, 0.0, 0.0, 0.0]]), 1)
    away = [neutral_loss(p, sources, generators, real, "away") for p in (named, elsewhere, laundered)]
    assert away[1] < away[0] and away[1] < away[2], "naming the source or 'real' costs most"
    # "uniform" cannot tell naming the true source from naming another generator
    uniform = [neutral_loss(p, sources, generators, real, "uniform") for p in (named, elsewhere)]
    assert torch.isclose(uniform[0], uniform[1])
    logits = torch.zeros(2, 4, requires_grad=True)
    neutral_loss(torch.log_softmax(logits, 1), sources, generators, real, "away").backward()
    assert logits.grad[0, 1] > 0 and logits.grad[0, 0] > 0 and logits.grad[0, 3] < 0
    with pytest.raises(ValueError, match="one of away, uniform"):
        neutral_loss(named, sources, generators, real, "softmax")


@pytest.mark.parametrize("flag, value", [("--ablation", "no-decoupling"), ("--cf-objective", "softmax"),
                                         ("--augment", "webp")])
def test_train_cli_refuses_unknown_choices_in_one_line(flag, value, capsys):
    from export.config import parse_config

    with pytest.raises(SystemExit) as stopped:
        parse_config([flag, value])
    assert stopped.value.code == 2
    assert f"{flag} must be" in capsys.readouterr().err


def test_train_help_describes_every_setting_with_its_default(capsys, monkeypatch):
    from dataclasses import fields

    from export.config import TrainConfig, parse_config

    monkeypatch.setenv("COLUMNS", "2000")  # argparse would wrap at hyphens

    with pytest.raises(SystemExit) as stopped:
        parse_config(["--help"])
    assert stopped.value.code == 0
    shown = " ".join(capsys.readouterr().out.split())
    for setting in fields(TrainConfig):
        description = " ".join(setting.metadata["help"].split())
        assert description and description in shown, setting.name
        assert f"--{setting.name.replace('_', '-')}" in shown
    assert "phase-1 steps (encoder, heads, decoder) (default: 5000)" in shown


def test_anonymize_repeat_bench_starts_from_the_plain_counterfactual_and_keeps_the_budget(tiny_checkpoint,
                                                                                          tiny_dataset, tmp_path, capsys):
    repeat, plain = load_bench("anonymize_repeat"), load_bench("anonymize_val")
    output = tmp_path / "repeat.json"
    assert repeat.main([str(tiny_checkpoint), "--dataset", str(tiny_dataset), "--repeats", "3",
                        "--output", str(output)]) == 0
    row = json.loads(output.read_text())["checkpoints"][0]
    assert [p["pass"] for p in row["passes"]] == [1, 2, 3] and row["cf_psnr_floor"] == 35.2
    # every pass clips the total change to the floor (8-bit rounding costs a little)
    assert all(p["psnr_mean"] >= 35.2 - 0.3 for p in row["passes"])
    assert plain.main([str(tiny_checkpoint), "--dataset", str(tiny_dataset), "--output", str(tmp_path / "plain.json")]) == 0
    once = json.loads((tmp_path / "plain.json").read_text())["checkpoints"][0]
    assert row["passes"][0]["true_source_rate_by"] == {"ours": once["true_source_rate"],
                                                       "dct-linear": once["true_source_rate_by"]["dct-linear"]}
    with pytest.raises(SystemExit):
        repeat.main([str(tiny_checkpoint), "--dataset", str(tiny_dataset), "--repeats", "0"])
    assert "--repeats must be at least 1" in capsys.readouterr().err
    assert repeat.main([str(tmp_path / "nope.pt"), "--dataset", str(tiny_dataset)]) == 2
    assert "nope.pt" in capsys.readouterr().err


def test_dither_spends_its_share_of_the_budget_on_noise_and_keeps_the_total_within_it():
    import torch

    adaptive = load_bench("anonymize_adaptive")
    budget, change = 0.03, torch.randn(5, 3, 8, 8)  # every tile's change far over the budget
    assert adaptive.dithered(change, 0.0, budget) is change

    def rms(v):
        return v.pow(2).mean(dim=(1, 2, 3)).sqrt()

    noise_only = adaptive.dithered(torch.zeros_like(change), 0.36, budget)
    assert torch.allclose(rms(noise_only), torch.full((5,), 0.6 * budget), rtol=1e-4)
    both = adaptive.dithered(change, 0.36, budget)
    assert (rms(both) <= budget * (1 + 1e-5)).all() and not torch.allclose(both, noise_only)
    assert torch.equal(both, adaptive.dithered(change, 0.36, budget)), "seeded: the same change each time"


def test_anonymize_adaptive_bench_measures_the_plain_counterfactual_under_more_judges(tiny_checkpoint, tiny_dataset,
                                                                                       tmp_path, capsys):
    adaptive, repeat = load_bench("anonymize_adaptive"), load_bench("anonymize_repeat")
    output = tmp_path / "adaptive.json"
    assert adaptive.main([str(tiny_checkpoint), "--dataset", str(tiny_dataset), "--seeds", "0", "1",
                          "--noise-shares", "0", "0.5", "--pixel-cnn-steps", "20", "--output", str(output)]) == 0
    row = json.loads(output.read_text())["checkpoints"][0]
    judges = {"ours", "dct-linear", "pixel-cnn", "pixel-cnn-seed1", "pixel-cnn-noise-aware"}
    assert row["clean"]["psnr_mean"] == 100.0 and row["clean"]["ssim_mean"] == pytest.approx(1.0)
    assert [share["noise_share"] for share in row["shares"]] == [0.0, 0.5]
    for measured in [row["clean"], *row["shares"]]:
        assert set(measured["true_source_rate_by"]) == set(measured["most_named_class_share_by"]) == judges
        assert all(0 < v <= 1 for v in measured["most_named_class_share_by"].values())
    assert all(share["psnr_mean"] >= 35.2 - 0.3 for share in row["shares"])
    # share 0 is the evaluation's counterfactual: the same as the repeat bench's first pass
    assert repeat.main([str(tiny_checkpoint), "--dataset", str(tiny_dataset), "--repeats", "1",
                        "--output", str(tmp_path / "repeat.json")]) == 0
    once = json.loads((tmp_path / "repeat.json").read_text())["checkpoints"][0]["passes"][0]["true_source_rate_by"]
    plain = row["shares"][0]["true_source_rate_by"]
    assert {name: plain[name] for name in once} == once
    with pytest.raises(SystemExit):
        adaptive.main([str(tiny_checkpoint), "--dataset", str(tiny_dataset), "--noise-shares", "1"])
    assert "--noise-shares must be in [0, 1)" in capsys.readouterr().err
    assert adaptive.main([str(tmp_path / "nope.pt"), "--dataset", str(tiny_dataset)]) == 2


def test_anonymize_val_bench_compares_checkpoints_and_refuses_missing_files(tiny_checkpoint, tiny_dataset,
                                                                            tmp_path, capsys):
    bench = load_bench("anonymize_val")
    output = tmp_path / "anonymize_val.json"
    assert bench.main([str(tiny_checkpoint), str(tiny_checkpoint), "--dataset", str(tiny_dataset),
                       "--output", str(output)]) == 0
    result = json.loads(output.read_text())
    first, second = result["checkpoints"]
    assert result["split"] == "val" and first["cf_objective"] == "away" and first["cf_psnr_floor"] == 35.2
    assert first == second, "the same checkpoint measures the same"
    by_source = first["true_source_rate_by_source"]
    labels = json.loads((tiny_dataset / "build.json").read_text())["labels"]
    assert set(by_source) <= set(labels) - {"real"} and len(by_source) >= 2
    # content-matched grid tiles: as many per source, so the overall rate is the mean of the sources'
    assert np.mean(list(by_source.values())) == pytest.approx(first["true_source_rate"])
    assert 0 <= first["true_source_rate"] <= 1 and first["psnr_min"] >= 35.2 - 0.5
    assert bench.main([str(tmp_path / "nope.pt"), "--dataset", str(tiny_dataset)]) == 2
    assert "nope.pt" in capsys.readouterr().err
    # --cnn: the evaluation's CNN judges too (the tiny checkpoint standing in for the ablation)
    assert bench.main([str(tiny_checkpoint), "--dataset", str(tiny_dataset), "--output", str(output), "--cnn",
                       "--ablation", str(tiny_checkpoint), "--pixel-cnn-steps", "3", "--judge-by", str(tiny_checkpoint)]) == 0
    judged = json.loads(output.read_text())["checkpoints"][0]["true_source_rate_by"]
    assert set(judged) == {"dct-linear", "pixel-cnn", "residual-cnn", f"attributor:{tiny_checkpoint}"}
    assert judged["residual-cnn"] == first["true_source_rate"], "the same model judges as ours"
    assert judged[f"attributor:{tiny_checkpoint}"] == first["true_source_rate"]
    # --judge-by a model of other sources: one error line, before any baseline is fitted
    state = torch.load(tiny_checkpoint, weights_only=False)
    torch.save({**state, "labels": [f"other-{name}" for name in state["labels"]]}, tmp_path / "other.pt")
    assert bench.main([str(tiny_checkpoint), "--dataset", str(tiny_dataset), "--judge-by", str(tmp_path / "other.pt")]) == 2
    assert "other.pt (--judge-by) knows other labels" in capsys.readouterr().err
    assert bench.main([str(tiny_checkpoint), "--dataset", str(tiny_dataset), "--cnn",
                       "--ablation", str(tmp_path / "no-ablation.pt")]) == 2
    assert "no-ablation.pt" in capsys.readouterr().err
    # --psnr-floors: one row per floor; a higher floor than G's changes (the tiny G's are about
    # 46 dB) scales them down
    assert bench.main([str(tiny_checkpoint), "--dataset", str(tiny_dataset), "--output", str(output),
                       "--psnr-floors", "35.2", "52"]) == 0
    at_own, higher = json.loads(output.read_text())["checkpoints"]
    assert at_own == first and higher["cf_psnr_floor"] == 52 and higher["psnr_mean"] > at_own["psnr_mean"] + 1
    with pytest.raises(SystemExit):
        bench.main([str(tiny_checkpoint), "--dataset", str(tiny_dataset), "--psnr-floors", "0"])


def test_attribution_val_bench_measures_what_training_calibrated_and_names_differing_settings(
        tiny_checkpoint, tiny_dataset, tmp_path, capsys):
    bench = load_bench("attribution_val")
    state = torch.load(tiny_checkpoint, weights_only=False)
    other = tmp_path / "other.pt"
    torch.save({**state, "train_config": {**state["train_config"], "w_kl": 0.3}}, other)
    output = tmp_path / "attribution_val.json"
    assert bench.main([str(tiny_checkpoint), str(other), "--dataset", str(tiny_dataset), "--output", str(output)]) == 0
    first, second = json.loads(output.read_text())["checkpoints"]
    assert first.pop("w_kl") == 1e-3 and second.pop("w_kl") == 0.3  # only the differing setting is listed
    first.pop("checkpoint"), second.pop("checkpoint")
    assert first == second, "the same weights measure the same"
    assert first["accuracy"] == pytest.approx(state["val_accuracy"], abs=1e-6)  # as calibration measured it
    assert {"fdr", "open_set_auroc", "jpeg75_accuracy", "jpeg90_all_classes_accuracy", "image_accuracy"} <= set(first)
    assert all(0 <= first[key] <= 1 for key in ("open_set_auroc", "jpeg75_accuracy", "f_head_accuracy"))
    assert bench.main([str(tmp_path / "nope.pt"), "--dataset", str(tiny_dataset)]) == 2
    assert "nope.pt" in capsys.readouterr().err
    torch.save({**state, "labels": state["labels"][::-1]}, other)
    assert bench.main([str(tiny_checkpoint), str(other), "--dataset", str(tiny_dataset), "--output", str(output)]) == 2
    assert "different labels" in capsys.readouterr().err


def test_open_set_jpeg_bench_ships_the_clean_threshold_and_measures_every_format(tiny_checkpoint, tiny_dataset,
                                                                                 tmp_path, capsys):
    from export.open_set import calibrate_relative
    from export.checkpoints import load_model_on

    bench = load_bench("open_set_jpeg")
    output = tmp_path / "open_set_jpeg.json"
    assert bench.main(["--model", str(tiny_checkpoint), "--dataset", str(tiny_dataset), "--qualities", "75",
                       "--output", str(output)]) == 0
    result = json.loads(output.read_text())
    model, state, config, reconstructor = load_model_on(tiny_checkpoint, tiny_dataset)
    assert result["thresholds"]["clean"] == pytest.approx(
        calibrate_relative(model, reconstructor, config, state["labels"])["threshold"])
    for by_kind in result["test_images_called_unknown"].values():
        assert set(by_kind) == {"known", "unknown"}
        assert all(set(shares) == {"clean", "jpeg75", "jpeg75_jpeg_reference"}
                   and all(0 <= v <= 1 for v in shares.values()) for shares in by_kind.values())
    assert set(result["test_image_auroc"]) == {"clean", "jpeg75", "jpeg75_jpeg_reference"}
    assert bench.main(["--model", str(tiny_checkpoint), "--dataset", str(tiny_dataset), "--qualities", "120"]) == 2
    assert "--qualities" in capsys.readouterr().err


def test_open_set_reference_bench_calibrates_on_known_validation_images_only(tiny_checkpoint, tiny_dataset,
                                                                             tmp_path, capsys):
    from export.open_set import calibrate_relative, tile_energies
    from export.checkpoints import load_model_on
    from export.train import fingerprints, open_set_score
    from export.trainset import build_eval_tiles

    bench = load_bench("open_set_reference")
    output = tmp_path / "open_set_reference.json"
    assert bench.main(["--model", str(tiny_checkpoint), "--dataset", str(tiny_dataset), "--output", str(output)]) == 0
    result = json.loads(output.read_text())
    for split in ("val", "test"):
        assert all(0 <= v <= 1 for score in result[split]["auroc"].values() for v in score.values())
        assert all(0 <= v <= 1 for rule in result[split]["images_called_unknown"].values() for v in rule.values())
    # the threshold is the 0.95 quantile of the known validation images: at most one of them lies above it
    assert result["val"]["images_called_unknown"]["relative_rule"]["known"] <= 1 / result["val"]["images"]["known"]
    # the bench's threshold is the one the export calibrates; the tile energy is the f head's
    model, state, config, reconstructor = load_model_on(tiny_checkpoint, tiny_dataset)
    assert result["relative_threshold"] == pytest.approx(
        calibrate_relative(model, reconstructor, config, state["labels"])["threshold"])
    tiles = build_eval_tiles(config, reconstructor, "val", state["labels"])
    own, reference = tile_energies(model, reconstructor, tiles)
    np.testing.assert_allclose(own, open_set_score(fingerprints(model, tiles)["logits"]).numpy(), atol=1e-5)
    assert own.shape == reference.shape and not np.allclose(own, reference)
    # logits the caller already has stand for the tiles' own pass; the reference is computed the same
    given = tile_energies(model, reconstructor, tiles, logits=fingerprints(model, tiles)["logits"] + 1)
    np.testing.assert_allclose(given[0], own - 1, atol=1e-5)
    np.testing.assert_allclose(given[1], reference, atol=1e-5)
    assert bench.main(["--model", str(tmp_path / "nope.pt"), "--dataset", str(tiny_dataset)]) == 2
    assert "nope.pt" in capsys.readouterr().err


def test_open_set_heads_bench_scores_every_head_and_its_f_head_is_the_runtime_score(tiny_checkpoint, tiny_dataset,
                                                                                    tmp_path, capsys):
    from export.open_set import calibrate_relative
    from export.checkpoints import load_model_on

    bench = load_bench("open_set_heads")
    output = tmp_path / "open_set_heads.json"
    assert bench.main(["--model", str(tiny_checkpoint), "--dataset", str(tiny_dataset), "--output", str(output)]) == 0
    result = json.loads(output.read_text())
    model, state, config, reconstructor = load_model_on(tiny_checkpoint, tiny_dataset)
    assert set(result["val"]) == {"f", *model.config.spaces, "sum"}
    for split in ("val", "test"):
        assert all(0 <= row["image_auroc"] <= 1 for row in result[split].values())
    # each head's threshold is the 0.95 quantile of the known validation images: at most one lies above it
    assert all(row["called_unknown"]["known"] <= 1 / result["images"]["val_known"] for row in result["val"].values())
    # the f head's score is the runtime's relative score: its threshold is the one the export calibrates
    assert result["thresholds"]["f"] == pytest.approx(
        calibrate_relative(model, reconstructor, config, state["labels"])["threshold"], abs=1e-5)
    assert bench.main(["--model", str(tmp_path / "nope.pt"), "--dataset", str(tiny_dataset)]) == 2
    assert "nope.pt" in capsys.readouterr().err


def test_open_set_calibration_bench_sets_thresholds_on_drawn_validation_photos(tiny_checkpoint, tiny_dataset,
                                                                              tmp_path, capsys):
    from export.open_set import calibrate_relative
    from export.checkpoints import load_model_on

    bench = load_bench("open_set_calibration")
    output = tmp_path / "open_set_calibration.json"
    argv = ["--model", str(tiny_checkpoint), "--dataset", str(tiny_dataset), "--output", str(output),
            "--sizes", "1", "2", "--draws", "40"]
    assert bench.main(argv) == 0
    result = json.loads(output.read_text())
    model, state, config, reconstructor = load_model_on(tiny_checkpoint, tiny_dataset)
    every = result["every_validation_photo"]
    assert result["validation_photos"] == 2 and result["quantile"] == config.open_set_quantile
    # every photo: the threshold the export calibrates, and the bundle's rule
    assert every["threshold"] == pytest.approx(calibrate_relative(model, reconstructor, config, state["labels"])["threshold"])
    both = result["by_size"]["2"]
    assert both["threshold"]["p05"] == both["threshold"]["p95"] == pytest.approx(every["threshold"])
    one = result["by_size"]["1"]
    assert one["threshold"]["p05"] < one["threshold"]["p95"], "one photo of two: two thresholds drawn"
    assert one["threshold"]["p05"] <= one["threshold"]["mean"] <= one["threshold"]["p95"]
    shares = [every["known"], every["unknown"]] + [draw[kind][stat] for draw in (one, both)
                                                   for kind in ("known", "unknown") for stat in ("mean", "p05", "p95")]
    assert all(0 <= share <= 1 for share in shares)
    val_photos = json.loads((tiny_dataset / "build.json").read_text())["splits"]["val"]
    assert set(result["committed_validation_photos"]["photos"]) <= set(val_photos)
    assert bench.main([*argv[:6], "--sizes", "3"]) == 2
    assert "--sizes 3 is more than the 2 validation photos" in capsys.readouterr().err
    assert bench.main(["--model", str(tmp_path / "nope.pt"), "--dataset", str(tiny_dataset)]) == 2
    assert "nope.pt" in capsys.readouterr().err


def test_dct_linear_judge_is_a_differentiable_fitted_classifier(tiny_dataset, tmp_path):
    from export.baselines import DctLinear, DctLinearJudge
    from export.judges import judge_train_tiles

    config = tiny_config(tiny_dataset, tmp_path)
    labels, _ = known_labels(tiny_dataset)
    x_uint8, y = judge_train_tiles(config, labels)
    assert x_uint8.dtype == torch.uint8 and x_uint8.shape[1:] == (3, config.tile, config.tile)
    judge = DctLinearJudge.fit(x_uint8, y, len(labels))
    x = x_uint8.float() / 127.5 - 1
    with torch.no_grad():
        accuracy = float((judge(x).argmax(1).numpy() == y).mean())
        features = judge.features(x[:16]).numpy()
    assert accuracy > 1.5 / len(labels), "it learned its training tiles far above chance"
    # the baseline's own features: the surrogate imitates DctLinear, not a smoothed cousin
    # (float32 matrix products against scipy's float64 DCT: the rare near-zero coefficients differ)
    gap = np.abs(features - DctLinear.features(x_uint8[:16]))
    assert np.quantile(gap, 0.99) < 0.05 and np.median(gap) < 1e-3
    assert not any(p.requires_grad for p in judge.parameters())
    x = x[:8].clone().requires_grad_(True)
    judge(x)[:, 1].sum().backward()
    assert x.grad.abs().sum() > 0 and torch.isfinite(x.grad).all(), "the counterfactual phase needs gradients"
    with pytest.raises(ValueError, match="1 of 4 classes"):
        DctLinearJudge.fit(x_uint8[y == 0], y[y == 0], len(labels))


def test_counterfactuals_are_judged_as_saved_with_a_straight_through_gradient():
    from export.phase2 import as_saved

    x = torch.linspace(-1, 1, 1001).requires_grad_(True)
    saved = as_saved(x)
    assert torch.equal(saved, (x.detach() + 1).mul(127.5).round().div(127.5).sub(1))
    assert len(saved.unique()) == 256 and (saved - x).abs().max() <= 1 / 127.5 / 2 + 1e-6
    (saved * torch.arange(1001.0)).sum().backward()
    assert torch.equal(x.grad, torch.arange(1001.0)), "the gradient is the identity's"


def test_judge_fidelity_bench_compares_surrogates_with_the_baseline(tiny_dataset, tiny_checkpoint, tmp_path, capsys):
    bench = load_bench("judge_fidelity")
    output = tmp_path / "fidelity.json"
    assert bench.main(["--model", str(tiny_checkpoint), "--dataset", str(tiny_dataset), "--eps", "1e-6", "1e-3",
                       "--output", str(output)]) == 0
    judges = json.loads(output.read_text())["judges"]
    assert set(judges) == {"clean random-phase, eps 1e-06", "clean random-phase, eps 0.001", "dct-linear"}
    assert judges["dct-linear"]["agreement_with_baseline_anonymized"] == 1.0
    for row in judges.values():
        assert set(row) == {"clean_accuracy", "anonymized_true_source_rate", "agreement_with_baseline_clean",
                            "agreement_with_baseline_anonymized"}
        assert all(0 <= value <= 1 for value in row.values())
    assert bench.main(["--model", str(tmp_path / "nope.pt"), "--dataset", str(tiny_dataset)]) == 2
    assert "nope.pt" in capsys.readouterr().err


def test_init_from_continues_the_counterfactual_branch_only(tiny_dataset, tiny_checkpoint, tmp_path):
    """--init-from keeps the source's phase-1 weights, settings and calibration (prototypes, decision
    heads, open-set threshold), trains its trace branch further
    (differently with and without the dct-linear judge) and records where it came from."""
    from export.config import TrainConfig

    source_model, source = load_model(tiny_checkpoint)
    runs, paths = {}, {}
    for weight in (0.0, 1.0):
        config = TrainConfig(dataset=str(tiny_dataset), output=str(tmp_path / f"judge-{weight}"),
                             init_from=str(tiny_checkpoint), cf_steps=3, w_judge=weight, judges=2, threads=2)
        paths[weight] = run(config)
        model, state = load_model(paths[weight])
        runs[weight] = model
        assert state["train_config"]["steps"] == source["train_config"]["steps"] == 80  # inherited
        assert state["train_config"]["tile"] == 32 and state["train_config"]["cf_steps"] == 3
        assert state["continued_from"][0]["checkpoint"] == str(tiny_checkpoint)
        assert state["continued_from"][0]["train_config"] == source["train_config"]
        for name in ("judge.pt", "judge-1.pt"):  # two surrogates, fitted on their own draws
            assert (tmp_path / f"judge-{weight}" / name).is_file() == bool(weight)
        for name, value in model.state_dict().items():
            if not name.startswith("decoder.trace."):
                assert torch.equal(value, source_model.state_dict()[name]), name
        for key in ("prototypes", "spread", "neutral"):
            assert torch.equal(state[key], source[key]), key
        assert state["open_set_threshold"] == source["open_set_threshold"]
        assert model.config.decision_spaces == source_model.config.decision_spaces
    trace = [{k: v for k, v in m.state_dict().items() if k.startswith("decoder.trace.")} for m in runs.values()]
    assert any(not torch.equal(trace[0][k], source_model.state_dict()[k]) for k in trace[0])
    assert any(not torch.equal(trace[0][k], trace[1][k]) for k in trace[0]), "the judge changes training"
    # bench/experiments/anonymize_val.py also asks the surrogate a run trained against, when it left one
    surrogate_judges = load_bench("anonymize_val").surrogate_judges
    assert surrogate_judges(paths[0.0], 4, 32) == {}
    probs = surrogate_judges(paths[1.0], 4, 32)["dct-linear-surrogate"](build_train_tiles(
        tiny_config(tiny_dataset, tmp_path), load_reconstructor(), known_labels(tiny_dataset)[0]))
    assert probs.shape[1] == 4 and np.allclose(probs.sum(1), 1, atol=1e-5)
    first, second = (torch.load(tmp_path / "judge-1.0" / name) for name in ("judge.pt", "judge-1.pt"))
    assert not torch.equal(first["linear.weight"], second["linear.weight"])


def test_init_from_a_missing_checkpoint_is_refused(tiny_dataset, tmp_path):
    from export.config import TrainConfig
    from runtime.errors import InputError

    with pytest.raises(InputError, match="no such checkpoint"):
        run(TrainConfig(dataset=str(tiny_dataset), output=str(tmp_path), init_from=str(tmp_path / "nope.pt")))


def test_attack_budget_bench_attacks_within_the_floor(tiny_dataset, tiny_checkpoint, tmp_path, capsys):
    bench = load_bench("attack_budget")
    output = tmp_path / "attack.json"
    assert bench.main(["--model", str(tiny_checkpoint), "--dataset", str(tiny_dataset), "--tiles", "8", "--steps", "3",
                       "--output", str(output)]) == 0
    result = json.loads(output.read_text())
    assert set(result["results"]) == {"unchanged", "attack surrogate", "attack ours", "attack both"}
    for name, row in result["results"].items():
        assert set(row["true_source_rate_by"]) == {"causal-fingerprint", "dct-linear-surrogate", "dct-linear"}
        if name != "unchanged":
            assert row["psnr_min"] >= result["psnr_floor_db"] - 0.5, "the change stays within the floor (8-bit rounding aside)"
    assert bench.main(["--model", str(tmp_path / "nope.pt"), "--dataset", str(tiny_dataset)]) == 2
    assert "nope.pt" in capsys.readouterr().err


def test_spectral_trace_rescales_each_dct_coefficient_of_the_residual_and_starts_at_zero():
    """SpectralTrace(code, r) = DCT^-1(DCT(r) * W code): zero when added, so a grown model decodes
    as before; trained, each DCT coefficient of r is multiplied by its own gain."""
    from export.model import ModelConfig
    from export.projections import dct_matrix
    from export.checkpoints import with_spectral_trace

    torch.manual_seed(0)
    plain = CausalFingerprintModel(ModelConfig(tile=16, num_classes=3)).eval()
    grown = with_spectral_trace(plain)
    assert grown.config.spectral_trace and not plain.config.spectral_trace
    f, c, r = torch.randn(5, 32), torch.randn(5, 32), torch.randn(5, 3, 16, 16) * 0.05
    with torch.no_grad():
        assert torch.equal(grown.decode(f, c, r), plain.decode(f, c, r))
        spectral = grown.decoder.trace.spectral
        spectral.gains.weight.normal_()
        out = spectral(torch.cat([f, c], 1), r)
        matrix = dct_matrix(16)
        gains = (matrix @ out @ matrix.t()) / (matrix @ r @ matrix.t())
        expected = spectral.gains(torch.cat([f, c], 1)).view(5, 3, 16, 16)
        assert torch.allclose(gains, expected, rtol=1e-3, atol=1e-3)
        assert torch.equal(spectral(torch.cat([f, c], 1), torch.zeros_like(r)), torch.zeros_like(r))


def test_settle_trace_scale_brings_a_drifted_trace_branch_back_to_the_budget(tiny_checkpoint, tiny_dataset):
    """A trace branch grown far past the budget is scaled down (its lower decile of changes at the
    budget, the clipped changes above it kept) through its scale buffers, its weights at their
    initial size; a small one is never scaled up."""
    import math

    from export.config import TrainConfig
    from export.phase2 import counterfactual, settle_trace_scale
    from export.trainset import build_eval_tiles

    model, state = load_model(tiny_checkpoint)
    config = TrainConfig(**{**state["train_config"], "dataset": str(tiny_dataset)})
    tiles = build_eval_tiles(config, load_reconstructor(), "train", state["labels"], stride=32)
    index = torch.arange(len(tiles))
    target = state["neutral"]
    budget = 0.02
    trace = model.decoder.trace

    def changes(max_rms):
        with torch.no_grad():
            x, x_hat, z, z_hat = tiles.batch(index)
            out = model.encode(x, x_hat, z, z_hat)
            return counterfactual(model, x, x_hat, out["mu"], out["content"], target.expand_as(out["mu"]), max_rms)[1]

    with torch.no_grad():
        # the global decoder's share of a change is not scaled: off here, so the trace is all of it
        model.decoder.global_decoder.body[-1].weight.zero_()
        model.decoder.global_decoder.body[-1].bias.zero_()
        trace.out.weight.mul_(1e6)  # drifted in its weights
        trace.spectral.scale.fill_(1e6)
    weights = {name: value.clone() for name, value in trace.named_parameters()}
    conv_scale = trace.conv_scale.clone()
    before = changes(budget)
    scale = settle_trace_scale(model, tiles, index, target, budget)
    assert scale < 1e-3
    rms = changes(math.inf).pow(2).mean(dim=(1, 2, 3)).sqrt()
    assert float(torch.quantile(rms, 0.1)) == pytest.approx(budget, rel=1e-4)
    above = rms > budget * 1.01
    assert above.sum() >= 0.8 * len(rms)
    assert torch.allclose(changes(budget)[above], before[above], atol=1e-5)
    # the drift left the weights for the buffers: out.weight back at PyTorch's initial RMS, the rest as it was
    out = trace.out.weight
    assert float(out.pow(2).mean().sqrt()) == pytest.approx(1 / math.sqrt(3 * out[0].numel()), rel=1e-4)
    assert torch.allclose(out * trace.conv_scale, weights["out.weight"] * conv_scale * scale, rtol=1e-4)
    for name, value in trace.named_parameters():
        if name != "out.weight":
            assert torch.equal(value, weights[name]), name
    assert settle_trace_scale(model, tiles, index, target, budget * 1e3) == 1.0


def test_train_cli_switches_the_spectral_trace_on_and_off():
    from export.config import parse_config

    assert parse_config([]).spectral_trace is True
    assert parse_config(["--no-spectral-trace"]).spectral_trace is False


def test_init_from_adds_the_spectral_trace_to_a_checkpoint_without_it(tiny_dataset, tiny_checkpoint, tmp_path):
    """A checkpoint from before SpectralTrace is continued with it added (and trained); every
    weight outside the trace branch stays the source's."""
    from export.config import TrainConfig

    source = torch.load(tiny_checkpoint, weights_only=False)
    source["model"] = {k: v for k, v in source["model"].items() if ".spectral." not in k}
    source["model_config"] = {k: v for k, v in source["model_config"].items() if k != "spectral_trace"}
    source["train_config"] = {k: v for k, v in source["train_config"].items() if k != "spectral_trace"}
    old = tmp_path / "old.pt"
    torch.save(source, old)
    old_model, _ = load_model(old)
    assert old_model.decoder.trace.spectral is None
    path = run(TrainConfig(dataset=str(tiny_dataset), output=str(tmp_path / "grown"), init_from=str(old),
                           cf_steps=3, threads=2))
    model, state = load_model(path)
    assert state["train_config"]["spectral_trace"] and model.config.spectral_trace
    assert model.decoder.trace.spectral.gains.weight.abs().max() > 0
    for name, value in model.state_dict().items():
        if not name.startswith("decoder.trace."):
            assert torch.equal(value, old_model.state_dict()[name]), name


def test_cnn_surrogates_are_fitted_once_per_family_and_draw_and_read_what_their_family_reads(
        tiny_dataset, tiny_checkpoint, tmp_path):
    """--cnn-judges N: N surrogates each of pixel-cnn (raw pixels) and residual-cnn (the scaled pixel
    residual our attributor sees), fitted on the training tiles, saved for resuming, and trained
    against: the trace branch ends elsewhere than with the dct-linear surrogate alone."""
    from export.config import TrainConfig
    from export.judges import CNN_DRAWS, judge_train_tiles, load_or_fit_judges

    traces = {}
    for cnn in (0, 1):
        config = TrainConfig(dataset=str(tiny_dataset), output=str(tmp_path / f"cnn-{cnn}"), init_from=str(tiny_checkpoint),
                             cf_steps=3, w_judge=1.0, judges=1, cnn_judges=cnn, cnn_judge_steps=100, threads=2)
        model, state = load_model(run(config))
        traces[cnn] = {k: v for k, v in model.state_dict().items() if k.startswith("decoder.trace.")}
        assert state["train_config"]["cnn_judges"] == cnn
    assert any(not torch.equal(traces[0][k], traces[1][k]) for k in traces[0]), "the CNN surrogates change training"
    output = tmp_path / "cnn-1"
    assert sorted(p.name for p in output.glob("*-judge-*.pt")) == ["pixel-cnn-judge-0.pt", "residual-cnn-judge-0.pt"]
    saved = {p.name: torch.load(p) for p in output.glob("*-judge-*.pt")}
    pixel, residual = saved.values()
    assert any(not torch.equal(pixel[k], residual[k]) for k in pixel if pixel[k].is_floating_point())

    # Resuming loads the saved fits; each family reads its own input.
    config = replace(config, cf_steps=0, tile=32)  # the tiny checkpoint's tile
    labels = known_labels(tiny_dataset)[0]
    judges = load_or_fit_judges(config, labels)
    assert [(j.family, j.reads) for j in judges] == [("dct-linear", "image"), ("pixel-cnn", "image"),
                                                      ("residual-cnn", "residual")]
    assert torch.equal(judges[1].module.state_dict()["head.weight"], saved["pixel-cnn-judge-0.pt"]["head.weight"])
    tiles = build_train_tiles(tiny_config(tiny_dataset, tmp_path), load_reconstructor(), labels)
    x, x_hat, _, _ = tiles.batch(slice(0, 64))
    seen = {"residual": (x - x_hat) * model.config.residual_scale}
    with torch.no_grad():
        assert torch.equal(judges[2](x, seen), judges[2](torch.zeros_like(x), seen)), "reads the residual only"
        assert not torch.equal(judges[1](x, seen), judges[1](torch.zeros_like(x), seen))
        # fitted, not random networks: each names the sources of the tiles it was fitted on above chance
        clean, clean_labels = judge_train_tiles(config, labels, draw=CNN_DRAWS)
        fitted_on = {"pixel-cnn": (clean[:256].float() / 127.5 - 1, torch.as_tensor(clean_labels[:256])),
                     "residual-cnn": (x, tiles.labels[:64])}
        for judge in judges[1:]:
            inputs, truth = fitted_on[judge.family]
            accuracy = float((judge(inputs, seen).argmax(1) == truth).float().mean())
            assert accuracy > 1 / len(labels) + 0.15, (judge.family, accuracy)


def test_format_prior_offsets_undo_a_class_bias_and_only_a_held_out_fold_judges_them():
    import torch

    prior = load_bench("format_prior")
    generator = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 3, (600,), generator=generator)
    log_probs = torch.log_softmax(3 * torch.nn.functional.one_hot(labels, 3).float()
                                  + torch.randn(600, 3, generator=generator) * 1.5, dim=1)
    biased = log_probs + torch.tensor([2.0, 0.0, 0.0])  # class 0 favoured: the others lose tiles to it
    offsets = prior.fit_offsets(biased, labels, 0.0)
    assert abs(float(offsets.sum())) < 1e-4 and offsets[0] < offsets[1] - 1 and offsets[0] < offsets[2] - 1
    assert prior.accuracy(biased, labels, offsets) > prior.accuracy(biased, labels) + 0.05
    assert prior.fit_offsets(biased, labels, 100.0).abs().max() < offsets.abs().max() / 5, "L2 shrinks them"
    photos = [f"p{i % 6}" for i in range(600)]
    assert prior.cross_validated_gain(biased, labels, photos, 0.0, folds=3) > 0.05
    assert prior.cross_validated_gain(log_probs, labels, photos, 0.0, folds=3) < 0.02, "nothing to undo, no gain"


def test_format_prior_bench_writes_every_condition_and_strength(tiny_checkpoint, tiny_dataset, tmp_path, capsys):
    prior = load_bench("format_prior")
    output = tmp_path / "prior.json"
    assert prior.main(["--model", str(tiny_checkpoint), "--dataset", str(tiny_dataset), "--qualities", "90", "50",
                       "--strengths", "0", "0.1", "--folds", "2", "--output", str(output)]) == 0
    result = json.loads(output.read_text())
    conditions = {"lossless", "jpeg90", "jpeg50"}
    assert set(result["accuracy_without_offsets"]["test"]) == conditions
    assert [row["strength"] for row in result["strengths"]] == [0, 0.1]
    for row in result["strengths"]:
        for key in ("val_cv_gain", "test_gain", "lossless_offsets_everywhere"):
            assert set(row[key]) == conditions and all(-1 <= v <= 1 for v in row[key].values())
    assert result["strengths"][0]["lossless_offsets_everywhere"]["lossless"] == result["strengths"][0]["test_gain"]["lossless"]
    assert result["chosen_by_val_cv"]["strength"] in (0, 0.1)
    with pytest.raises(SystemExit):
        prior.main(["--model", str(tiny_checkpoint), "--dataset", str(tiny_dataset), "--folds", "3",
                    "--output", str(tmp_path / "x.json")])
    assert "has 2 photos, fewer" in capsys.readouterr().err
    assert prior.main(["--model", str(tmp_path / "nope.pt"), "--dataset", str(tiny_dataset)]) == 2


def test_split_photos_names_each_photo_once_and_refuses_a_missing_split(tiny_dataset):
    from export.data import load_split_images, split_photos
    from runtime.errors import InputError

    labels = json.loads((tiny_dataset / "build.json").read_text())["labels"]
    photos = split_photos(tiny_dataset, "val", labels)
    assert len(photos) == 2 and photos == sorted(set(photos))
    assert list(load_split_images(tiny_dataset, "val", labels)) == photos
    with pytest.raises(InputError, match="no such split"):
        split_photos(tiny_dataset, "nope", labels)
