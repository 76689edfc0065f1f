"""`tunedeck trainer`: the self-hosted trainer on loopback (needs the optional 'trainer' extra)."""

from __future__ import annotations

import sys
from pathlib import Path

from core import paths
from core.cli.output import OK, USAGE


def register(commands) -> None:
    p = commands.add_parser("trainer", help="run a self-hosted trainer behind the same API (real LoRA training; needs the 'trainer' extra)")
    p.add_argument("--port", type=int, default=8089, help="port to listen on (default 8089; 0 picks a free one)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1, loopback only)")
    p.add_argument(
        "--models",
        type=Path,
        metavar="CONFIG",
        help="TOML file naming local Hugging Face model folders (default: trainer-models.toml in the config dir)",
    )
    p.add_argument("--state", type=Path, metavar="DIR", help="where files, jobs and adapters persist (default: the data dir's trainer folder)")
    p.set_defaults(run=run_trainer)


def run_trainer(args) -> int:
    from core import trainer

    absent = trainer.missing()
    if absent:
        sys.stderr.write(f"tunedeck: the trainer cannot start: {', '.join(absent)} not installed\n{trainer.INSTALL_HINT}\n")
        return USAGE
    from core.trainer import config

    models_path = args.models if args.models is not None else paths.config_dir() / "trainer-models.toml"
    try:
        models = config.load(models_path)
    except config.ConfigError as error:
        sys.stderr.write(f"tunedeck: {error}\n  See the README's trainer section for the models config format.\n")
        return USAGE
    from core.trainer.trainer import serve

    state = args.state if args.state is not None else paths.data_dir() / "trainer"

    def announce(server) -> None:
        sys.stdout.write(
            "TuneDeck trainer — real LoRA fine-tuning behind the OpenAI fine-tuning API\n"
            f"Listening on {server.base_url}  (state in {state})\n"
            f"Models: {', '.join(sorted(models))}\n"
            "Point the SDK or a TuneDeck profile at it:\n"
            f"  export OPENAI_BASE_URL={server.base_url}\n"
            "  export OPENAI_API_KEY=sk-anything   # any non-empty key is accepted\n"
            "Press Ctrl+C to stop (a job under way saves its state and continues at the next start).\n"
        )
        sys.stdout.flush()

    try:
        serve(models, state, port=args.port, host=args.host, on_ready=announce)
    except OSError as error:
        sys.stderr.write(f"tunedeck: the trainer cannot listen on {args.host}:{args.port}: {error.strerror or error}\n")
        return USAGE
    sys.stdout.write("Trainer stopped.\n")
    return OK
