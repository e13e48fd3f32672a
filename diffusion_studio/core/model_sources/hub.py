"""Models named by a Hugging Face Hub id (``google/ddpm-cifar10-32``), through huggingface_hub's cache.

huggingface_hub does all the finding, downloading and caching (``HF_HOME`` / ``HF_HUB_CACHE`` and
``HF_HUB_OFFLINE`` are respected); no HTTP is written here. A model already in the cache opens with
no network at all. Otherwise, when the user asks, it is downloaded with progress reports and can be
cancelled between chunks; offline and not cached, the message names the id and what to do.

Only weights in safetensors and the small text files a pipeline needs are fetched by default
(:data:`SAFE_PATTERNS`): a repository's pickled ``.bin``/``.ckpt`` copies are never downloaded.
huggingface_hub is the ``diffusers`` extra's dependency and is imported only when a Hub id is used.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Callable

from ..errors import InputError

__all__ = [
    "DownloadCancelled",
    "DownloadProgress",
    "NotCachedError",
    "SAFE_PATTERNS",
    "cached_snapshot",
    "download_snapshot",
    "hub_cache_dir",
    "is_offline",
    "looks_like_hub_id",
    "repo_files",
    "require_huggingface_hub",
]

#: What a diffusers/transformers repository needs, without pickles: configs, safetensors weights,
#: tokenizer vocabularies and merges.
SAFE_PATTERNS: tuple[str, ...] = ("*.json", "*.safetensors", "*.txt", "*.model")

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.\-]{0,95}/[\w.\-]{1,96}$")
INSTALL_HINT = 'pip install "diffusion-studio[diffusers]"'


class DownloadCancelled(InputError):
    """The user cancelled a download; what was fetched so far stays in the cache and resumes next time."""


class NotCachedError(InputError):
    """``repo_id`` is not (completely) in the local cache and no download was asked for.

    A caller that can ask the user (the Sample panel) catches it and offers to download ``repo_id``.
    """

    def __init__(self, repo_id: str):
        self.repo_id = repo_id
        if is_offline():
            reason = ("HF_HUB_OFFLINE is set; unset it to download the model, or copy it into the cache from a "
                      "machine that has it")
        else:
            reason = "download it first (the Sample panel offers to; diffusion-studio sample downloads it)"
        super().__init__(f"{repo_id} is neither a folder here nor a model in the local Hugging Face cache "
                         f"({hub_cache_dir()}); {reason}")


def looks_like_hub_id(spec: str | os.PathLike) -> bool:
    """``owner/name`` that is not a path on this machine (a local folder of that name wins)."""
    text = str(spec)
    return bool(_HUB_ID.match(text)) and not Path(text).expanduser().exists()


def require_huggingface_hub():
    try:
        import huggingface_hub
    except ImportError:
        raise InputError(f"opening a model by its Hub id needs huggingface_hub: {INSTALL_HINT}") from None
    return huggingface_hub


def _env_true(name: str) -> bool:
    return os.environ.get(name, "").strip().upper() in ("1", "ON", "YES", "TRUE")


def is_offline() -> bool:
    """``HF_HUB_OFFLINE`` (or ``TRANSFORMERS_OFFLINE``) as set now, huggingface_hub's rule."""
    return _env_true("HF_HUB_OFFLINE") or _env_true("TRANSFORMERS_OFFLINE")


