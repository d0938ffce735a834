"""Server-drawn traffic charts: escaped SVG, scaled to the peak, one per series."""

from __future__ import annotations

from piranha_web.services.charts import human, svg, traffic


def test_svg_is_a_scaled_polyline_with_an_escaped_label() -> None:
    drawn = str(svg([0.0, 5.0, 10.0], 'www/<b>"x"', "line-cps"))
    assert drawn.startswith("<svg ") and 'class="line-cps"' in drawn
    assert "&lt;b&gt;" in drawn and "<b>" not in drawn
    assert "2.0,58.0" in drawn and ",2.0" in drawn.split("points=")[1]    # 0 at the bottom, peak at the top
    assert "polyline" not in str(svg([3.0], "one point", "line-bps"))


def test_traffic_lays_out_virtuals_and_reals() -> None:
    total = {"t": [1, 2], "cps": [0, 4], "bps": [1, 2], "active": [0, 1]}
    series = [{"virtual": "www", "step": 2, "total": total,
               "reals": {"b": {"cps": [0, 1]}, "a": {"cps": [0, 3]}}}, "junk"]
    (www,) = traffic(series)  # type: ignore[arg-type]
    assert www["virtual"] == "www" and www["points"] == 2
    assert [c.series for c in www["total"]] == ["cps", "bps", "active"]
    assert www["total"][0].last == 4.0 and www["total"][0].peak == 4.0
    assert [name for name, _ in www["reals"]] == ["a", "b"]
    assert traffic(None) == []
    assert (human(1234567), human(1500), human(2.5), human(3)) == ("1.2M", "1.5k", "2.5", "3")
