"""Nothing is downloaded, ever: builders get random weights, and a case that opens a URL fails.

Two parts:

- `random_weight_kwargs`: a builder whose signature has `weights` or `weights_backbone` gets
  None for them unless the suite's kwargs name them. TOML has no null to write `weights = None`,
  and several torchvision builders (fcn_*, deeplabv3_*, fasterrcnn_*, retinanet_*,
  keypointrcnn_*) default `weights_backbone` to ImageNet weights, which they download.
- `block_downloads`: while a case runs, torch.hub's downloaders, `urllib.request.urlopen`, name
  resolution and `socket.socket.connect` to an internet address raise `DownloadBlocked` naming
  the URL (or host:port). requests, urllib3 and huggingface_hub all end in a socket's `connect`,
  so they are caught too. Every attempt is also recorded, because a model may catch the
  exception and go on (a hub client falling back to a cache): the case is an error either way.

A benchmark that silently fetched weights would time a different model on a machine with a
cache, fail offline, and spend the run's time on the network. Local sockets (AF_UNIX) stay
open: they are inter-process plumbing, not downloads. Everything patched is restored on exit,
including aliases made by modules imported during the case (`from torch.hub import ...`).
"""

from __future__ import annotations

import contextlib
import inspect
import socket
import sys
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch.hub

NO_DOWNLOAD = ("weights", "weights_backbone")
HOW_TO_AVOID = (
    "nothing is downloaded during a case: build with random weights (weights=None), "
    "or load a local file with the model's `checkpoint` key"
)
_KEYWORD = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
_INTERNET = (socket.AF_INET, socket.AF_INET6)


