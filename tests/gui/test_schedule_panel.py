"""The schedule lab: overlays, live edits, refusals, the cursor linked to the forward view, exports."""

from __future__ import annotations

import os

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QColor, QImage

from diffusion_studio.core.schedule_table import read_schedule_csv, schedule_to_csv
from diffusion_studio.core.schedules import make_schedule
from diffusion_studio.gui import theme
from diffusion_studio.gui.panels.schedules import SchedulePanel
from diffusion_studio.gui.state import AppState


@pytest.fixture
def panel(qtbot):
    state = AppState()
    widget = SchedulePanel(state)
    qtbot.addWidget(widget)
    widget.resize(1300, 640)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def curve(panel: SchedulePanel, row: int, key: str = "alphas_cumprod"):
    return panel.plots.curve_arrays(panel.entries[row], key)


def all_curves_finite(panel: SchedulePanel) -> bool:
    for curves in panel.plots.curves.values():
        for item in curves.values():
            x, y = item.xData, item.yData
            if x is None or not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
                return False
    return True


def select(panel: SchedulePanel, row: int) -> None:
    panel.overlays.set_current_row(row)
    assert panel.editor.heading.text().startswith("Edit: " + panel.entries[row].title())


def test_opens_on_the_state_schedule_with_a_comparison(panel):
    state = panel.state
    assert panel.primary.schedule == state.schedule and panel.primary.primary
    assert [e.schedule.name for e in panel.entries] == ["squaredcos_cap_v2", "linear"]
    x, y = curve(panel, 0)
    np.testing.assert_array_equal(y, state.schedule.alphas_cumprod)
    np.testing.assert_allclose(x, np.arange(1000) / 999)
    _, beta = curve(panel, 1, "beta")
    np.testing.assert_array_equal(beta, make_schedule("linear", 1000).betas)
    assert len(panel.plots.legend.items) == 2
    assert panel.overlays.list.count() == 2 and "Forward view" in panel.overlays.list.item(0).text()
    assert set(panel.plots.visible_quantities()) == {
        "beta", "alphas_cumprod", "log_snr", "sqrt_alphas_cumprod", "sqrt_one_minus_alphas_cumprod"
    }


def test_add_hide_and_remove_overlays(panel):
    select(panel, 1)
    copy = panel.add_overlay()  # a copy of the selected (linear) schedule
    chen = panel.add_overlay("sigmoid_alphas_cumprod")
    assert copy.schedule == panel.entries[1].schedule
    assert chen.schedule.name == "sigmoid_alphas_cumprod"
    assert len(panel.entries) == 4 and panel.overlays.list.count() == 4
    assert len({e.color_index for e in panel.entries}) == 4, "each schedule has its own colour"
    assert len(panel.plots.legend.items) == 4
    labels = [label.text for _, label in panel.plots.legend.items]
    assert labels[0] == "cosine T=1000" and labels[3] == "sigmoid ᾱ T=1000"
    # two schedules that would read the same get their parameters in the legend
    assert labels[1] == labels[2] == "linear T=1000 · β 0.0001→0.02"
    assert panel.overlays.current_row() == 3  # the new one is selected for editing

    item = panel.overlays.list.item(2)
    item.setCheckState(Qt.CheckState.Unchecked)
    assert not panel.entries[2].visible
    assert not panel.plots.curves[copy.uid]["beta"].isVisible()
    item.setCheckState(Qt.CheckState.Checked)
    assert panel.plots.curves[copy.uid]["beta"].isVisible()

    # a click on a legend sample hides the schedule everywhere, and the list follows
    sample = next(s for s, label in panel.plots.legend.items if label.text == "sigmoid ᾱ T=1000")
    sample.item.setVisible(False)  # what a click on the legend's sample does
    assert not chen.visible
    assert panel.overlays.list.item(3).checkState() == Qt.CheckState.Unchecked

    beta_plot = panel.plots.plots["beta"]
    curve_item = panel.plots.curves[copy.uid]["beta"]
    panel.overlays.set_current_row(2)
    panel.overlays.remove_button.click()
    assert copy not in panel.entries and len(panel.entries) == 3
    assert curve_item not in beta_plot.listDataItems()
    assert copy.uid not in panel.plots.curves and len(panel.plots.legend.items) == 3

    panel.overlays.set_current_row(0)
    assert not panel.overlays.remove_button.isEnabled()
    panel.remove_overlay(0)
    assert len(panel.entries) == 3, "the forward view's schedule cannot be removed"
    assert panel.add_overlay().color_index not in {e.color_index for e in panel.entries[:-1]}


