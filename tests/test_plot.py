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


def test_timeline_draws_the_spans_and_marks_of_one_look_in_one_artist_each():
    """A Gantt chart of hundreds of spans: one broken_barh per (lane, colour, hatch) and one line per marker
    style, each holding all of its spans or marks (drawing one artist per span cost ~1 s per chart)."""
    fig, ax = plt.subplots()
    try:
        spans = [Span("A", t, t + 0.5) for t in range(100)] + [Span("A", 200, 201, color="red"),
                                                               Span("B", 0, 1), Span("B", 2, 3)]
        marks = [Mark("A", t, "^") for t in range(50)] + [Mark("B", 3, "x", color="red")]
        timeline(ax, ["A", "B"], spans, marks)
        assert sorted(len(c.get_paths()) for c in ax.collections) == [1, 2, 100]
        assert sorted(len(line.get_xdata()) for line in ax.lines) == [1, 50]
        assert [(p.get_extents().x0, p.get_extents().x1) for p in ax.collections[0].get_paths()][:2] == \
            [(0.0, 0.5), (1.0, 1.5)]
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
