"""The console's fault commands, through the sandbox's control API (`sandbox/control.py`):
`break <deployment> [crashloop|oom|image-pull|stuck-rollout]`, `heal <deployment>`, `redis down|up`,
`slow <litellm|backend> SECONDS`, `fail <litellm|backend>`, `recover <litellm|backend>`."""

from __future__ import annotations

import httpx

FAULT_HELP = """\
  break litellm [FAULT]  |  heal litellm crash-loop a Deployment's pods (or FAULT: oom, image-pull,
                                         stuck-rollout; alerts follow) / fresh pods roll out
  redis down  |  redis up                stop / start LiteLLM's Redis
  slow litellm 3  |  fail backend  |  recover backend   latency, failing readiness, back to normal"""

FAULT_WORDS = ("break", "heal", "redis", "slow", "fail", "recover")


def fault_command(http: httpx.Client, control_url: str | None, word: str, args: list[str]) -> str:
    """Run one fault command; returns the line to print (what happened, or why not)."""
    if not control_url:
        return "! no sandbox control API here"
    route = _route(word, args)
    if isinstance(route, str):
        return route
    path, body = route
    try:
        response = http.post(f"{control_url.rstrip('/')}{path}", json=body)
        answer = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        return f"! the sandbox control API did not answer ({type(exc).__name__})"
    if not answer.get("ok"):
        return f"! {answer.get('error', 'refused')}"
    said = str(answer.get("said", "done"))
    return (
        f"{said}; the watchers alert once it lasts its pending time (try: wait 30)"
        if word == "break"
        else said
    )


def _route(word: str, args: list[str]) -> tuple[str, dict[str, object]] | str:
    if word == "break" and len(args) in (1, 2):
        return f"/deployments/{args[0]}/break/{args[1] if len(args) == 2 else 'crashloop'}", {}
    if word == "heal" and len(args) == 1:
        return f"/deployments/{args[0]}/heal", {}
    if word == "redis" and args in (["down"], ["up"]):
        return f"/litellm-redis/{args[0]}", {}
    if word == "slow" and len(args) == 2:
        try:
            return f"/services/{args[0]}", {"latency_seconds": float(args[1])}
        except ValueError:
            return "! usage: slow <litellm|backend> SECONDS"
    if word in ("fail", "recover") and len(args) == 1:
        return f"/services/{args[0]}", {
            "failing": word == "fail",
            "latency_seconds": 0 if word == "recover" else None,
        }
    return f"! usage:\n{FAULT_HELP}"
