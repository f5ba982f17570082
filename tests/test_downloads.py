"""Nothing is downloaded, ever: builders get random weights, and a case that reaches for the
network is an error row naming the address, while the next case still runs."""

from __future__ import annotations

import socket
import sys
import urllib.request
from pathlib import Path

import pytest
import torch.hub
from torchvision.models import segmentation

from bench.cli import main
from bench.model.downloads import (
    HOW_TO_AVOID,
    Attempts,
    DownloadBlocked,
    block_downloads,
    random_weight_kwargs,
)
from bench.store import read_record
from tests.robust_helpers import LINEAR, bench, model_entry, read_rows, suite_text


def test_builders_get_no_weights_unless_the_suite_names_them() -> None:
    assert random_weight_kwargs(segmentation.fcn_resnet50, {"aux_loss": True}) == {
        "aux_loss": True,
        "weights": None,
        "weights_backbone": None,
    }
    named = random_weight_kwargs(segmentation.fcn_resnet50, {"weights_backbone": "X"})
    assert named == {"weights_backbone": "X", "weights": None}
    assert random_weight_kwargs(torch.nn.Linear, {"in_features": 2}) == {"in_features": 2}

    def positional_only(weights: object, /) -> None: ...

    assert random_weight_kwargs(positional_only, {}) == {}
    assert random_weight_kwargs(len, {}) == {}  # no signature to read


def torchvision_alias() -> tuple[object, str] | None:
    """A torchvision module's own name for torch.hub.load_state_dict_from_url, bound by its
    `from torch.hub import ...` before any block (the aliases bench patches). Found by value:
    which private module holds it (today `torchvision._internally_replaced_utils`) is
    torchvision's layout, not bench's."""
    for name, module in sorted(sys.modules.items()):
        if name.partition(".")[0] != "torchvision":
            continue
        for attr, value in list(getattr(module, "__dict__", {}).items()):
            if value is torch.hub.load_state_dict_from_url:
                return module, attr
    return None


TORCHVISION_ALIAS = torchvision_alias()  # torchvision.models is imported above


def originals() -> list[object]:
    alias = [getattr(*TORCHVISION_ALIAS)] if TORCHVISION_ALIAS is not None else []
    return [
        torch.hub.load_state_dict_from_url,
        torch.hub.download_url_to_file,
        getattr(torch.hub, "urlopen", None),  # torch.hub's own import of urllib's
        *alias,
        urllib.request.urlopen,
        socket.getaddrinfo,
        socket.socket.__dict__.get("connect"),
        socket.socket.__dict__.get("connect_ex"),
    ]


@pytest.mark.parametrize(
    ("attempt", "target"),
    [
        (
            lambda: torch.hub.load_state_dict_from_url("https://x.invalid/a.pth"),
            "https://x.invalid/a.pth",
        ),
        pytest.param(
            lambda: getattr(*TORCHVISION_ALIAS)("https://x.invalid/b"),
            "https://x.invalid/b",
            marks=pytest.mark.skipif(
                TORCHVISION_ALIAS is None, reason="no torchvision module binds its own alias"
            ),
        ),
        (
            lambda: torch.hub.download_url_to_file("https://x.invalid/c", "/nonexistent"),
            "https://x.invalid/c",
        ),
        (lambda: urllib.request.urlopen("http://x.invalid/d"), "http://x.invalid/d"),
        (
            lambda: urllib.request.urlopen(urllib.request.Request("http://x.invalid/e")),
            "http://x.invalid/e",
        ),
        (lambda: socket.create_connection(("x.invalid", 443), timeout=1), "x.invalid:443"),
        (lambda: socket.socket().connect(("192.0.2.1", 80)), "192.0.2.1:80"),
        (lambda: socket.socket(socket.AF_INET6).connect_ex(("::1", 8080, 0, 0)), "[::1]:8080"),
    ],
    ids=["hub", "torchvision-alias", "hub-file", "urlopen", "request", "dns", "connect", "ipv6"],
)
def test_every_route_is_refused_and_restored(attempt, target: str) -> None:
    before = originals()
    with block_downloads() as attempts, pytest.raises(DownloadBlocked) as caught:
        attempt()
    assert caught.value.target == target
    assert str(caught.value) == f"the model tried to download {target}; {HOW_TO_AVOID}"
    assert attempts.targets == [target]
    assert originals() == before