def test_editing_a_parameter_changes_the_curve_live(panel):
    select(panel, 1)
    before = curve(panel, 1)[1].copy()
    controls = panel.editor.param_controls
    assert controls["beta_end"].isVisibleTo(panel.editor) and not controls["s"].isVisibleTo(panel.editor)
    controls["beta_end"].spin_box.setValue(0.04)
    expected = make_schedule("linear", 1000, beta_start=1e-4, beta_end=0.04)
    np.testing.assert_array_equal(curve(panel, 1)[1], expected.alphas_cumprod)
    assert not np.array_equal(before, curve(panel, 1)[1])
    assert "0.04" in panel.overlays.list.item(1).text()
    assert "0.04" in panel.editor.heading.text()

    # dragging the slider updates the curve on every step (the slider is logarithmic)
    slider = controls["beta_start"].slider
    values = []
    for position in (100, 300, 500):
        slider.setValue(position)
        values.append(panel.entries[1].schedule.params["beta_start"])
        np.testing.assert_array_equal(curve(panel, 1, "beta")[1], panel.entries[1].schedule.betas)
    assert values[0] < values[1] < values[2]
    assert panel.state.schedule.name == "squaredcos_cap_v2", "an overlay never changes the forward view"

    # a new recipe starts from its defaults; T is kept
    panel.editor.timesteps.spin_box.setValue(50)
    panel.editor.name_combo.setCurrentIndex(panel.editor.name_combo.findData("laplace"))
    assert panel.entries[1].schedule == make_schedule("laplace", 50)
    assert len(curve(panel, 1)[1]) == 50
    assert controls["mu"].isVisibleTo(panel.editor) and not controls["beta_end"].isVisibleTo(panel.editor)


def test_invalid_parameters_show_a_message_and_keep_the_last_curve(panel):
    select(panel, 1)
    controls = panel.editor.param_controls
    last_valid = panel.entries[1].schedule
    controls["beta_start"].spin_box.setValue(0.05)  # above β end = 0.02
    assert "must not exceed beta_end" in panel.editor.error_text()
    assert panel.editor.error_label.isVisible()
    assert panel.entries[1].schedule is last_valid
    np.testing.assert_array_equal(curve(panel, 1)[1], last_valid.alphas_cumprod)
    assert "⚠" in panel.overlays.list.item(1).text()

    controls["beta_start"].spin_box.setValue(1e-4)
    controls["beta_end"].spin_box.setValue(1.0)  # β = 1 would destroy the image in one step
    assert "beta_end must be strictly between 0 and 1" in panel.editor.error_text()
    assert all_curves_finite(panel)

    controls["beta_end"].spin_box.setValue(0.03)  # a valid value clears the message
    assert panel.editor.error_text() == "" and not panel.editor.error_label.isVisible()
    assert panel.entries[1].schedule.params["beta_end"] == pytest.approx(0.03)

    panel.editor.name_combo.setCurrentIndex(panel.editor.name_combo.findData("sigmoid_alphas_cumprod"))
    controls["start"].spin_box.setValue(5.0)  # start > end = 3
    assert "end > start" in panel.editor.error_text()
    assert all_curves_finite(panel)


def test_t_ranges_from_2_to_10000(panel):
    select(panel, 1)
    box = panel.editor.timesteps.spin_box
    assert (box.minimum(), box.maximum()) == (2, 10_000)
    box.setValue(10_000)
    assert len(curve(panel, 1)[1]) == 10_000
    box.setValue(2)
    assert panel.entries[1].schedule.num_timesteps == 2 and all_curves_finite(panel)


