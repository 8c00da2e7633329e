"""Smoke test of the benchmark matrix harness (bench/matrix.py): a tiny run, not timed."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.fixture(scope="module")
def matrix():  # type: ignore[no-untyped-def]
    sys.path.insert(0, str(BENCH))
    try:
        import matrix as module
    finally:
        sys.path.remove(str(BENCH))
    return module


def test_quick_row_with_one_system_writes_json(matrix, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "m.json"
    argv = ["--quick", "--rows", "adam-digits", "dropout", "--systems", "deltaprop-trainer",
            "scikit-learn", "pytorch-eager", "--json", str(out)]  # fmt: skip
    assert matrix.main(argv) == 0
    data = json.loads(out.read_text())
    rows = {r["row"]: r for r in data["rows"]}
    assert list(rows) == ["adam-digits", "dropout"]
    plain, dropout = rows["adam-digits"], rows["dropout"]
    assert set(plain["sps"]) == {"deltaprop-trainer", "scikit-learn", "pytorch-eager"}
    assert plain["sps"]["deltaprop-trainer"] > 0
    # PyTorch starts from deltaprop's weights with the same Adam: after the same 7 steps
    # (other shuffles) the training losses agree closely, and both are below the initial
    # loss of ~log(10)
    ours, torch = plain["loss"]["deltaprop-trainer"], plain["loss"]["pytorch-eager"]
    assert 1.5 < ours < 2.3 and abs(ours - torch) < 0.02 * ours
    assert plain["n_samples"] == 1400 and plain["epochs"] == 1
    # scikit-learn has no dropout: absent from the race, shown as "—"
    assert set(dropout["sps"]) == {"deltaprop-trainer", "pytorch-eager"}
    assert dropout["absent"]["scikit-learn"].startswith("—")
    text = capsys.readouterr().out
    assert "== dropout" in text and "| dropout: dropout 0.2 |" in text
    assert data["gemm_peak"]["float32"] > 0


def test_flops_per_sample_counts_forward_dw_and_da(matrix) -> None:  # type: ignore[no-untyped-def]
    # 64-100-10: forward and dW 2·(6400 + 1000) MACs, dA 1000 (not the input layer's)
    assert matrix.flops_per_sample([64, 100, 10]) == 2.0 * (2 * 7400 + 1000)


def test_rows_share_initial_weights_with_deltaprop(matrix) -> None:  # type: ignore[no-untyped-def]
    import numpy as np
    from peers_matrix import initial_params, reference_network

    cfg = matrix.build("batchnorm", quick=True)
    params = initial_params(cfg, seed=3)
    net = reference_network(cfg, seed=3)
    np.testing.assert_array_equal(params[0]["W"], net.dense[0].params["W"])
    assert set(params[0]) == {"W", "b", "gamma", "beta"} and set(params[1]) == {"W", "b"}


def test_race_orders_change_so_no_system_always_follows_the_same(matrix, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from peers_matrix import MSystem

    log: list[str] = []

    def fake(name: str) -> MSystem:
        class Fake(MSystem):
            def prepare(self, seed: int) -> None:
                pass

            def train(self) -> None:
                log.append(name)

        sut = Fake(cfg)
        sut.name = name
        return sut

    cfg = matrix.build("adam-digits", quick=True)
    names = ["a", "b", "c", "d"]
    monkeypatch.setattr(matrix, "systems_for", lambda c, n: ({k: fake(k) for k in names}, {}))
    monkeypatch.setattr(matrix, "final_loss", lambda c, s: None)
    res = matrix.race(cfg, names, rounds=7, settle=0.0, peak={"float32": 1e9})
    rounds = [log[i : i + 4] for i in range(0, len(log), 4)]
    assert len(rounds) == 8 and all(sorted(r) == names for r in rounds)
    behind_a = {r[r.index("a") - 1] if r.index("a") else None for r in rounds}
    assert len(behind_a) > 1  # a rotation would put the same system before "a" every round
    assert set(res["sps"]) == set(names)


@pytest.mark.slow
def test_csv_fit_does_the_commands_work_in_a_new_process(matrix, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import os
    import subprocess

    cfg = matrix.build("command", quick=True, workdir=tmp_path)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(Path(__file__).resolve().parents[2] / "src"), os.environ.get("PYTHONPATH", "")])}  # fmt: skip
    done = subprocess.run(
        [sys.executable, str(BENCH / "csv_fit.py"), "deltaprop", str(cfg.extra["csv"]),
         "--hidden", "8", "--epochs", "1", "--batch-size", "128", "--out", str(tmp_path / "m")],
        check=True, capture_output=True, text=True, env=env,
    )  # fmt: skip
    result = json.loads(done.stdout.strip().splitlines()[-1])
    # one epoch from scikit-learn's initial weights: 0.570 (scikit-learn's own pipeline 0.570)
    assert result["rows"] == 12_800 and 0.55 < result["accuracy"] <= 1.0
    assert set(result["phases"]) == {"imports", "read_csv", "preprocess+fit",
                                     "training metrics", "model file", "total"}  # fmt: skip
    assert (tmp_path / "m" / "model.safetensors").stat().st_size > 0
