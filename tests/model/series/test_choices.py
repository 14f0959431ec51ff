"""What `rnn-serve train` chooses from, before anything trains: the split in time, the
preprocessing candidates and their statistics, the training pairs, and the plan a budget buys."""

from __future__ import annotations

import numpy as np
import pytest

from rnn_serve.contract.preprocessing import SeriesTransform
from rnn_serve.model.series import encoding, search
from rnn_serve.model.series.encoding import Kind
from rnn_serve.model.series.load import DataError, Dataset, Series
from rnn_serve.model.series.split import Periods, after_folds, backtests, split
from rnn_serve.model.series.train import season_of


def dataset(*lengths: int, positive: bool = True, seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    found = []
    for index, length in enumerate(lengths):
        t = np.arange(length)
        level = 10.0 ** (index + 1)  # series of very different sizes
        values = level * (2 + np.sin(2 * np.pi * t / 12) + 0.01 * t) + rng.normal(size=length)
        found.append(Series(f"s{index}", values if positive else values - 3 * level, None, 0, 0))
    return Dataset(found, "MS", inferred=True)


def test_every_series_keeps_its_last_part_for_test_and_the_part_before_for_validation():
    data = dataset(200, 150)
    periods = Periods.for_dataset(data, horizon=12)
    assert periods == Periods(validation=24, test=24)  # two horizons beat a tenth of 150
    first, second = split(data, periods, search.least_fit(12))
    assert (first.validation_start, first.test_start) == (152, 176)
    assert (second.validation_start, second.test_start) == (102, 126)
    np.testing.assert_array_equal(second.training_part, data.series[1].values[:126])


def test_a_series_too_short_is_refused_by_name():
    data = dataset(200, 60)
    with pytest.raises(DataError, match=r"series too short: 's1' has 60; .* needs \d+ values"):
        split(data, Periods.for_dataset(data, 12), search.least_fit(12))


def test_backtest_folds_step_back_a_validation_length_and_never_see_what_follows():
    splits = split(dataset(200, 120), Periods(24, 24), 10)
    folds = backtests(splits, most=4, least_fit=40)
    # s0 (validation from 152) fits 4 folds; s1 (from 72) only the first, from 48
    assert [[s.id for s in fold] for fold in folds] == [["s0", "s1"], ["s0"], ["s0"], ["s0"]]
    starts = [fold[0].validation_start for fold in folds]
    assert starts == [128, 104, 80, 56]
    for fold in folds:
        for s in fold:
            original = next(o for o in splits if o.id == s.id)
            assert s.test_start - s.validation_start == 24
            assert len(s.values) == s.test_start  # cut at the fold's end: nothing after it
            np.testing.assert_array_equal(s.values, original.values[: s.test_start])
    assert folds[0][0].test_start == splits[0].validation_start
    assert backtests(splits, most=4, least_fit=200) == []
    assert len(backtests(splits, most=2, least_fit=40)) == 2


def test_the_stretch_after_each_fold_is_the_next_one_of_the_series_in_the_fold():
    splits = split(dataset(200, 120), Periods(24, 24), 10)
    folds = backtests(splits, most=4, least_fit=40)
    later = after_folds(splits, folds)
    assert [[s.id for s in stretch] for stretch in later] == [["s0", "s1"], ["s0"], ["s0"], ["s0"]]
    assert [stretch[0].validation_start for stretch in later] == [152, 128, 104, 80]
    for fold, stretch in zip(folds, later, strict=True):
        for before, after in zip(fold, stretch, strict=True):
            assert after.validation_start == before.test_start  # begins where the fold ends
            np.testing.assert_array_equal(after.values[: len(before.values)], before.values)
    assert after_folds(splits, []) == []


def test_logs_are_candidates_only_for_positive_series():
    periods = Periods(24, 24)
    positive = split(dataset(200), periods, 10)
    assert Kind(True, 0, 12) in encoding.kinds(positive, 12)
    assert len(encoding.kinds(positive, 12)) == 6
    negative = split(dataset(200, positive=False), periods, 10)
    assert encoding.kinds(negative, 12) == [Kind(), Kind(difference=1), Kind(seasonal=12)]
    assert Kind(seasonal=1) not in encoding.kinds(positive, 1)


def test_each_series_is_scaled_by_its_own_fitting_part():
    splits = split(dataset(200, 200), Periods(24, 24), 10)
    spec = encoding.fit(Kind(difference=1), splits)
    for s in splits:
        differences = np.diff(s.fit_part)
        scale = spec.series[s.id]
        assert (scale.mean, scale.std) == pytest.approx((differences.mean(), differences.std()))
    assert spec.series["s1"].std > 5 * spec.series["s0"].std  # the sizes differ
    (fitting, _), _ = encoding.pairs(spec, splits, steps=12)
    assert abs(float(fitting.std()) - 1) < 0.2  # each standardised: one scale for the network
    assert encoding.fit(Kind(), splits[:1]).series is None  # one series: one scale


def test_validation_pairs_predict_only_validation_values_and_fitting_pairs_none():
    (s,) = split(dataset(200), Periods(24, 24), 10)
    spec = encoding.fit(Kind(difference=1), [s])
    (x_fit, y_fit), (_, y_val) = encoding.pairs(spec, [s], steps=10)
    encoded = SeriesTransform(spec).encode(s.training_part[np.newaxis])[0, :, 0]
    first_validation = s.validation_start - 1  # encoded index i is raw index i + 1
    assert y_fit.shape[1:] == (10, 1)
    np.testing.assert_array_equal(x_fit[0, 1:, 0], y_fit[0, :-1, 0])
    assert not np.isin(encoded[first_validation:], y_fit).any()
    np.testing.assert_array_equal(y_val[-1, -1, 0], encoded[-1])
    assert len(y_val) == len(encoded) - first_validation  # one window per validation target


def test_the_served_network_learns_the_validation_period_too(monkeypatch):
    splits = split(dataset(200, 150), Periods(24, 24), 10)
    spec = encoding.fit(Kind(difference=1), splits)
    chosen = search.Candidate(Kind(difference=1), steps=12, cell="gru", hidden=16)
    best = search.Trial(chosen, spec, net=None, epochs=40, best_epoch=17, score=0.5)
    seen = {}

    def train(config, fitting, validation, on_epoch):
        seen.update(config=config, fitting=fitting, validation=validation)
        return "net", [0.1] * config.epochs

    monkeypatch.setattr(search, "train", train)
    assert search.refit(best, splits, 3, lambda *_: None) == "net"
    config = seen["config"]
    # the chosen configuration, for the epochs early stopping kept, and no early stopping
    assert (config.epochs, config.cell, config.hidden_size, config.seed) == (17, "gru", 16, 3)
    assert seen["validation"] is None
    targets = seen["fitting"][1][:, -1, 0]
    for s in splits:
        encoded = SeriesTransform(spec, [s.id]).encode(s.values[np.newaxis])[0, :, 0]
        first_test = s.test_start - 1  # encoded index i is raw index i + 1
        assert np.isclose(targets, encoded[first_test - 1]).any()  # the last before the test
        assert not np.isin(encoded[first_test:], targets).any()


def test_the_budget_buys_a_plan_before_anything_trains():
    splits = split(dataset(400, 400), Periods(40, 40), 10)
    kinds = encoding.kinds(splits, 12)
    plans = [search.plan(splits, 12, budget, kinds) for budget in (1, 30, 120, 100_000)]
    assert [p.stages for p in plans] == sorted(p.stages for p in plans)
    assert plans[0] == search.plan(splits, 12, 1, kinds)  # the same every time
    assert (plans[0].stages, plans[0].epochs) == search.PLANS[-1]
    assert (plans[-1].stages, plans[-1].epochs) == search.PLANS[0]
    assert plans[-1].candidates() == len(kinds) + 2 + 2 + 2
    # the backtest folds are priced in: the candidates' cost alone no longer buys the plan
    most = plans[-1]
    assert most.fits() == most.candidates() + search.BACKTEST_FOLDS
    candidates_only = most.expected_s * most.candidates() / most.fits()
    assert search.plan(splits, 12, candidates_only, kinds).epochs < most.epochs
    assert plans[1].expected_s <= 30 and plans[2].expected_s <= 120
    assert plans[-1].steps == [12, 24, 48]


@pytest.mark.parametrize(
    ("freq", "season"),
    [
        ("W-SAT", 52),
        ("W", 52),
        ("MS", 12),
        ("ME", 12),
        ("QS-OCT", 4),
        ("QE-DEC", 4),
        ("D", 7),
        ("h", 24),
        ("YS", 1),
        (None, 1),
    ],
)
def test_the_season_follows_the_frequency(freq, season):
    assert season_of(freq) == season