def test_the_error_names_the_first_address_and_counts_the_others() -> None:
    message = Attempts(["a.invalid:80", "b.invalid:443", "a.invalid:80"]).message()
    assert message == (
        f"DownloadBlocked: the model tried to download a.invalid:80; {HOW_TO_AVOID} "
        "(and 1 other address(es))"
    )


def test_local_sockets_stay_open(tmp_path: Path) -> None:
    path = str(tmp_path / "s")
    with socket.socket(socket.AF_UNIX) as server, block_downloads() as attempts:
        server.bind(path)
        server.listen()
        with socket.socket(socket.AF_UNIX) as client:
            client.connect(path)
    assert attempts.targets == []


def test_a_module_imported_during_the_block_gets_the_real_function_back(tmp_path: Path) -> None:
    (tmp_path / "imports_hub.py").write_text("from torch.hub import load_state_dict_from_url\n")
    real = torch.hub.load_state_dict_from_url
    sys.path.insert(0, str(tmp_path))
    try:
        with block_downloads():
            import imports_hub  # type: ignore[import-not-found]

            assert imports_hub.load_state_dict_from_url is not real  # it bound the refusing one
        assert imports_hub.load_state_dict_from_url is real
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("imports_hub", None)


def test_downloading_cases_are_error_rows_and_the_next_case_runs(
    write_suite, tmp_path: Path, capsys
) -> None:
    suite = write_suite(
        suite_text(
            # torchvision's fcn_resnet50 defaults weights_backbone to ImageNet weights
            model_entry(
                "fcn",
                "torchvision.models.segmentation:fcn_resnet50",
                "[3, 64, 64]",
                kwargs="{ aux_loss = true }",
            ),
            model_entry("hub", ":downloads_weights"),
            model_entry("swallowed", ":swallows_download"),
            model_entry("socket", ":connects_in_forward"),
            LINEAR,
        )
    )
    code = main(["run", str(suite), "--out", str(tmp_path), "--quick", "--metrics", "params"])
    run_dir = Path(capsys.readouterr().out.strip())
    assert code == 1
    rows = {r["model"]: r for r in read_rows(run_dir)}
    assert {m: r["status"] for m, r in rows.items()} == {
        "fcn": "ok",
        "hub": "error",
        "swallowed": "error",
        "socket": "error",
        "linear": "ok",
    }
    # torchvision's metadata counts the aux classifier (read offline, from the enum)
    expected = segmentation.FCN_ResNet50_Weights.DEFAULT.meta["num_params"]
    assert rows["fcn"]["params"] == str(expected)
    for model, target in [
        ("hub", "https://example.invalid/w.pth"),
        ("swallowed", "http://example.invalid/config.json"),  # caught by the model: still refused
        ("socket", "192.0.2.1:80"),
    ]:
        assert rows[model]["error"] == (
            f"DownloadBlocked: the model tried to download {target}; {HOW_TO_AVOID}"
        )
    log = (run_dir / "run.log").read_text()
    assert "download attempts: http://example.invalid/config.json" in log
    record = read_record(run_dir)
    assert not any("download" in n for c in record["cases"] for n in c["notes"])


def test_isolated_workers_refuse_downloads_too(write_suite, tmp_path: Path) -> None:
    suite = write_suite(suite_text(model_entry("hub", ":downloads_weights"), LINEAR))
    done = bench("run", suite, "--out", tmp_path, "--quick", "--metrics", "params", "--isolate")
    assert done.returncode == 1, done.stderr
    rows = {r["model"]: r for r in read_rows(Path(done.stdout.strip()))}
    assert rows["hub"]["status"] == "error"
    assert rows["hub"]["error"].startswith(
        "DownloadBlocked: the model tried to download https://example.invalid/w.pth; "
    )
    assert rows["linear"]["status"] == "ok"