def hub_cache_dir() -> Path:
    """The Hub cache as huggingface_hub finds it — ``HF_HUB_CACHE``, else ``HF_HOME``/hub, else
    ``~/.cache/huggingface/hub`` — read at each call, so a changed environment is honoured."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    home = os.environ.get("HF_HOME") or Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache") / "huggingface"
    return Path(home).expanduser() / "hub"


def cached_snapshot(repo_id: str, *, revision: str | None = None,
                    allow_patterns: tuple[str, ...] = SAFE_PATTERNS) -> Path | None:
    """The complete cached snapshot folder of ``repo_id``, or None if it is not (completely) cached."""
    hub = require_huggingface_hub()
    from huggingface_hub import errors

    try:
        folder = hub.snapshot_download(repo_id, revision=revision, local_files_only=True,
                                       allow_patterns=list(allow_patterns), cache_dir=hub_cache_dir())
    except (errors.LocalEntryNotFoundError, errors.IncompleteSnapshotError, errors.HFValidationError, OSError):
        return None
    return Path(folder)


class DownloadProgress:
    """Bytes done and expected, reported to ``callback(done, total)``; cancels when ``should_stop()``.

    Used as huggingface_hub's ``tqdm_class``: it builds progress bars through it, and the one that
    counts bytes written reports here. Raising from ``update`` stops the download threads.
    """

    def __init__(self, callback: Callable[[int, int], None] | None, should_stop: Callable[[], bool] | None):
        self.callback = callback
        self.should_stop = should_stop

    def tqdm_class(self):
        reporter = self
        from tqdm.auto import tqdm

        class _Bar(tqdm):
            def __init__(self, *args, **kwargs):
                kwargs["disable"] = True  # nothing on the terminal: the caller shows progress
                super().__init__(*args, **kwargs)
                self._counts_bytes = kwargs.get("unit") == "B"

            def update(self, n=1):
                if reporter.should_stop is not None and reporter.should_stop():
                    raise DownloadCancelled("download cancelled; what was fetched stays in the cache and "
                                            "continues next time")
                self.n += n or 0  # disabled bars do not count themselves
                if self._counts_bytes and reporter.callback is not None:
                    reporter.callback(int(self.n), int(self.total or 0))
                return True

        return _Bar


def download_snapshot(repo_id: str, *, revision: str | None = None, allow_patterns: tuple[str, ...] = SAFE_PATTERNS,
                      progress: Callable[[int, int], None] | None = None,
                      should_stop: Callable[[], bool] | None = None) -> Path:
    """Download (or complete) ``repo_id`` into the cache and return its snapshot folder.

    InputError with the reason when offline, unknown, gated or unreachable; :class:`DownloadCancelled`
    when ``should_stop()`` turns true.
    """
    hub = require_huggingface_hub()
    from huggingface_hub import errors

    if is_offline():
        raise InputError(f"{repo_id} is not in the local Hugging Face cache and HF_HUB_OFFLINE is set; "
                         f"unset it to download the model, or copy it into the cache from a machine that has it")
    try:
        folder = hub.snapshot_download(repo_id, revision=revision, allow_patterns=list(allow_patterns),
                                       cache_dir=hub_cache_dir(),
                                       tqdm_class=DownloadProgress(progress, should_stop).tqdm_class())
    except DownloadCancelled:
        raise
    except (errors.RepositoryNotFoundError, errors.RevisionNotFoundError):
        raise InputError(f"there is no model {repo_id!r} on the Hugging Face Hub (check the spelling)") from None
    except errors.GatedRepoError:
        raise InputError(f"{repo_id} is gated on the Hub: accept its licence on huggingface.co and log in "
                         f"(huggingface-cli login), then try again") from None
    except (errors.LocalEntryNotFoundError, errors.OfflineModeIsEnabled, OSError) as exc:
        raise InputError(f"{repo_id} is not in the local Hugging Face cache and the Hub cannot be reached "
                         f"({type(exc).__name__}); connect to the internet and try again") from None
    except errors.HfHubHTTPError as exc:
        raise InputError(f"the Hugging Face Hub refused {repo_id}: {str(exc).splitlines()[0][:200]}") from None
    return Path(folder)


def repo_files(repo_id: str, *, revision: str | None = None) -> list[str] | None:
    """The files of ``repo_id`` on the Hub (one small request), or None when that cannot be learnt (offline …)."""
    if is_offline():
        return None
    hub = require_huggingface_hub()
    from huggingface_hub import errors

    try:
        return list(hub.list_repo_files(repo_id, revision=revision))
    except (errors.HfHubHTTPError, errors.HFValidationError, OSError, ValueError):
        return None