def test_editing_the_primary_changes_the_forward_view_and_back(qtbot, panel):
    state = panel.state
    select(panel, 0)
    with qtbot.waitSignal(state.scheduleChanged):
        panel.editor.param_controls["s"].spin_box.setValue(0.02)
    assert state.schedule == make_schedule("cosine", 1000, s=0.02)
    with qtbot.waitSignal(state.scheduleChanged):
        panel.editor.zero_snr.setChecked(True)
    assert state.schedule.zero_terminal_snr
    # log-SNR is −∞ at the last step: left out of the curve, never a NaN or inf in it
    x, y = curve(panel, 0, "log_snr")
    assert len(y) == 999 and np.all(np.isfinite(y)) and all_curves_finite(panel)

    # a refused edit of the primary leaves the forward view alone
    with qtbot.assertNotEmitted(state.scheduleChanged):
        panel.editor.param_controls["s"].spin_box.setValue(1.0)
    assert "offset s" in panel.editor.error_text()

    # the forward view picks another schedule: the lab follows (entry, curves, editor) …
    edited = make_schedule("cosine", 1000, s=0.02, zero_terminal_snr=True)
    with qtbot.waitSignal(state.statusMessage) as status:
        state.set_schedule(make_schedule("scaled_linear", 500))
    assert panel.primary.schedule == state.schedule and panel.primary.error == ""
    # … and the schedule edited here stays on the plots as an overlay, with a word about it
    assert [e.schedule for e in panel.entries[1:]] == [make_schedule("linear", 1000), edited]
    assert "overlay" in status.args[0]
    assert panel.overlays.list.count() == 3
    np.testing.assert_array_equal(curve(panel, 0)[1], state.schedule.alphas_cumprod)
    assert panel.editor.current_name() == "scaled_linear"
    assert panel.editor.timesteps.value() == 500
    assert panel.editor.param_controls["beta_end"].value() == pytest.approx(0.012)
    assert panel.editor.error_text() == ""

    # switching recipes without edits (or only T) adds nothing
    state.set_schedule(make_schedule("linear", 500))
    state.set_schedule(make_schedule("linear", 300))
    assert len(panel.entries) == 3


def test_cursor_follows_state_timestep_and_drags_it(qtbot, panel):
    state = panel.state
    state.set_timestep(250)
    for cursor in panel.plots.cursors.values():
        assert cursor.value() == pytest.approx(250 / 999)
    assert panel.plots.cursors["beta"].label.format == "t = 250"

    line = panel.plots.cursors["alphas_cumprod"]
    line.setValue(0.75)
    with qtbot.waitSignal(state.timestepChanged) as signal:
        line.sigDragged.emit(line)
    assert signal.args == [round(0.75 * 999)] and state.timestep == 749
    for cursor in panel.plots.cursors.values():
        assert cursor.value() == pytest.approx(749 / 999)  # every plot's cursor, snapped to the step

    panel.x_mode_combo.setCurrentIndex(panel.x_mode_combo.findData("timestep"))
    assert panel.plots.cursors["beta"].value() == 749
    np.testing.assert_array_equal(curve(panel, 0)[0], np.arange(1000))
    line.setValue(100.4)
    line.sigDragged.emit(line)
    assert state.timestep == 100

    # the forward view shortens T: the state clamps t, the cursor follows
    state.set_timestep(900)
    state.set_schedule(make_schedule("cosine", 100))
    assert panel.plots.cursors["beta"].value() == 99


def test_hover_shows_exact_values(qtbot, panel):
    state = panel.state
    state.set_timestep(10)
    rows = panel.readout.rows
    assert [t for _, t in rows] == [10, 10] and "at the cursor" in panel.readout.text()
    view = panel.plots.plots["alphas_cumprod"].getViewBox()
    scene_pos = view.mapViewToScene(QPointF(0.5, 0.5))
    panel.plots.graphics.scene().sigMouseMoved.emit(scene_pos)
    expected_t = round(view.mapSceneToView(scene_pos).x() * 999)
    assert [t for _, t in panel.readout.rows] == [expected_t, expected_t]
    assert "under the mouse" in panel.readout.text()
    assert f"{state.schedule.alphas_cumprod[expected_t]:.6g}" in panel.readout.text()
    assert panel.plots.hover_lines["beta"].isVisible()
    panel.plots.graphics.scene().sigMouseMoved.emit(QPointF(-50, -50))  # off the plots
    assert "at the cursor" in panel.readout.text() and not panel.plots.hover_lines["beta"].isVisible()


