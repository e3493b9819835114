"""hcedu.lab.littles: the formula, bad input, and a short real measurement's shape."""

import pytest

from hcedu.lab import littles


def test_predict():
    assert littles.predict(2, 4, 0.1) == 20
    assert littles.predict(16, 4, 0.02) == 200


@pytest.mark.parametrize("args, exc, msg", [
    ((0, 4, 0.1), ValueError, "concurrency must be >= 1"),
    ((4, 0, 0.1), ValueError, "slots must be >= 1"),
    ((4, 4, 0), ValueError, "service_time must be > 0"),
    ((4.5, 4, 0.1), TypeError, "concurrency must be an int"),
])
def test_bad_input(args, exc, msg):
    with pytest.raises(exc, match=msg):
        littles.predict(*args)
    with pytest.raises(exc, match=msg):
        littles.closed_loop(*args, duration=0.1)


def test_measurement_has_littles_shape():
    df = littles.experiment(levels=(1, 4, 12), slots=4, service_time=0.01, duration=0.25)
    assert list(df.concurrency) == [1, 4, 12]
    assert df.throughput.iloc[1] > 2.5 * df.throughput.iloc[0]  # adding workers below P adds throughput
    assert df.throughput.iloc[2] < 1.4 * df.throughput.iloc[1]  # past P it is capped
    assert df.mean_latency.iloc[2] > 2 * df.mean_latency.iloc[1]  # ... and latency grows
    assert (df.throughput <= df.predicted * 1.05).all()  # never beats the bound
    with pytest.raises(ValueError, match="levels"):
        littles.experiment(levels=())
