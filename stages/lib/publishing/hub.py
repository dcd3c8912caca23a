"""Talking to the Hugging Face Hub: token lookup, one-commit uploads, readable errors.

`publish` and `pull`/`edit` share these so every Hub failure reads the same and the
user's token is never echoed: it is read once, handed to the client, and scrubbed from
any exception text before that text is shown.
"""
from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click

# Hub user tokens look like hf_<34+ alphanumerics>; scrub those even when they are not
# the token we hold (e.g. an old token echoed back by a proxy).
_TOKEN_PATTERN = re.compile(r"hf_[A-Za-z0-9]{8,}")


class HubError(click.ClickException):
    """A Hub operation failed: one line for the user, exit status 1, no traceback."""

    exit_code = 1


def sanitize(text: str, token: str | None) -> str:
    """`text` with the token (and anything token-shaped) replaced by `***`."""
    if token:
        text = text.replace(token, "***")
    return _TOKEN_PATTERN.sub("***", text)


def endpoint() -> str:
    """The Hub endpoint; HF_ENDPOINT is re-read here so a changed environment wins."""
    from huggingface_hub import constants

    return (os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")


def require_token() -> str:
    """The user's Hub token from HF_TOKEN or `hf auth login`; a HubError when absent."""
    from huggingface_hub import get_token

    token = get_token()
    if not token:
        raise HubError(
            "no Hugging Face token found: set HF_TOKEN or run `hf auth login` "
            "(a token with write access is needed to publish)"
        )
    return token


def explain(exc: BaseException, action: str, token: str | None) -> HubError:
    """Turn a huggingface_hub / network exception into one clear, token-free HubError."""
    from huggingface_hub.errors import (
        HfHubHTTPError,
        LocalEntryNotFoundError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    status = None
    if isinstance(exc, HfHubHTTPError) and exc.response is not None:
        status = exc.response.status_code
    if isinstance(exc, RevisionNotFoundError):
        reason = "revision not found"
    elif isinstance(exc, RepositoryNotFoundError) or status == 404:
        reason = "repository or namespace not found (404), or it is private and the token " \
                 "cannot see it"
    elif status == 401:
        reason = "authentication failed (401): the token was rejected; set a valid HF_TOKEN " \
                 "or run `hf auth login`"
    elif status == 403:
        reason = "permission denied (403): the token has no write access to this namespace"
    elif isinstance(exc, OfflineModeIsEnabled):
        reason = "HF_HUB_OFFLINE=1 is set, so the Hub cannot be contacted"
    elif isinstance(exc, LocalEntryNotFoundError):
        reason = "not in the local Hugging Face cache and the Hub cannot be reached " \
                 "(offline or network down)"
    elif _is_network_error(exc):
        reason = f"cannot reach {endpoint()} (network down?)"
    elif status is not None:
        reason = f"the Hub answered HTTP {status}"
    else:
        reason = f"{type(exc).__name__}"
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    message = f"{action} failed: {reason}"
    if detail and status not in (401, 403):
        message += f" [{detail}]"
    return HubError(sanitize(message, token))


def _is_network_error(exc: BaseException) -> bool:
    """Connection refused / DNS / timeout, whichever HTTP library (httpx, httpx2) raised it."""
    names = {cls.__name__ for cls in type(exc).__mro__}
    return isinstance(exc, ConnectionError | TimeoutError) or bool(
        names & {"TransportError", "RequestError", "NetworkError", "TimeoutException"})


def commit_files(api: Any, repo_id: str, repo_type: str, files: Mapping[str, bytes | Path],
                 message: str, private: bool) -> str:
    """Create the repo if needed and add every file in ONE commit; returns the commit URL.

    One commit per repo makes a publish atomic on the Hub side: a failure before the
    commit leaves the repo as it was, and a retry re-sends the whole file set
    (unchanged files are skipped by the client, so a retry is cheap).
    """
    from huggingface_hub import CommitOperationAdd

    api.create_repo(repo_id, repo_type=repo_type, private=private, exist_ok=True)
    operations = [
        CommitOperationAdd(path_in_repo=path, path_or_fileobj=content
                           if isinstance(content, bytes) else str(content))
        for path, content in sorted(files.items())
    ]
    info = api.create_commit(repo_id, operations=operations, commit_message=message,
                             repo_type=repo_type)
    return str(getattr(info, "commit_url", info))


# The pipeline's own output folders: a name under one of them is a local path, even
# where the folder is missing (edit run outside the checkout, a mistyped adapter name).
LOCAL_ROOTS = ("models", "trained", "adapters", "data", "predictions")


def recorded_base(folder: Path) -> str:
    """The base an adapter folder names (adapter_config.json's base_model_name_or_path: a
    Hub id or a local path); '' for a folder without one (a full model)."""
    import json

    config = folder / "adapter_config.json"
    if not config.is_file():
        return ""
    return json.loads(config.read_text(encoding="utf-8")).get("base_model_name_or_path") or ""


def looks_local(name: str) -> bool:
    """Whether `name` can only mean a local path: it starts with ., / or ~, its first
    component is a folder here (`adapters/writing-alpacca`) or one of the pipeline's
    output folders, or it is not OWNER/NAME; such a name is never sent to the Hub."""
    if name.startswith((".", "/", "~")) or name.count("/") != 1:
        return True
    owner = name.split("/", 1)[0]
    return owner in LOCAL_ROOTS or Path(owner).is_dir()


def resolve_repo_or_path(name: str, revision: str | None = None,
                         repo_type: str = "model") -> Path:
    """A local folder as is, else snapshot_download (honours HF_HUB_OFFLINE and the cache)."""
    from stages.lib.core.io import InputError

    local = Path(name).expanduser()
    if local.is_dir():
        return local.resolve()
    if looks_local(name):
        raise InputError(f"{name}: no such folder (a local path; not looked up on the Hub)")
    if name.count("/") != 1:
        raise InputError(f"{name}: no such folder, and not a Hub repo id (OWNER/NAME)")
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(name, revision=revision, repo_type=repo_type))
    except Exception as exc:  # noqa: BLE001 - every Hub/network failure: one clear line
        raise explain(exc, f"downloading {name}", None) from None
