"""Entry point: `python src/main.py --config=ALG --env-config=ENV [with key=value ...]`.

Builds the config (default.yaml <- envs/ENV.yaml <- algs/ALG.yaml <- overrides), validates it, and runs
it as a sacred experiment whose files land in `<local_results_path>/sacred/<task>/<alg name>/<id>/`.
A user's mistake (bad config, missing optional dependency) prints one message and exits with code 1.
"""

from __future__ import annotations

import datetime
import gc
import os
import sys
from typing import Any

import numpy as np

from utils.config_loader import apply_overrides, available, build_config, env_name, parse_overrides
from utils.errors import ConfigError, UserError
from utils.gc_freeze import collector_paused
from utils.logging import get_console_logger


def parse_cli(argv: list[str]) -> tuple[str | None, str | None, list[str]]:
    alg = env = None
    rest: list[str] = []
    i = 0
    while i < len(argv):
        token = argv[i]
        if token in ("-h", "--help"):
            from utils.config_help import help_text

            print(help_text())
            raise SystemExit(0)
        for flag in ("--config", "--env-config"):
            if token == flag or token.startswith(flag + "="):
                if token == flag:
                    if i + 1 >= len(argv):
                        raise ConfigError(f"{flag} needs a value, e.g. {flag}=qmix")
                    value = argv[i + 1]
                    i += 1
                else:
                    value = token.split("=", 1)[1]
                if flag == "--config":
                    alg = value
                else:
                    env = value
                break
        else:
            rest.append(token)
        i += 1
    if rest and rest[0] != "with":
        raise ConfigError(f"unexpected argument '{rest[0]}': overrides go after `with`, e.g. `with t_max=20000`")
    resuming = any(token.startswith("resume=") for token in rest[1:])
    if alg is None and not resuming:
        raise ConfigError(f"--config=ALG is required; valid: {', '.join(available('algs'))}")
    if env is None and not resuming:
        raise ConfigError(f"--env-config=ENV is required; valid: {', '.join(available('envs'))}")
    return alg, env, rest[1:]


def prepare_config(argv: list[str]) -> dict[str, Any]:
    """Parse and validate everything a run needs before it starts."""
    alg, env, overrides = parse_cli(argv)
    resume = parse_overrides(overrides).get("resume")
    if resume:
        config = resume_config(str(resume), [o for o in overrides if not o.startswith("resume=")])
    else:
        configure_protobuf(env_name(env, overrides))
        # after the protobuf choice: they load torch (the config's components), and torch loads protobuf
        config = build_config(alg, env, overrides)
        from utils.config_checks import coerce_and_validate
        from utils.run_checks import check_user_config

        config = coerce_and_validate(config)
        check_user_config(config)
    if config["seed"] is None:
        config["seed"] = int(np.random.SeedSequence().entropy % 2**31)
    config["env_args"]["seed"] = config["seed"]
    from utils.run_checks import check_run_config  # after the protobuf choice (resume_config makes it too)

    check_run_config(config)
    return config


def configure_protobuf(env: str) -> None:
    """sc2/sc2v2: StarCraft II's protocol needs protobuf's pure-Python implementation, which must be chosen
    before anything imports protobuf (TensorBoard does); this runs before the config checks import torch."""
    if env in ("sc2", "sc2v2"):
        from envs.sc2 import use_python_protobuf

        use_python_protobuf()


def resume_config(path: str, overrides: list[str]) -> dict[str, Any]:
    """The saved config of the run to resume, with `overrides` (e.g. a larger t_max) applied."""
    from utils.config_checks import coerce_and_validate
    from utils.resume import locate_run, saved_config

    run_dir, models_dir = locate_run(path, get_console_logger().warning)
    config = apply_overrides(saved_config(run_dir), parse_overrides(overrides))
    configure_protobuf(config["env"])
    config = coerce_and_validate(config)
    config.update(resume=run_dir, checkpoint_path=models_dir, load_step=0, evaluate=False)
    return config


