"""hcedu.lab.plot: the shared finishing helper and the one lane chart (timeline) every timeline uses."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from hcedu.lab.plot import Mark, Span, finish, timeline  # noqa: E402


def test_timeline_puts_the_first_lane_on_top_and_draws_every_span_and_mark():
    fig, ax = plt.subplots()
    try:
        ypos = timeline(ax, ["A", "B", "redis"], [Span("A", 0, 2, text="holds"), Span("B", 1, 3, hatch="//")],
                        [Mark("A", 1, "^"), Mark("redis", 2.5, "x", color="red", text="expired")],
                        lane_labels=["client A", "client B", "Redis"])
        assert ypos == {"A": 2.0, "B": 1.0, "redis": 0.0}
        assert [t.get_text() for t in ax.get_yticklabels()] == ["client A", "client B", "Redis"]
        assert len(ax.collections) == 2 and len(ax.lines) == 2
        assert {t.get_text() for t in ax.texts} == {"holds", "expired"}
        assert finish(ax, xlabel="t (s)", legend=None) is fig
    finally:
        plt.close(fig)


@pytest.mark.parametrize("lanes, spans, marks, message", [
    (["A"], [Span("B", 0, 1)], [], "spans\\[0\\]: lane 'B'"),
    (["A"], [Span("A", 2, 1)], [], "end \\(1\\) is before start \\(2\\)"),
    (["A"], [], [Mark("C", 0)], "marks\\[0\\]: lane 'C'"),
    (["A", "A"], [], [], "distinct"),
])
def test_timeline_names_what_is_wrong(lanes, spans, marks, message):
    fig, ax = plt.subplots()
    try:
        with pytest.raises(ValueError, match=message):
            timeline(ax, lanes, spans, marks)
    finally:
        plt.close(fig)
