"""Checkpoints: every N epochs, atomic, resumed to exactly the uninterrupted weights,
also after a real SIGKILL (deltaprop.train.checkpoint)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from deltaprop import Callback, Network, Trainer, get_optimizer
from deltaprop.io import ModelFileError, load, save
from deltaprop.optim.schedules import get_schedule
from deltaprop.train import Checkpoint, load_checkpoint, resume, save_checkpoint
from tests.filetools import retensor, rewrite, split_file


def dataset() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    X = rng.normal(size=(150, 5))
    labels = (X[:, 0] + X[:, 1] * X[:, 2] > 0).astype(int) + (X[:, 3] > 1)
    Y = np.eye(3)[labels]
    return X[:120], Y[:120], X[120:], Y[120:]


SETUPS = {
    "adam-step-dropout-bn": lambda: dict(
        optimizer="adam",
        learning_rate=0.01,
        schedule=get_schedule("step", step_size=2, gamma=0.7),
        batch_size=16,
        epochs=8,
    ),
    "rmsprop-plateau-l2": lambda: dict(
        optimizer="rmsprop",
        learning_rate=0.02,
        schedule="plateau",
        batch_size=32,
        epochs=10,
        class_weight="balanced",
        alpha=1e-3,
    ),
    "nesterov-early-stopping": lambda: dict(
        optimizer="nesterov",
        learning_rate=0.2,
        batch_size=32,
        epochs=30,
        early_stopping=True,
        n_iter_no_change=2,
    ),
}


def build_trainer(setup: str, net_seed: int, seed: int, callbacks: list[Callback]) -> Trainer:
    net = Network([5, 12, 8, 3], ["relu", "tanh", "softmax"], "ce", seed=net_seed,
                  dropout=[0.2, 0.1], batch_norm=[True, False])  # fmt: skip
    return Trainer(net, seed=seed, callbacks=callbacks, **SETUPS[setup]())


class Crash(Callback):
    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, float]) -> None:
        if epoch == self.epoch:
            raise RuntimeError("simulated crash")


def assert_same_trainer(a: Trainer, b: Trainer) -> None:
    np.testing.assert_array_equal(a.net.parameters, b.net.parameters)
    for (_, va), (_, vb) in zip(a.net.buffers(), b.net.buffers(), strict=True):
        np.testing.assert_array_equal(va, vb)
    sa, sb = a.state_dict(), b.state_dict()
    assert sa["history"] == sb["history"]
    assert sa["epoch"] == sb["epoch"] and sa["rng"] == sb["rng"]
    for key, value in sa["optimizer"].items():
        np.testing.assert_array_equal(value, sb["optimizer"][key])
    assert a.net.rng.bit_generator.state == b.net.rng.bit_generator.state


@pytest.mark.parametrize("setup", sorted(SETUPS))
def test_resume_after_a_crash_gives_the_same_weights(tmp_path: Path, setup: str) -> None:
    X, Y, Xv, Yv = dataset()
    full = build_trainer(setup, 0, 1, [])
    full.fit(X, Y, validation_data=(Xv, Yv))

    path = tmp_path / "run.ckpt"
    crashed = build_trainer(setup, 0, 1, [Checkpoint(path, every=1), Crash(2)])
    with pytest.raises(RuntimeError, match="simulated crash"):
        crashed.fit(X, Y, validation_data=(Xv, Yv))

    fresh = build_trainer(setup, 123, 456, [Checkpoint(path, every=1)])  # other seeds
    assert not np.array_equal(fresh.net.parameters, full.net.parameters)
    history = resume(fresh, path, X, Y, validation_data=(Xv, Yv))
    assert history is fresh.history and fresh.epoch == full.epoch
    if setup == "nesterov-early-stopping":  # stopped early, best weights restored
        assert full.epoch < 30 and full.best_epoch is not None and full.best_epoch < full.epoch
    assert fresh.epochs == SETUPS[setup]()["epochs"]  # restored after resume
    assert_same_trainer(fresh, full)

    # The final checkpoint says the run is finished: resuming again trains no further.
    again = build_trainer(setup, 5, 6, [])
    resume(again, path, X, Y, validation_data=(Xv, Yv))
    assert_same_trainer(again, full)


def test_checkpoint_every_n_epochs(tmp_path: Path) -> None:
    X, Y, _, _ = dataset()
    path = tmp_path / "every3.ckpt"
    seen = []

    class Spy(Callback):
        def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, float]) -> None:
            if path.exists():
                seen.append((epoch, path.stat().st_mtime_ns, path.read_bytes()))

    trainer = build_trainer(
        "adam-step-dropout-bn", 0, 1, [Checkpoint(path, every=3, at_end=False), Spy()]
    )
    trainer.fit(X, Y)
    probe = build_trainer("adam-step-dropout-bn", 0, 1, [])
    info = load_checkpoint(path, probe)
    run = info.pop("run")
    assert info == {"epoch": 6, "target_epoch": 8, "finished": False}
    assert set(run) == {"seconds"} and run["seconds"] > 0
    assert next(e for e, _, _ in seen) == 2  # first written after the third epoch
    contents = {e: c for e, _, c in seen}
    assert contents[2] == contents[3] == contents[4] != contents[5]


def test_only_rank_zero_writes(tmp_path: Path) -> None:
    trainer = build_trainer("adam-step-dropout-bn", 0, 1, [])
    assert save_checkpoint(trainer, tmp_path / "r1.ckpt", rank=1) is None
    trainer.communicator = type("Comm", (), {"rank": 2, "size": 4})()  # type: ignore[assignment]
    assert save_checkpoint(trainer, tmp_path / "r2.ckpt") is None
    assert save_checkpoint(trainer, tmp_path / "r0.ckpt", rank=0) == tmp_path / "r0.ckpt"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r0.ckpt"]
    X, Y, _, _ = dataset()
    Trainer(trainer.net, epochs=2, callbacks=[Checkpoint(tmp_path / "cb.ckpt", rank=3)]).fit(X, Y)
    assert not (tmp_path / "cb.ckpt").exists()


def test_checkpoint_mismatches_leave_the_trainer_untouched(tmp_path: Path) -> None:
    X, Y, _, _ = dataset()
    source = build_trainer("adam-step-dropout-bn", 0, 1, [])
    source.fit(X, Y)
    path = save_checkpoint(source, tmp_path / "run.ckpt")
    assert path is not None

    other_net = Trainer(Network([5, 12, 3], "relu", "ce", seed=0))
    with pytest.raises(
        ModelFileError,
        match="different network \\(differs in activations, batch_norm, dropout, init, layer_sizes\\)",
    ):
        load_checkpoint(path, other_net)
    sgd = build_trainer("adam-step-dropout-bn", 2, 3, [])
    sgd.optimizer = get_optimizer("sgd")
    before = sgd.net.parameters.copy()
    with pytest.raises(ModelFileError, match="optimizer 'Adam' but the trainer has 'SGD'"):
        load_checkpoint(path, sgd)
    np.testing.assert_array_equal(sgd.net.parameters, before)
    with pytest.raises(
        ModelFileError, match="the file's kind is 'model', expected 'checkpoint'; use load"
    ):
        load_checkpoint(save(source.net, tmp_path / "m.safetensors"), sgd)
    with pytest.raises(ModelFileError, match="kind is 'checkpoint', expected 'model'"):
        load(path)


def test_bad_trainer_state_is_rolled_back(tmp_path: Path) -> None:
    X, Y, _, _ = dataset()
    source = build_trainer("adam-step-dropout-bn", 0, 1, [])
    source.fit(X, Y)
    path = save_checkpoint(source, tmp_path / "run.ckpt")
    assert path is not None
    target = build_trainer("adam-step-dropout-bn", 9, 9, [])
    target.fit(X[:40], Y[:40])
    params, state = target.net.parameters.copy(), target.state_dict()

    header, data = split_file(path.read_bytes())
    info = json.loads(header["__metadata__"]["checkpoint"])
    info["trainer_state"]["optimizer"]["beta_1"] = 7.0  # rejected by Adam.load_state_dict
    header["__metadata__"]["checkpoint"] = json.dumps(info)
    with pytest.raises(ModelFileError, match=r"trainer state does not fit: .*beta_1"):
        load_checkpoint(rewrite(path, header, data), target)
    np.testing.assert_array_equal(target.net.parameters, params)
    assert target.state_dict()["history"] == state["history"]
    assert target.state_dict()["optimizer"]["t"] == state["optimizer"]["t"]


@pytest.mark.parametrize(
    ("field", "value", "shown"),
    [
        ("trainer_state.rng", {"bit_generator": "MT19937"}, '"MT19937"'),
        ("trainer_state.rng", "state", '"state"'),
        ("trainer_state.rng.state.state", -5, '"state": -5'),  # was OverflowError, exit 1
        ("trainer_state.rng.state.inc", "x", '"inc": "x"'),  # TypeError("unsupported operand")
        ("network_rng", [1, 2], r"\[1, 2\]"),  # TypeError('state must be a dict')
    ],
)
def test_a_bad_generator_state_is_named_and_shown_as_the_file_holds_it(
    tmp_path: Path, field: str, value: object, shown: str
) -> None:
    X, Y, _, _ = dataset()
    source = build_trainer("adam-step-dropout-bn", 0, 1, [])
    source.fit(X, Y)
    path = save_checkpoint(source, tmp_path / "run.ckpt")
    assert path is not None
    header, data = split_file(path.read_bytes())
    info = json.loads(header["__metadata__"]["checkpoint"])
    *outer, last = field.split(".")
    where = info
    for key in outer:
        where = where[key]
    where[last] = value
    header["__metadata__"]["checkpoint"] = json.dumps(info)
    name = "network_rng" if field == "network_rng" else "trainer_state.rng"
    with pytest.raises(
        ModelFileError, match=rf"{name} must be a PCG64 generator state .*; got .*{shown}"
    ):
        load_checkpoint(
            rewrite(path, header, data), build_trainer("adam-step-dropout-bn", 0, 1, [])
        )


def test_optimizer_state_must_fit_the_network(tmp_path: Path) -> None:
    X, Y, _, _ = dataset()
    source = build_trainer("adam-step-dropout-bn", 0, 1, [])
    source.fit(X, Y)
    path = save_checkpoint(source, tmp_path / "run.ckpt")
    assert path is not None
    retensor(
        path, lambda t: t.update({"trainer/optimizer/exp_avg": t["trainer/optimizer/exp_avg"][:5]})
    )
    with pytest.raises(ModelFileError, match=r"'trainer/optimizer/exp_avg' has shape \(5,\)"):
        load_checkpoint(path, build_trainer("adam-step-dropout-bn", 0, 1, []))


CHILD = textwrap.dedent(
    """
    import os, signal, sys
    import numpy as np
    from deltaprop import Callback, Network, Trainer, get_optimizer
    from deltaprop.io import save
    from deltaprop.train import Checkpoint, resume
    from deltaprop.optim.schedules import get_schedule

    mode, ckpt, out = sys.argv[1:4]
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 6))
    Y = np.eye(3)[(X[:, 0] * X[:, 1] > 0).astype(int) + (X[:, 2] > 0.5)]

    class KillMidEpoch(Callback):
        def on_batch_end(self, trainer, batch, logs):
            if trainer.epoch == 5 and batch == 4:  # 5 epochs done, in the middle of the 6th
                os.kill(os.getpid(), signal.SIGKILL)

    def trainer(seed, callbacks):
        net = Network([6, 16, 8, 3], ["gelu", "elu", "softmax"], "ce", seed=seed,
                      dropout=[0.2, 0.1], batch_norm=[True, True])
        return Trainer(net, "adamw", learning_rate=0.01, batch_size=32, epochs=12, seed=seed + 1,
                       schedule=get_schedule("cosine", t_max=12), callbacks=callbacks)

    if mode == "full":
        t = trainer(0, [])
        t.fit(X, Y)
    elif mode == "crash":
        t = trainer(0, [Checkpoint(ckpt, every=1), KillMidEpoch()])
        t.fit(X, Y)
        sys.exit("not killed")
    else:
        t = trainer(99, [Checkpoint(ckpt, every=1)])
        resume(t, ckpt, X, Y)
    save(t.net, out)
    """
)


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
def test_sigkilled_run_resumes_to_identical_weights(tmp_path: Path) -> None:
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    ckpt = tmp_path / "run.ckpt"
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }

    def child(mode: str) -> subprocess.CompletedProcess[str]:
        out = tmp_path / f"{mode}.safetensors"
        return subprocess.run(
            [sys.executable, str(script), mode, str(ckpt), str(out)],
            env=env, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip

    killed = child("crash")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert not (tmp_path / "crash.safetensors").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["child.py", "run.ckpt"]  # no temp files
    probe = Trainer(Network([6, 16, 8, 3], ["gelu", "elu", "softmax"], "ce", dropout=[0.2, 0.1],
                            batch_norm=[True, True]), "adamw",
                    schedule=get_schedule("cosine", t_max=12))  # fmt: skip
    info = load_checkpoint(ckpt, probe)
    assert info.pop("run")["seconds"] > 0
    assert info == {"epoch": 5, "target_epoch": 12, "finished": False}

    for mode in ("resume", "full"):
        done = child(mode)
        assert done.returncode == 0, done.stderr
    resumed, full = load(tmp_path / "resume.safetensors"), load(tmp_path / "full.safetensors")
    assert np.array_equal(resumed.parameters, full.parameters)
    for (_, a), (_, b) in zip(resumed.buffers(), full.buffers(), strict=True):
        assert np.array_equal(a, b)
    assert not np.array_equal(full.parameters, probe.net.parameters)  # 7 more epochs trained


class StopAt13(Callback):
    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, float]) -> None:
        trainer.stop_training = epoch == 12


def _ended_run(tmp_path: Path, callbacks: list[Callback], **settings: object) -> tuple:
    X, Y, Xv, Yv = dataset()
    path = tmp_path / "ended.ckpt"

    def trainer(seed: int, cbs: list[Callback]) -> Trainer:
        net = Network([5, 6, 3], "tanh", "ce", seed=seed)
        return Trainer(net, "adam", learning_rate=0.01, batch_size=32, seed=seed, callbacks=cbs,
                       **{"epochs": 30, **settings})  # type: ignore[arg-type]  # fmt: skip

    first = trainer(0, [*callbacks, Checkpoint(path, every=5)])
    done = first.fit(X, Y, validation_data=(Xv, Yv))
    again = trainer(1, [])
    h = resume(again, path, X, Y, validation_data=(Xv, Yv))
    assert h is again.history and h.loss == done.loss  # nothing trained
    np.testing.assert_array_equal(again.net.parameters, first.net.parameters)
    return done, h


def test_resuming_a_run_a_callback_ended_says_so(tmp_path: Path) -> None:
    done, h = _ended_run(tmp_path, [StopAt13()])
    assert len(h.loss) == 13 and done.stop_reason == h.stop_reason == "callback"
    assert h.stop_message == (
        "nothing resumed: the run in the checkpoint had already ended; "
        "stopped at epoch 13: a callback (StopAt13) set stop_training"
    )
    assert h.stop is not None and h.stop.already_ended and not done.stop.already_ended


def test_resuming_a_run_that_stopped_early_or_at_its_limit_says_so(tmp_path: Path) -> None:
    done, h = _ended_run(tmp_path, [], early_stopping=True, n_iter_no_change=1, tol=1.0)
    assert h.stop_reason == "early_stopping" and len(h.loss) < 30
    assert h.stop_message == "nothing resumed: the run in the checkpoint had already ended; " + (
        done.stop_message or ""
    )
    _, h = _ended_run(tmp_path, [], epochs=10, tol=0.0, n_iter_no_change=100)
    assert (h.stop_reason, h.stop_message) == (
        "epochs",
        "nothing resumed: the run in the "
        "checkpoint had already ended; stopped at epoch 10: reached the epoch limit (epochs=10)",
    )


def test_an_ended_run_without_its_stop_record_or_final_checkpoint(tmp_path: Path) -> None:
    X, Y, _, _ = dataset()
    path = tmp_path / "run.ckpt"

    def trainer(cbs: list[Callback]) -> Trainer:
        return Trainer(Network([5, 6, 3], "tanh", "ce", seed=0), epochs=30, seed=0, callbacks=cbs)

    trainer([StopAt13(), Checkpoint(path)]).fit(X, Y)
    header, data = split_file(path.read_bytes())
    info = json.loads(header["__metadata__"]["checkpoint"])
    assert info["trainer_state"]["stop"]["reason"] == "callback"
    del info["trainer_state"]["stop"]  # as a checkpoint written before it was kept
    header["__metadata__"]["checkpoint"] = json.dumps(info)
    h = resume(trainer([]), rewrite(path, header, data), X, Y)
    assert (h.stop_reason, h.stop_message) == ("ended", "nothing resumed: the run in the "
        "checkpoint had already ended; stopped at epoch 13 (why is not recorded: the checkpoint "
        "was written before checkpoints kept their stop record)")  # fmt: skip
    info["trainer_state"]["stop"] = {"reason": "bored", "epoch": 13}
    header["__metadata__"]["checkpoint"] = json.dumps(info)
    with pytest.raises(ModelFileError, match=r"not a stop record: .*bored"):
        load_checkpoint(rewrite(path, header, data), trainer([]))
    trainer([Checkpoint(path, every=10, at_end=False)]).fit(X[:60], Y[:60])  # no final one
    h = resume(trainer([]), path, X[:60], Y[:60])
    assert len(h.loss) == 30 and h.stop_message == ("nothing resumed: the run in the checkpoint "
        "had already ended; stopped at epoch 30: reached the epoch limit (epochs=30)")  # fmt: skip