def prepare_resume(config: dict[str, Any]) -> dict[str, Any]:
    """Pick the checkpoint to resume from (the latest readable one) and rebuild the run's metrics.json up
    to it, so the run continues with no missing and no duplicated steps; the run then loads that step.
    Returns what run.json records of this resume: the step, the checkpoint and whether it holds the buffer."""
    from utils.checkpoint import load_latest
    from utils.resume import restore_metrics

    step, folder, files = load_latest(config["checkpoint_path"], 0, ("state.th",), get_console_logger().warning)
    restore_metrics(config["resume"], files["state.th"]["logger"], os.path.getmtime(os.path.join(folder, "state.th")))
    config["load_step"] = step
    return {"from_t_env": step, "checkpoint": folder, "buffer_saved": os.path.isfile(os.path.join(folder, "buffer.th"))}


def run_experiment(config: dict[str, Any]) -> dict[str, Any]:
    """Run one validated config under sacred with a FileStorageObserver; returns the final stats."""
    from sacred import SETTINGS, Experiment
    from sacred.observers import FileStorageObserver

    from run import run, task_name
    from utils.resume import ResumingFileStorageObserver

    SETTINGS.CAPTURE_MODE = "sys"
    SETTINGS.CONFIG.READ_ONLY_CONFIG = False
    console = get_console_logger()
    results_dir = os.path.abspath(config["local_results_path"])
    task = task_name(config["env_args"])
    sacred_dir = os.path.join(results_dir, "sacred", task, config["name"])
    stamp = datetime.datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    unique_token = f"{config['name']}_{task}_seed{config['seed']}_{stamp}"
    if config["resume"]:
        observer: FileStorageObserver = ResumingFileStorageObserver(config["resume"], prepare_resume(config))
        unique_token = os.path.basename(os.path.normpath(config["checkpoint_path"]))
    else:
        observer = FileStorageObserver(sacred_dir)

    ex = Experiment("salemb", save_git_info=False)
    ex.logger = console
    ex.add_config(config)
    ex.observers.append(observer)
    result: dict[str, Any] = {}

    @ex.main
    def _main(_run: Any, _config: Any) -> dict[str, Any]:
        try:
            result.update(run(_run, dict(_config), console, results_dir, unique_token))
        except BaseException as exc:
            log_stop(exc, console)
            # sacred saves the captured output only at heartbeats and on completion: keep what came since
            # the last heartbeat (the stop's messages, warnings) for the final heartbeat to write to cout.txt.
            _run._get_captured_output()
            raise
        return result

    ex.run()
    if not config["evaluate"]:
        console.info(where_results_are(observer.dir, results_dir, unique_token))
    return result


def where_results_are(run_dir: str, results_dir: str, unique_token: str) -> str:
    """The end of a training run's log: where its files are, and the command that plots its curves."""
    def short(path: str) -> str:
        relative = os.path.relpath(path)
        return path if relative.startswith("..") else relative

    plots = os.path.join(results_dir, "plots", f"{unique_token}.png")
    return (f"Results in {short(run_dir)}/ (metrics.json: every logged metric; cout.txt: this log; config.json, "
            f"run.json). Plot the test return:\n    python -m tools.analysis.plot {short(run_dir)} --out {short(plots)}")


def log_stop(exc: BaseException, console: Any) -> None:
    """Log why the run stops (a user's mistake or an interrupt) inside the run, so cout.txt has it too;
    `main` then does not print it again."""
    if isinstance(exc, KeyboardInterrupt):
        console.warning(f"interrupted: {exc}" if str(exc) else "interrupted")
    elif isinstance(exc, UserError):
        console.error(f"error: {exc}")
    else:
        return
    exc.logged = True  # type: ignore[attr-defined]


def main(argv: list[str]) -> int:
    try:
        with collector_paused():  # start-up (utils/gc_freeze.py)
            config = prepare_config(argv)
        run_experiment(config)
    except UserError as exc:
        if not getattr(exc, "logged", False):
            print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as exc:
        if not getattr(exc, "logged", False):
            print(f"interrupted: {exc}" if str(exc) else "interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    code = main(sys.argv[1:])
    gc.freeze()  # spares the interpreter's exit a last full collection over every object (utils/gc_freeze.py)
    sys.exit(code)