def random_weight_kwargs(factory: Callable[..., Any], kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """`kwargs` plus `weights=None` / `weights_backbone=None` where the factory takes them and
    the suite did not name them."""
    result = dict(kwargs)
    try:
        parameters = inspect.signature(factory).parameters
    except (TypeError, ValueError):  # a builtin or C callable without a signature
        return result
    for name in NO_DOWNLOAD:
        parameter = parameters.get(name)
        if parameter is not None and parameter.kind in _KEYWORD and name not in result:
            result[name] = None
    return result


class DownloadBlocked(Exception):
    """A case tried to open a URL or connect to the network."""

    def __init__(self, target: str) -> None:
        super().__init__(f"the model tried to download {target}; {HOW_TO_AVOID}")
        self.target = target


@dataclass
class Attempts:
    """What a case tried to reach, in order (URLs, or host:port)."""

    targets: list[str] = field(default_factory=list)

    def refuse(self, target: str) -> DownloadBlocked:
        self.targets.append(target)
        return DownloadBlocked(target)

    def message(self) -> str:
        """The error cell of a case that tried: the first target, and how many more."""
        more = len(dict.fromkeys(self.targets)) - 1
        return f"{DownloadBlocked.__name__}: {DownloadBlocked(self.targets[0])}" + (
            f" (and {more} other address(es))" if more else ""
        )


@contextlib.contextmanager
def block_downloads() -> Iterator[Attempts]:
    """Refuse every download while the block runs; yields the record of attempts."""
    attempts = Attempts()
    replacements = _replacements(attempts)
    before = set(sys.modules)
    patched = _patch_aliases(replacements, _alias_sites(replacements))
    socket_methods = _patch_socket(attempts)
    try:
        yield attempts
    finally:
        for target, name, original in socket_methods:
            if original is None:
                delattr(target, name)
            else:
                setattr(target, name, original)
        for module, name, original in patched:
            setattr(module, name, original)
        # modules imported during the case bound the replacements (`from torch.hub import ...`)
        originals = {id(new): old for old, new in replacements.items()}
        for module in [m for n, m in list(sys.modules.items()) if n not in before]:
            for name, value in _namespace(module):
                if id(value) in originals:
                    setattr(module, name, originals[id(value)])


def _replacements(attempts: Attempts) -> dict[Any, Any]:
    """Each downloading function mapped to the stand-in that refuses it."""

    def load_state_dict_from_url(url: str, *args: Any, **kwargs: Any) -> Any:
        raise attempts.refuse(str(url))

    def download_url_to_file(url: str, *args: Any, **kwargs: Any) -> None:
        raise attempts.refuse(str(url))

    def urlopen(url: Any, *args: Any, **kwargs: Any) -> Any:
        raise attempts.refuse(str(getattr(url, "full_url", url)))

    original_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host in (None, "", b""):  # the local wildcard address: no lookup, no traffic
            return original_getaddrinfo(host, port, *args, **kwargs)
        raise attempts.refuse(_host_port(host, port))

    return {
        torch.hub.load_state_dict_from_url: load_state_dict_from_url,
        torch.hub.download_url_to_file: download_url_to_file,
        urllib.request.urlopen: urlopen,
        socket.getaddrinfo: getaddrinfo,
    }


def _patch_aliases(
    replacements: dict[Any, Any], sites: list[tuple[Any, str]]
) -> list[tuple[Any, str, Any]]:
    """Replace every module-level name bound to a downloading function (torch.hub's own and
    the copies made by `from torch.hub import load_state_dict_from_url`, as torchvision does)."""
    by_id = {id(old): (old, new) for old, new in replacements.items()}
    patched = []
    for module, name in sites:
        value = getattr(module, "__dict__", {}).get(name)
        pair = by_id.get(id(value))
        if pair is not None and pair[0] is value:
            setattr(module, name, pair[1])
            patched.append((module, name, value))
    return patched


class _AliasIndex:
    """Where the downloading functions are bound, module by module, kept between cases.

    Scanning every module's globals took 46 ms a case (4,000 modules once torch and
    torchvision are in): each module is now scanned once, when first seen, and the sites found
    are checked again each case. The index starts over if the downloading functions themselves
    are different objects (a test or a library patched torch.hub)."""

    def __init__(self) -> None:
        self.originals: frozenset[int] = frozenset()
        self.scanned: dict[str, int] = {}  # module name -> id of the module object scanned
        self.sites: list[tuple[Any, str]] = []

    def update(self, originals: frozenset[int]) -> list[tuple[Any, str]]:
        if originals != self.originals:
            self.originals, self.scanned, self.sites = originals, {}, []
        for name, module in list(sys.modules.items()):
            if self.scanned.get(name) == id(module):
                continue
            self.scanned[name] = id(module)
            self.sites += [
                (module, attr) for attr, value in _namespace(module) if id(value) in originals
            ]
        return self.sites


_ALIASES = _AliasIndex()


def _alias_sites(replacements: dict[Any, Any]) -> list[tuple[Any, str]]:
    return _ALIASES.update(frozenset(id(old) for old in replacements))


def _namespace(module: Any) -> list[tuple[str, Any]]:
    """A module's globals; nothing for the odd object in sys.modules that has none or fails."""
    try:
        values = getattr(module, "__dict__", None)
    except Exception:  # a lazy module proxy may run code on attribute access
        return []
    return list(values.items()) if isinstance(values, dict) else []


def _patch_socket(attempts: Attempts) -> list[tuple[Any, str, Any]]:
    """`socket.socket.connect` / `connect_ex` refuse internet addresses (AF_INET, AF_INET6)."""
    cls = socket.socket
    saved = [(cls, name, cls.__dict__.get(name)) for name in ("connect", "connect_ex")]
    inherited_connect = cls.connect
    inherited_connect_ex = cls.connect_ex

    def connect(sock: socket.socket, address: Any) -> None:
        if sock.family in _INTERNET:
            raise attempts.refuse(_host_port(*address[:2]))
        inherited_connect(sock, address)

    def connect_ex(sock: socket.socket, address: Any) -> int:
        if sock.family in _INTERNET:
            raise attempts.refuse(_host_port(*address[:2]))
        return inherited_connect_ex(sock, address)

    cls.connect = connect  # type: ignore[method-assign]
    cls.connect_ex = connect_ex  # type: ignore[method-assign]
    return saved


def _host_port(host: Any, port: Any) -> str:
    host = host.decode() if isinstance(host, bytes) else str(host)
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