def test_choosing_plots_to_show(panel):
    panel.quantity_buttons["beta"].setChecked(False)
    panel.quantity_buttons["sqrt_alphas_cumprod"].setChecked(False)
    assert panel.plots.visible_quantities() == ["alphas_cumprod", "log_snr", "sqrt_one_minus_alphas_cumprod"]
    assert not panel.plots.plots["beta"].isVisible()
    for key in ("alphas_cumprod", "log_snr", "sqrt_alphas_cumprod", "sqrt_one_minus_alphas_cumprod"):
        panel.quantity_buttons[key].setChecked(False)
    assert panel.plots.visible_quantities() == ["sqrt_one_minus_alphas_cumprod"], "the last plot stays"
    assert panel.quantity_buttons["sqrt_one_minus_alphas_cumprod"].isChecked()


def test_exports_png_svg_and_csv(panel, tmp_path):
    png, svg, csv = tmp_path / "plots.png", tmp_path / "plots.svg", tmp_path / "table.csv"
    assert panel.export_plots_png(png)
    image = QImage(str(png))
    assert not image.isNull() and image.width() > 500 and image.height() > 200
    assert panel.export_plots_svg(svg)
    text = svg.read_text(encoding="utf-8")
    assert text.lstrip().startswith("<?xml") and "<svg" in text and "</svg>" in text
    select(panel, 1)
    assert panel.export_table_csv(csv)
    assert csv.read_text() == schedule_to_csv(panel.entries[1].schedule)
    columns = read_schedule_csv(csv.read_text())
    np.testing.assert_array_equal(columns["alphas_cumprod"], make_schedule("linear", 1000).alphas_cumprod)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plots.png", "plots.svg", "table.csv"]
    assert panel.message_strip.text() == ""


def test_export_to_a_read_only_folder_says_so(panel, tmp_path, monkeypatch):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    if os.access(locked, os.W_OK):  # root ignores permissions: report the folder read-only instead
        real_access = os.access
        monkeypatch.setattr(os, "access", lambda p, m, **kw: False if str(p) == str(locked) else real_access(p, m, **kw))
    try:
        assert not panel.export_table_csv(locked / "table.csv")
        assert "read-only" in panel.message_strip.text()
        assert not panel.export_plots_png(locked / "plots.png")
        assert not panel.export_plots_svg(tmp_path / "missing" / "plots.svg")
        assert "does not exist" in panel.message_strip.text()
        assert list(locked.iterdir()) == []
    finally:
        locked.chmod(0o755)
    assert panel.export_table_csv(tmp_path / "ok.csv")
    assert panel.message_strip.text() == ""


def test_follows_the_theme(panel):
    # What apply_theme() does for panels, without restyling the whole test application.
    manager = theme.theme_manager()
    original = manager.colors
    try:
        for colors in (theme.LIGHT, theme.DARK):
            manager.colors = colors
            manager.changed.emit(colors)
            pen = panel.plots.curves[panel.entries[0].uid]["beta"].opts["pen"]
            assert pen.color().name() == colors.series[0]
            assert panel.plots.graphics.backgroundBrush().color().name() == colors.panel
            assert panel.plots.cursors["beta"].pen.color().name() == colors.text
            for _sample, label in panel.plots.legend.items:  # the legend's words too, not only new ones
                assert QColor(colors.text).name() in label.item.toHtml()
    finally:
        manager.colors = original
        manager.changed.emit(original)


def test_beta_axis_reads_plain_values_for_the_linear_schedule(qtbot, panel):
    """β of the linear schedule spans 1e-4 … 0.02: ticks 0.0001 / 0.001 / 0.01, no rescaled "(x0.001)"."""
    panel.state.set_schedule(make_schedule("linear", 1000))
    axis = panel.plots.plots["beta"].getAxis("left")
    qtbot.waitUntil(lambda: axis.range[1] < 0)  # the view followed the new curve (log10 β < 0)
    assert "(x" not in axis.labelString()
    levels = axis.tickValues(axis.range[0], axis.range[1], axis.height())
    ticks = [value for _spacing, values in levels for value in values]
    shown = axis.tickStrings(ticks, axis.autoSIPrefixScale * axis.scale, 1)
    assert {"0.001", "0.01"} <= set(shown)
