"""Protocol splits on the real files, and on small data worked by hand."""

from datetime import date

import numpy as np
import pytest

from models.baselines.logit import fit_logit
from streams.demo import PRESETS, default_data_roots
from streams.evaluate.moments import Clicks, label_moments
from streams.evaluate.protocols import (
    PROTOCOLS,
    Purchases,
    bought_between,
    customers_at,
    load_purchases,
    split_periods,
)


def _dataset(name: str):
    preset = PRESETS[name]
    for root in default_data_roots():
        path = root / preset.folder / preset.filename
        if path.exists():
            return path
    pytest.skip(f"{preset.filename} not found")


def _split(name: str):
    protocol = PROTOCOLS[name]
    purchases = load_purchases(_dataset(name), PRESETS[name].fmt, protocol.zone)
    return split_periods(purchases, protocol)


def test_online_retail_population_and_holdout_share():
    split = _split("online-retail")
    assert split.calibration.ids.size == 5283
    assert round(float(split.holdout_bought.mean()), 3) == 0.434
    # Calibration ends on 2011-09-09 in UK time, the data on 2011-12-09.
    assert split.protocol.holdout_days == 91
    assert split.calibration.last_day.max() == date(2011, 9, 9).toordinal()


def test_cdnow_population_is_the_whole_cohort():
    split = _split("cdnow")
    assert split.calibration.ids.size == 23570
    assert int(split.holdout_bought.sum()) == 7058
    assert split.protocol.holdout_days == 273
    # Every customer was acquired by the logit's training split in June 1997.
    assert split.training.ids.size == 23570


def _purchases(rows):
    users, days, values = zip(*rows, strict=True)
    return Purchases(
        np.array(users, dtype=object),
        np.array([d.toordinal() for d in days]),
        np.array(values, dtype=float),
    )


def test_customers_at_a_cut_merge_same_day_purchases():
    purchases = _purchases([
        ("a", date(2020, 1, 1), 10.0),
        ("a", date(2020, 1, 1), 5.0),
        ("a", date(2020, 1, 15), 20.0),
        ("b", date(2020, 1, 8), 7.0),
        ("a", date(2020, 2, 1), 99.0),  # after the cut
        ("c", date(2020, 2, 2), 1.0),  # first seen after the cut
    ])
    customers = customers_at(purchases, date(2020, 1, 29))
    assert customers.ids.tolist() == ["a", "b"]
    assert customers.n_days.tolist() == [2, 1]
    assert customers.spend.tolist() == [35.0, 7.0]
    assert customers.recency_days().tolist() == [14.0, 21.0]
    summary = customers.bgnbd_summary(7.0)
    assert summary.x.tolist() == [1.0, 0.0]
    assert summary.t_x.tolist() == [2.0, 0.0]
    assert summary.T.tolist() == [4.0, 3.0]
    bought = bought_between(purchases, customers.ids, date(2020, 1, 29),
                            date(2020, 2, 29))
    assert bought.tolist() == [True, False]


def test_logit_recovers_the_direction_and_size_of_known_weights():
    rng = np.random.default_rng(11)
    x = rng.normal(size=(20_000, 2))
    p = 1 / (1 + np.exp(-(0.5 + 1.5 * x[:, 0] - 1.0 * x[:, 1])))
    y = rng.random(20_000) < p
    model = fit_logit(x, y, l2=0.0)
    # Standardised inputs have unit scale here, so weights are comparable.
    np.testing.assert_allclose(model.weights / model.scale, [1.5, -1.0], atol=0.08)
    assert model.predict([[3.0, -3.0]])[0] > 0.99


def test_moments_are_labelled_from_the_raw_events():
    s = 1000
    #          user  time  purchase
    events = [("u", 0, False), ("u", 100, False), ("u", 130, True),
              ("v", 10, False), ("v", 90, False), ("v", 180, True),
              ("w", 200, True)]
    users, times, bought = zip(*events, strict=True)
    clicks = Clicks(np.array(users, dtype=object),
                    np.array(times, dtype=np.int64) * s, np.array(bought))
    records = [
        # Before the split (80% of 0..200 s = 160 s): not judged.
        {"user_id": "u", "scored_ts_ms": 100 * s, "purchase_propensity": 0.9,
         "churn_risk": 0.1},
        {"user_id": "u", "scored_ts_ms": 170 * s, "purchase_propensity": 0.2,
         "churn_risk": 0.5},
        {"user_id": "v", "scored_ts_ms": 165 * s, "purchase_propensity": 0.4,
         "churn_risk": 0.3},
        {"user_id": "w", "scored_ts_ms": 200 * s, "purchase_propensity": 0.6,
         "churn_risk": 0.9},
    ]
    split = label_moments(clicks, records, horizon_ms=50 * s)
    assert split.info["moments"] == 3
    assert split.info["moments_before_split"] == 1
    # u bought at 130 s, before its moment; v at 180 s, within 50 s of 165 s;
    # w's purchase is the event of its own moment, not after it.
    assert split.y.tolist() == [False, True, False]
    assert split.scores["recency"].tolist() == [-40.0, -75.0, 0.0]
    assert split.scores["frequency"].tolist() == [3.0, 2.0, 1.0]
    np.testing.assert_allclose(split.scores["stream"], [0.2, 0.4, 0.6])
    np.testing.assert_allclose(split.scores["stream_churn"], [0.5, 0.7, 0.1])
    # Every judged moment's horizon runs past the end of the data (200 s).
    assert split.info["censored_share"] == pytest.approx(1.0)
