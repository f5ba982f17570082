"""Suite timing keys: budget, precision and threads, validated strictly."""

from __future__ import annotations

import pytest

from bench.errors import SuiteError
from bench.measure.case import RunOptions
from bench.measure.timing.engine import DEFAULT_POLICY, QUICK_POLICY
from bench.records import TimingSettings
from bench.suite.load import expand, load_suite
from tests.conftest import TINY_SUITE


def with_header(extra: str) -> str:
    return TINY_SUITE.replace('name = "tiny"', f'name = "tiny"\n{extra}')


def test_timing_keys_reach_every_case(write_suite) -> None:
    suite = load_suite(write_suite(with_header('budget = "500ms"\nprecision = 0.02\nthreads = 1')))
    assert suite.timing == TimingSettings(budget_s=0.5, precision=0.02, threads=1)
    assert {case.timing for case in expand(suite)} == {suite.timing}


def test_budget_may_be_a_number_of_seconds(write_suite) -> None:
    assert load_suite(write_suite(with_header("budget = 3"))).timing.budget_s == 3.0


def test_without_keys_the_run_defaults_apply(write_suite) -> None:
    (case, _) = expand(load_suite(write_suite(TINY_SUITE)))
    policy = RunOptions().policy_for(case)
    assert (policy.budget_s, policy.precision) == (DEFAULT_POLICY.budget_s, 0.01)
    assert RunOptions().threads_for(case) is None


def test_command_line_overrides_the_suite(write_suite) -> None:
    suite = load_suite(write_suite(with_header("budget = 5\nprecision = 0.05\nthreads = 2")))
    (case, _) = expand(suite)
    options = RunOptions(timing=QUICK_POLICY, budget_s=1.0, threads=1)
    policy = options.policy_for(case)
    assert (policy.budget_s, policy.precision, policy.max_samples) == (1.0, 0.05, 3)
    assert options.threads_for(case) == 1
    # time the case already spent (build, FLOP counting) comes off the timing budget, but
    # warmup and sampling keep half of it, however slow the build (a GPU case had 10 samples)
    assert options.policy_for(case, spent_s=0.25).budget_s == 0.75
    assert options.policy_for(case, spent_s=3.0).budget_s == 0.5
    assert RunOptions(budget_s=0.0).policy_for(case, spent_s=3.0).budget_s == 0.0  # a smoke test


@pytest.mark.parametrize(
    ("line", "entry", "allowed"),
    [
        ('budget = "2 minutes"', "budget", "duration like"),
        ("budget = true", "budget", "duration like"),
        ("precision = 1.5", "precision", "between 0 and 1"),
        ('precision = "1%"', "precision", "between 0 and 1"),
        ("threads = 0", "threads", "positive integer"),
        ("threads = 1.5", "threads", "positive integer"),
    ],
)
def test_bad_timing_values_name_file_entry_and_allowed(
    write_suite, line: str, entry: str, allowed: str
) -> None:
    path = write_suite(with_header(line))
    with pytest.raises(SuiteError) as caught:
        load_suite(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: [suite] {entry}: ")
    assert allowed in message


def test_timing_key_in_a_model_entry_is_unknown(write_suite) -> None:
    path = write_suite(TINY_SUITE + "budget = 1\n")
    with pytest.raises(SuiteError, match=r"models\[0\] \(linear\): unknown key 'budget'"):
        load_suite(path)


def test_a_run_starting_beside_a_busy_neighbour_says_so_and_keeps_its_threads() -> None:
    """Beside one busy process, 2 threads ran resnet18 b8 2.3x slower than 1 on this VM; on a
    quiet machine 1.85x faster. The run keeps torch's default (two shards or a baseline and a
    change must not differ in threads with the load of the moment) and advises."""
    from bench.measure.threads import neighbour_advice
    from tests.fakes import FakeCpuSource

    def advice(cores: int, others: float) -> str | None:
        return neighbour_advice(FakeCpuSource(cores, others_per_read_s=others), sleep=id)

    assert advice(2, 0.05) is None  # quiet
    busy = advice(2, 1.0)
    assert busy is not None and "1.0 of 2 cores" in busy and "--threads 1" in busy
    assert "--threads 13" in (advice(16, 3.1) or "")
