"""`tunedeck profiles` and `tunedeck emulator`: which server TuneDeck talks to, and the built-in one."""

from __future__ import annotations

import sys
from pathlib import Path


from core import paths
from core.service import profiles

from core.cli.output import OK, emit_json


def register(commands) -> None:
    p = commands.add_parser("profiles", help="list connection profiles and say which one is active, and why")
    p.add_argument("--json", action="store_true", help="machine-readable output (schema in the README)")
    p.set_defaults(run=run_profiles)

    p = commands.add_parser("emulator", help="run the built-in imitation of the fine-tuning service on loopback")
    p.add_argument("--port", type=int, default=8088, help="port on 127.0.0.1 (default 8088; 0 picks a free one)")
    p.add_argument("--speed", type=float, default=1.0, help="clock factor: 10 trains ten times faster (default 1, demo pace)")
    p.add_argument(
        "--state-dir",
        type=Path,
        metavar="DIR",
        help="where files and jobs persist (default: the embedded emulator's folder in the data dir, so the app sees the same jobs)",
    )
    p.set_defaults(run=run_emulator)


def _profile_json(profile: profiles.Profile, default: str | None) -> dict:
    return {
        "name": profile.name,
        "kind": profile.kind,
        "server": profile.describe(),
        "key": profile.masked_key() if (profile.api_key or profile.azure_ad_token) else None,
        "default": profile.name == default,
    }


def run_profiles(args) -> int:
    settings = profiles.load()
    active = profiles.resolve(args.profile, settings=settings)
    listed = dict(settings.profiles)
    listed.setdefault(profiles.EMULATOR, profiles.Profile(kind="emulator", name=profiles.EMULATOR))
    if args.json:
        value = {
            "config": str(profiles.config_path()),
            "active": {**_profile_json(active.profile, settings.default_profile), "source": active.source, "offline": active.profile.kind == "emulator"},
            "profiles": [_profile_json(p, settings.default_profile) for _, p in sorted(listed.items())],
        }
        emit_json(value)
        return OK
    out = sys.stdout.write
    out(f"active: {active.profile.name} — {active.profile.describe()}\n        chosen by {active.source}\n")
    if active.profile.api_key or active.profile.azure_ad_token:
        out(f"        key {active.profile.masked_key()}\n")
    out(f"\nprofiles in {profiles.config_path()}:\n")
    for name, profile in sorted(listed.items()):
        mark = "*" if name == active.profile.name else " "
        default = " (default)" if name == settings.default_profile else ""
        out(f" {mark} {name:<16} {profile.kind:<10} {profile.describe()}{default}\n")
    return OK


def run_emulator(args) -> int:
    from core.emulator import serve

    state = args.state_dir if args.state_dir is not None else paths.data_dir() / "emulator"

    def announce(emulator) -> None:
        sys.stdout.write(
            "TuneDeck emulator — an offline imitation of the OpenAI fine-tuning API (no real training)\n"
            f"Listening on {emulator.base_url}  (speed ×{args.speed:g}, state in {state})\n"
            "Point the SDK at it:\n"
            f"  export OPENAI_BASE_URL={emulator.base_url}\n"
            "  export OPENAI_API_KEY=sk-anything   # any non-empty key is accepted\n"
            "Press Ctrl+C to stop.\n"
        )
        sys.stdout.flush()

    serve(port=args.port, speed=args.speed, state_dir=state, on_ready=announce)
    sys.stdout.write("Emulator stopped.\n")
    return OK
