"""The form that edits :class:`core.text_to_image.generate.GenerationSettings`: prompts, guidance, sampler, size."""

from __future__ import annotations


from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ... import theme
from ...widgets.controls_column import seed_field
from ....core.sampling import sampler_label
from ....core.text_to_image.generate import GENERATION_SAMPLERS, MAX_SIDE, GenerationSettings

__all__ = ["GenerationForm", "guidance_text"]


def guidance_text(scale: float) -> str:
    """The convention, with both numbers: diffusers' s and Ho & Salimans' w = s − 1."""
    weight = scale - 1.0
    meaning = ("no guidance: the conditional model alone" if scale == 1 else
               "the unconditional model alone" if scale == 0 else
               "pushed away from the prompt" if scale < 1 else "pushed towards the prompt")
    return f"s = {scale:g} · w = s − 1 = {weight:g}: {meaning}.  ε̃ = ε̂(∅) + s·(ε̂(c) − ε̂(∅))"


class _PromptEdit(QPlainTextEdit):
    """A few lines of text, no rich text, Tab moves on."""

    def __init__(self, placeholder: str, lines: int = 3):
        super().__init__()
        self.setPlaceholderText(placeholder)
        self.setTabChangesFocus(True)
        self.setFixedHeight(self.fontMetrics().lineSpacing() * lines + 12)


class GenerationForm(QWidget):
    """Prompt and negative prompt (with token counts), guidance s (and w), sampler, steps, seed, size.

    ``set_model(parts)`` gives it the model's tokenizer (for the counts), its VAE factor (size steps)
    and its native size. ``changed`` fires on every edit.
    """

    changed = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._count_tokens = None
        self._max_tokens = 75
        self.prompt = _PromptEdit("Describe the image, e.g. “a watercolour painting of a fox in the snow”. "
                                  "Empty: unconditional.")
        self.negative_prompt = _PromptEdit("Negative prompt (optional): what to steer away from", lines=2)
        self._prompt_count = QLabel(" ")
        self._negative_count = QLabel(" ")
        for label in (self._prompt_count, self._negative_count):
            label.setProperty("role", "muted")
            label.setWordWrap(True)

        self._guidance = QDoubleSpinBox(toolTip="Classifier-free guidance scale s (diffusers' guidance_scale)")
        self._guidance.setRange(0.0, 30.0)
        self._guidance.setSingleStep(0.5)
        self._guidance.setDecimals(1)
        self._guidance_note = QLabel()
        self._guidance_note.setProperty("role", "muted")
        self._guidance_note.setWordWrap(True)
        self._sampler = QComboBox(toolTip="Our samplers, on the model's own noise schedule")
        for name in GENERATION_SAMPLERS:
            self._sampler.addItem(sampler_label(name), name)
        self._steps = QSpinBox(toolTip="Denoising steps (each is one U-Net call, two inputs with guidance)")
        self._steps.setRange(1, 1000)
        self._seed, seed_row = seed_field("The starting latents: the same seed gives the same image")
        self._width = QSpinBox(toolTip="Image width in pixels (a multiple of the VAE's factor)")
        self._height = QSpinBox(toolTip="Image height in pixels (a multiple of the VAE's factor)")
        size_row = QHBoxLayout()
        size_row.setContentsMargins(0, 0, 0, 0)
        for spin in (self._width, self._height):
            spin.setRange(8, MAX_SIDE)
            spin.setSuffix(" px")
        size_row.addWidget(self._width, 1)
        size_row.addWidget(QLabel("×"))
        size_row.addWidget(self._height, 1)

        form = QFormLayout()
        form.setContentsMargins(0, 0, 0, 0)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.addRow("Guidance s", self._guidance)
        form.addRow(self._guidance_note)
        form.addRow("Sampler", self._sampler)
        form.addRow("Steps", self._steps)
        form.addRow("Seed", seed_row)
        form.addRow("Size", size_row)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addWidget(self.prompt)
        layout.addWidget(self._prompt_count)
        layout.addWidget(self.negative_prompt)
        layout.addWidget(self._negative_count)
        layout.addLayout(form)

        self.set_settings(GenerationSettings(width=256, height=256, steps=10))
        self.prompt.textChanged.connect(self._on_text_changed)
        self.negative_prompt.textChanged.connect(self._on_text_changed)
        self._guidance.valueChanged.connect(self._on_guidance_changed)
        for widget in (self._steps, self._seed, self._width, self._height):
            widget.valueChanged.connect(self.changed)
        self._sampler.currentIndexChanged.connect(self.changed)
        self._on_guidance_changed()

    # -- public API ------------------------------------------------------------------------
    def settings(self, **changes) -> GenerationSettings:
        """The form's settings (``changes`` override fields); a ConfigError names a bad field."""
        from ....core.validation import validated

        fields = {"prompt": self.prompt.toPlainText(), "negative_prompt": self.negative_prompt.toPlainText(),
                  "guidance_scale": self._guidance.value(), "sampler": self._sampler.currentData(),
                  "steps": self._steps.value(), "seed": self._seed.value(), "width": self._width.value(),
                  "height": self._height.value(), **changes}
        return validated(GenerationSettings, fields, what="text to image")

    def set_settings(self, settings: GenerationSettings) -> None:
        self.prompt.setPlainText(settings.prompt)
        self.negative_prompt.setPlainText(settings.negative_prompt)
        self._guidance.setValue(settings.guidance_scale)
        self._sampler.setCurrentIndex(max(0, self._sampler.findData(settings.sampler)))
        self._steps.setValue(settings.steps)
        self._seed.setValue(settings.seed)
        self._width.setValue(settings.width)
        self._height.setValue(settings.height)

    def set_size_and_steps(self, width: int, height: int, steps: int) -> None:
        self._width.setValue(width)
        self._height.setValue(height)
        self._steps.setValue(steps)

    def set_model(self, count_tokens, max_tokens: int, scale_factor: int) -> None:
        """The loaded model's token counter (``count_tokens(text) -> int``), limit and VAE factor."""
        self._count_tokens, self._max_tokens = count_tokens, int(max_tokens)
        for spin in (self._width, self._height):
            spin.setSingleStep(int(scale_factor))
            spin.setMinimum(int(scale_factor))
        self._on_text_changed()

    def prompt_count_text(self) -> str:
        return self._prompt_count.text()

    # -- internals -------------------------------------------------------------------------
    def _on_guidance_changed(self) -> None:
        self._guidance_note.setText(guidance_text(self._guidance.value()))
        self.changed.emit()

    def _on_text_changed(self) -> None:
        for edit, label, what in ((self.prompt, self._prompt_count, "prompt"),
                                  (self.negative_prompt, self._negative_count, "negative prompt")):
            label.setText(self._count_text(edit.toPlainText(), what))
        self.changed.emit()

    def _count_text(self, text: str, what: str) -> str:
        if self._count_tokens is None:
            return " "
        if not text.strip():
            return "empty: the unconditional input" if what == "prompt" else " "
        count = self._count_tokens(text)
        if count > self._max_tokens:
            return (f"<span style='color:{theme.colors().warning}'>{count} / {self._max_tokens} tokens: the text "
                    f"encoder reads the first {self._max_tokens}, the rest is left out</span>")
        return f"{count} / {self._max_tokens} tokens"

    def focus_prompt(self) -> None:
        self.prompt.setFocus(Qt.FocusReason.OtherFocusReason)
