"""Speed paths that must not change a number: `learn_ahead` (the next update prepared while the runner
collects), `parallel_learner` (independent parts of an update on a side thread) and the acting draw of a
uniformly random available action."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pytest
import torch

import main
from args_helper import applicable
from components.action_selectors import uniform_scores
from components.episode_buffer import EpisodeBatch
from components.replay_buffer import ReplayBuffer
from conftest import FAST
from run import Experiment, prepare_args
from utils.logging import Logger, get_console_logger
from utils.side_thread import SideThread


def make_experiment(tmp_path: Any, alg: str, *overrides: str) -> Experiment:
    config = main.prepare_config([f"--config={alg}", "--env-config=lbf", "with", *applicable(alg, "lbf", [*FAST, "seed=3", *overrides])])
    args = prepare_args(config, get_console_logger(), str(tmp_path), "tok")
    return Experiment(args, Logger(get_console_logger()))


def learner_state(exp: Experiment) -> dict[str, torch.Tensor]:
    learner = exp.learner
    parts = {"agent": learner.mac.agent, "mixer": learner.mixer, "target_agent": learner.target_mac.agent,
             "world_model": getattr(learner, "world_model", None)}
    return {f"{name}.{k}": v.clone() for name, part in parts.items() if part is not None for k, v in part.state_dict().items()}


def train_for(exp: Experiment, iterations: int) -> tuple[dict[str, torch.Tensor], dict[str, list]]:
    try:
        for _ in range(iterations):
            exp.iteration(0.0, 0)
        exp.schedule.finish_learning()  # the world model's last training runs beside the loop
    finally:
        exp.runner.close_env()
    stats = {k: v for k, v in exp.logger.stats.items() if k != "steps_per_sec"}
    return learner_state(exp), stats


def assert_same_run(a: tuple[dict[str, torch.Tensor], dict[str, list]], b: tuple[dict[str, torch.Tensor], dict[str, list]]) -> None:
    (params_a, stats_a), (params_b, stats_b) = a, b
    assert params_a.keys() == params_b.keys()
    different = [k for k in params_a if not torch.equal(params_a[k], params_b[k])]
    assert not different, f"parameters differ: {different[:5]}"
    assert stats_a == stats_b


def record_prepare_threads(exp: Experiment) -> list[str]:
    """The thread each `prepare_update` call runs on."""
    names: list[str] = []
    original = exp.learner.prepare_update

    def prepare(*args: Any, **kwargs: Any) -> Any:
        names.append(threading.current_thread().name)
        return original(*args, **kwargs)

    exp.learner.prepare_update = prepare
    return names


def record_world_model_threads(exp: Experiment) -> list[str]:
    """The thread (name prefix) each world-model optimiser step runs on."""
    names: list[str] = []
    part = exp.learner.model_part
    original = part.step

    def step(*args: Any, **kwargs: Any) -> Any:
        names.append(threading.current_thread().name.split("_")[0])
        return original(*args, **kwargs)

    part.step = step
    return names


@pytest.mark.parametrize(
    "alg,overrides",
    [("qmix", ["runner=episode"]), ("qmix", ["runner=parallel", "batch_size_run=2"]),
     ("salemb", ["imagine_start=0", "imagine_gate=False"])],
)
def test_learning_ahead_changes_no_number(tmp_path: Any, alg: str, overrides: list[str]) -> None:
    # buffer of 16, batches of 4: the buffer wraps, and some batches read a slot being collected
    iterations = 20 if "batch_size_run=2" in overrides else 40
    off = make_experiment(tmp_path, alg, "learn_ahead=False", *overrides)  # each run seeds torch's global generator
    without = train_for(off, iterations)
    on = make_experiment(tmp_path, alg, "learn_ahead=True", *overrides)
    threads = record_prepare_threads(on)
    fits = record_world_model_threads(on) if alg == "salemb" else []
    assert on.schedule.learns_ahead and not off.schedule.learns_ahead
    assert on.runner.before_env_restart == on.schedule.wait_for_side_threads  # no worker is forked mid-update
    with_ahead = train_for(on, iterations)
    assert_same_run(without, with_ahead)
    ahead = sum(name != threading.main_thread().name for name in threads)
    assert ahead > 0 and len(threads) - ahead > 0, threads  # both paths ran: prepared ahead, and after the insert
    assert on.learner.train_steps == off.learner.train_steps > 0
    if alg == "salemb":  # the world model's own schedule trains on the side thread, beside the test and the collection
        assert fits and set(fits) == {"learn-ahead"}, fits
        assert off.learner.model_part.train_steps == on.learner.model_part.train_steps > 0 and "wm_train_steps" in with_ahead[1]


def test_parallel_learner_changes_no_number_for_qmix_and_salemb(tmp_path: Any) -> None:
    for alg, extra in (("qmix", []), ("salemb", ["imagine_start=0", "imagine_gate=False"])):
        runs = [train_for(make_experiment(tmp_path, alg, f"parallel_learner={flag}", "learn_ahead=False", *extra), 30)
                for flag in (False, True)]
        assert_same_run(*runs)
        assert "loss_td" in runs[0][1] and (alg == "qmix" or "loss_td_imagined" in runs[0][1])


def test_learn_ahead_is_off_where_it_could_change_numbers(tmp_path: Any) -> None:
    for alg, overrides in (("salemb", ["wm_rng=global"]), ("qmix", ["use_per=True"]), ("qmix", ["overlap_learning=True"]),
                           ("qmix", ["updates_per_env_step=0.1"]), ("qmix", ["sample_window=4"])):
        exp = make_experiment(tmp_path, alg, *overrides)
        try:
            assert not exp.schedule.learns_ahead, (alg, overrides)
        finally:
            exp.runner.close_env()


@pytest.mark.parametrize("overrides,holds", [
    (["act_backend=numpy", "runner=episode"], True),  # numpy acting in this process holds the GIL
    (["act_backend=numpy", "runner=parallel"], False),  # the loop waits on its workers' pipes without it
    (["act_backend=torch", "runner=episode"], False),  # torch releases it in every kernel
])
def test_an_update_prepared_beside_a_collection_that_holds_the_gil_lets_go_in_its_backward(
    tmp_path: Any, overrides: list[str], holds: bool
) -> None:
    exp = make_experiment(tmp_path, "qmix", *overrides)
    try:
        assert exp.runner.collection_holds_gil is holds
        assert exp.schedule.learns_ahead and exp.learner.let_go_in_backward is holds
    finally:
        exp.runner.close_env()


def test_the_world_models_own_generator_leaves_the_global_one_alone_and_is_checkpointed(tmp_path: Any) -> None:
    for rng in ("global", "own"):
        exp = make_experiment(tmp_path, "salemb", f"wm_rng={rng}", "batch_size=2", "buffer_size=64")
        try:
            while not exp.schedule.can_learn():
                exp.iteration(0.0, 0)
            exp.schedule.finish_learning()
            batch = exp.buffer.sample(2)
            model = exp.learner.world_model
            saved = exp.learner.state_dict()
            before = torch.get_rng_state()
            first, _ = model.loss(batch)
            assert torch.equal(torch.get_rng_state(), before) == (rng == "own")
            model.set_rng_state(saved["wm_rng"])
            torch.set_rng_state(before)
            assert torch.equal(model.loss(batch)[0], first)  # the same draws again from the saved state
            assert (saved["wm_rng"] is None) == (rng == "global")
        finally:
            exp.runner.close_env()


def test_an_error_in_the_update_prepared_ahead_reaches_the_loop(tmp_path: Any) -> None:
    exp = make_experiment(tmp_path, "qmix", "batch_size=2", "buffer_size=64")

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(f"prepare_update failed on thread {threading.current_thread().name}")

    try:
        while not exp.schedule.can_learn():
            exp.iteration(0.0, 0)
        exp.learner.prepare_update = broken
        with pytest.raises(RuntimeError, match="failed on thread learn-ahead"):
            for _ in range(5):
                exp.iteration(0.0, 0)
    finally:
        exp.runner.close_env()


def test_a_draw_ahead_of_an_insert_equals_the_draw_after_it() -> None:
    scheme = {"x": {"vshape": (1,)}}

    def buffer() -> ReplayBuffer:
        return ReplayBuffer(scheme, {}, buffer_size=10, max_seq_length=3, seed=7)

    ahead, after = buffer(), buffer()
    for step in range(12):  # 3 new episodes a time: fills, then wraps around
        new = EpisodeBatch(scheme, {}, 3, 3)
        new.update({"x": torch.full((3, 3, 1), float(step + 1))})
        if ahead.episodes_after(3) < 4:
            for b in (ahead, after):
                b.insert_episode_batch(new)
            continue
        slots = ahead.next_slots(3)
        drawn = ahead.sample_indices(4, ahead.episodes_after(3))
        ahead.insert_episode_batch(new)
        after.insert_episode_batch(new)
        assert np.array_equal(drawn, after.sample_indices(4))
        assert ahead.episodes_in_buffer == after.episodes_in_buffer
        written = np.flatnonzero(ahead["x"][:, 0, 0].numpy() == step + 1)
        assert sorted(written) == sorted(slots.tolist())
    with pytest.raises(ValueError, match="cannot sample 11 episodes from a buffer holding 10"):
        ahead.sample_indices(11)


def test_windows_drawn_at_once_and_copied_later_equal_windows_sampled_one_by_one() -> None:
    scheme = {"x": {"vshape": (1,)}}

    def buffer() -> ReplayBuffer:
        b = ReplayBuffer(scheme, {}, buffer_size=6, max_seq_length=5, seed=3)
        for i in range(2):
            new = EpisodeBatch(scheme, {}, 3, 5)
            steps = 4 - i  # 3 or 2 transitions per episode
            new.update({"x": torch.arange(3.0 * steps).view(3, steps, 1) + 100 * i}, ts=slice(0, steps))
            b.insert_episode_batch(new)
        return b

    one_by_one, at_once = buffer(), buffer()
    sampled = [one_by_one.sample_windows(8, 3) for _ in range(4)]
    drawn = at_once.draw_windows(8, 3, count=4)
    for window, draw in zip(sampled, drawn, strict=True):
        copied = at_once.windows_at(draw, 3)
        assert torch.equal(window["x"], copied["x"]) and torch.equal(window["filled"], copied["filled"])
    assert np.array_equal(one_by_one.rng.random(3), at_once.rng.random(3))  # the generator is left in the same state


def test_uniform_scores_draw_as_multinomial_does() -> None:
    gen = torch.Generator().manual_seed(0)
    avail = (torch.rand(500, 3, 7, generator=gen) < 0.4).int()
    avail[..., 2] = 1  # at least one action available per agent
    torch.manual_seed(11)
    expected = torch.multinomial(avail.reshape(-1, 7).float(), 1).view(500, 3)
    after_expected = torch.rand(4)
    torch.manual_seed(11)
    drawn = uniform_scores(avail.numpy() != 0, torch.empty(avail.shape).exponential_().numpy()).argmax(axis=-1)
    assert np.array_equal(drawn, expected.numpy()) and torch.equal(torch.rand(4), after_expected)  # same draws, same stream after
    assert bool(np.take_along_axis(avail.numpy(), drawn[..., None], -1).all())
    draws = np.random.default_rng(0).exponential(size=(20000, 4)).astype(np.float32)
    counts = np.bincount(uniform_scores(np.ones((20000, 4), dtype=bool), draws).argmax(axis=-1), minlength=4)
    assert counts.min() > 0.23 * 20000 and counts.max() < 0.27 * 20000


@pytest.mark.parametrize("epsilon", [0.0, 0.3, 1.0])
def test_epsilon_greedy_in_numpy_equals_the_torch_chain(epsilon: float) -> None:
    """The selector's numpy choice is the torch ops' it replaced (masked argmax; a uniform draw against
    epsilon, then multinomial by exponential draws), number for number, Q-value ties and all."""
    from types import SimpleNamespace

    from components.action_selectors import EpsilonGreedyActionSelector

    selector = EpsilonGreedyActionSelector(SimpleNamespace(
        epsilon_start=epsilon, epsilon_finish=epsilon, epsilon_anneal_time=10, epsilon_decay="linear", test_noise=0.0))
    gen = torch.Generator().manual_seed(1)
    q = torch.randint(0, 3, (64, 3, 6), generator=gen).float()  # many ties
    avail = (torch.rand(64, 3, 6, generator=gen) < 0.5).int()
    avail[..., 4] = 1
    torch.manual_seed(5)
    greedy = q.masked_fill(avail == 0, -float("inf")).argmax(dim=-1)
    if epsilon > 0:
        rand = torch.rand(greedy.shape)
        picked = (avail.float() / torch.empty(avail.shape).exponential_()).argmax(dim=-1)
        greedy = torch.where(rand < epsilon, picked, greedy)
    after = torch.rand(3)
    torch.manual_seed(5)
    chosen = selector.select_action(q, avail, t_env=0)
    assert chosen.dtype == torch.int64 and torch.equal(chosen, greedy) and torch.equal(torch.rand(3), after)


def test_side_thread_runs_on_its_own_thread_only_when_enabled() -> None:
    def where(x: int) -> tuple[int, str]:
        return x + 1, threading.current_thread().name

    assert SideThread(False).submit(where, 1).result() == (2, threading.current_thread().name)
    value, name = SideThread(True).submit(where, 1).result()
    assert value == 2 and name.startswith("learner-side")
    for enabled in (False, True):
        with pytest.raises(ZeroDivisionError):
            SideThread(enabled).submit(lambda: 1 / 0).result()


def test_serve_first_runs_the_first_call_submitted_while_it_waits_on_the_waiting_thread() -> None:
    lane = SideThread(True)
    here = threading.current_thread().name
    submitted: list[Any] = []

    def other_thread() -> None:  # as the learn-ahead thread does: submit, then wait for the result
        first = lane.submit(lambda: threading.current_thread().name)
        submitted.append(first.result())
        submitted.append(lane.submit(lambda: threading.current_thread().name).result())
        submitted.append(lane.submit(lambda: 1 / 0))

    until = lane.serve_first(lambda: SideThread(True, "ahead").submit(other_thread), calls=1)
    until.result()
    assert submitted[0] == here  # served here
    assert submitted[1].startswith("learner-side")  # after serving: the lane's own thread
    with pytest.raises(ZeroDivisionError):
        submitted[2].result()


def test_serve_first_runs_as_many_calls_as_it_is_told_in_their_order() -> None:
    lane = SideThread(True)
    order: list[tuple[int, str]] = []

    def other_thread() -> None:
        for i in range(3):  # each waited for before the next, as the target unroll before the targets
            lane.submit(lambda i=i: order.append((i, threading.current_thread().name))).result()

    lane.serve_first(lambda: SideThread(True, "ahead").submit(other_thread), calls=2).result()
    here = threading.current_thread().name
    assert [i for i, _ in order] == [0, 1, 2] and order[0][1] == order[1][1] == here
    assert order[2][1].startswith("learner-side")


def test_serve_first_returns_when_nothing_is_submitted_before_the_work_ends() -> None:
    lane = SideThread(True)
    assert lane.serve_first(lambda: SideThread(True, "ahead").submit(lambda: 7)).result() == 7 and lane._handed is None
    disabled = SideThread(False)  # serves nothing: its calls run at once on the submitting thread
    work = disabled.serve_first(lambda: SideThread(True, "ahead").submit(lambda: disabled.submit(lambda: threading.current_thread().name).result()))
    assert work.result().startswith("ahead")


def test_a_call_handed_to_a_wait_that_is_interrupted_runs_on_the_lane() -> None:
    lane = SideThread(True)
    submitted = threading.Event()
    works: list[Any] = []

    def start() -> Any:
        def work() -> str:
            call = lane.submit(lambda: threading.current_thread().name)
            submitted.set()
            return call.result(timeout=10)

        works.append(SideThread(True, "ahead").submit(work))
        submitted.wait(10)
        raise KeyboardInterrupt  # as Ctrl-C would, once the call is handed to this thread

    with pytest.raises(KeyboardInterrupt):
        lane.serve_first(start)
    assert works[0].result(timeout=10).startswith("learner-side")  # not left waiting for this thread
    assert lane._handed is None and lane.submit(lambda: 3).result(timeout=10) == 3


@pytest.mark.parametrize("act_backend", ["torch", "numpy"])
def test_the_loop_serves_an_update_prepared_ahead_until_its_backward_pass_before_it_collects(
    tmp_path: Any, monkeypatch: Any, act_backend: str
) -> None:
    """The target unroll, the targets, the loss and the go-ahead (`_let_go`): just before the backward
    pass, or, beside numpy acting (which holds the GIL), from the backward pass once it reaches the GRU."""
    import learners.q_learner as q_learner

    exp = make_experiment(tmp_path, "qmix", "learn_ahead=True", "parallel_learner=True", "runner=episode", f"act_backend={act_backend}")
    threads: dict[str, list[str]] = {"_target_unroll": [], "_target_values": [], "_td_terms": [], "_let_go": [], "_let_go_hook": []}

    def recorder(original: Any, calls: list[str]) -> Any:
        def record(*args: Any) -> Any:
            calls.append(threading.current_thread().name.split("_")[0])
            return original(*args)
        return record

    for name, calls in threads.items():
        if name == "_let_go":
            monkeypatch.setattr(q_learner, name, recorder(q_learner._let_go, calls))
        else:
            setattr(exp.learner, name, recorder(getattr(exp.learner, name), calls))
    hook_calls = threads.pop("_let_go_hook")
    prepare_threads = record_prepare_threads(exp)
    train_for(exp, 40)
    ahead = sum(name.startswith("learn-ahead") for name in prepare_threads)
    assert ahead > 0
    for calls in threads.values():
        assert calls.count("MainThread") == ahead  # each update prepared ahead: served by the loop
        assert calls.count("learner-side") == len(calls) - ahead > 0  # updates learnt after the insert: the lane
    assert hook_calls.count("learn-ahead") == (ahead if act_backend == "numpy" else 0)  # the go-ahead from the backward pass


def test_the_sale_loss_and_the_td_loss_reach_disjoint_parameters(tmp_path: Any) -> None:
    """Why salemb may back-propagate its SALE loss apart from the TD losses with the same gradients:
    with TD7's detached Q path only the trained encoders take the SALE loss's gradient, and no TD term reaches them."""
    exp = make_experiment(tmp_path, "salemb_sale_agents", "batch_size=2", "buffer_size=64")
    try:
        while not exp.schedule.can_learn():
            exp.iteration(0.0, 0)
        exp.schedule.finish_learning()
        learner = exp.learner
        named = dict(learner.mac.agent.named_parameters())

        def reached(term_of: Any) -> set[str]:
            prepared = learner.prepare_update(exp.buffer.sample(2))
            for p in named.values():
                p.grad = None
            term_of(prepared).backward()
            return {name for name, p in named.items() if p.grad is not None and bool(p.grad.abs().sum() > 0)}

        by_sale = reached(lambda prepared: prepared.sale_term)
        by_td = reached(lambda prepared: prepared.td)
        trained_encoders = {name for name in named if name.startswith("sale.current.")}
        assert by_sale == trained_encoders and by_td and not by_td & trained_encoders
    finally:
        exp.runner.close_env()


def test_the_loop_lends_the_learner_its_side_threads(tmp_path: Any) -> None:
    exp = make_experiment(tmp_path, "salemb", "parallel_learner=True")
    try:
        threads = exp.parts.side_threads
        assert exp.learner.side is threads.lane("learner-side", True) and exp.learner.side._pool is not None
        assert exp.learner.wm_side is threads.lane("learner-wm", True) and exp.schedule.ahead_thread is threads.lane("learn-ahead", True)
        name = exp.learner.side.submit(lambda: threading.current_thread().name).result()
        assert name.startswith("learner-side")
    finally:
        exp.runner.close_env()
