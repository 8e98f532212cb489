"""BG/NBD against the published CDNOW figures and a finite-difference gradient."""

from datetime import date

import numpy as np
import pytest

from models.baselines import bgnbd
from streams.demo import default_data_roots

# Fader, Hardie & Lee (2005), CDNOW 1/10 sample, 39 weeks of calibration.
PUBLISHED = bgnbd.BgNbdParams(r=0.243, alpha=4.414, a=0.793, b=2.426)
PUBLISHED_LL = -9582.4


def _sample_path():
    for root in default_data_roots():
        path = root / "cdnow" / "CDNOW_sample.txt"
        if path.exists():
            return path
    pytest.skip("CDNOW_sample.txt not found")


@pytest.fixture(scope="module")
def cdnow_sample() -> bgnbd.Summary:
    from streams.evaluate.protocols import customers_at, load_purchases

    purchases = load_purchases(_sample_path(), "cdnow", "UTC")
    customers = customers_at(purchases, date(1997, 9, 30))
    assert customers.ids.size == 2357
    return customers.bgnbd_summary(7.0)


def test_fit_on_the_cdnow_sample_gives_the_published_parameters(cdnow_sample):
    params = bgnbd.fit(cdnow_sample)
    assert params.r == pytest.approx(PUBLISHED.r, abs=0.001)
    assert params.alpha == pytest.approx(PUBLISHED.alpha, abs=0.005)
    assert params.a == pytest.approx(PUBLISHED.a, abs=0.001)
    assert params.b == pytest.approx(PUBLISHED.b, abs=0.005)
    ll = bgnbd.log_likelihood(params.as_array(), cdnow_sample)
    assert ll == pytest.approx(PUBLISHED_LL, abs=0.1)


def test_log_likelihood_at_the_published_parameters(cdnow_sample):
    ll = bgnbd.log_likelihood(PUBLISHED.as_array(), cdnow_sample)
    assert ll == pytest.approx(PUBLISHED_LL, abs=0.1)


def test_summary_of_the_sample_merges_same_day_purchases(cdnow_sample):
    # 6,919 rows, but a second order on the same day is not a repeat purchase.
    assert cdnow_sample.x.sum() < 6919 - 2357
    assert cdnow_sample.T.max() == pytest.approx(272 / 7)


def _synthetic() -> bgnbd.Summary:
    rng = np.random.default_rng(3)
    T = rng.uniform(20, 40, 400)
    x = rng.poisson(1.5, 400) * (rng.random(400) < 0.6)
    t_x = np.where(x > 0, T * rng.random(400), 0.0)
    return bgnbd.Summary.of(x, t_x, T)


@pytest.mark.parametrize("point", [(0.243, 4.414, 0.793, 2.426), (1.3, 0.7, 2.2, 0.9)])
def test_gradient_matches_central_finite_differences(point):
    data = _synthetic()
    params = np.array(point)
    analytic = bgnbd.gradient(params, data)
    numeric = np.empty(4)
    for i in range(4):
        step = np.zeros(4)
        step[i] = 1e-6 * params[i]
        numeric[i] = (
            bgnbd.log_likelihood(params + step, data)
            - bgnbd.log_likelihood(params - step, data)
        ) / (2 * step[i])
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-4)


def test_expected_purchases_match_the_published_worked_example():
    # The paper's customer: 2 repeat purchases, the last at week 30.43, observed
    # for 38.86 weeks, expects 1.226 purchases in the next 39 weeks.
    one = bgnbd.Summary.of([2], [30.43], [38.86])
    assert bgnbd.expected_purchases(PUBLISHED, one, 39.0)[0] == pytest.approx(
        1.226, abs=0.001
    )


def test_a_customer_without_repeat_purchase_is_alive_for_sure():
    data = bgnbd.Summary.of([0, 3, 3], [0.0, 5.0, 35.0], [38.0, 38.0, 38.0])
    alive = bgnbd.p_alive(PUBLISHED, data)
    assert alive[0] == 1.0
    # Same frequency, a later last purchase: more likely alive, more expected.
    assert alive[1] < alive[2] < 1.0
    expected = bgnbd.expected_purchases(PUBLISHED, data, 39.0)
    assert expected[1] < expected[2]


def test_summary_refuses_a_last_purchase_after_the_end():
    with pytest.raises(ValueError, match="t_x"):
        bgnbd.Summary.of([1], [10.0], [5.0])
