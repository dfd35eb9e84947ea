"""The pandas accessor: `import excel_glm.pandas`, then `df["review"].glm.translate("English")`.

Each method returns a Series with the input's index (extract: a DataFrame with one column per
field); missing values (None, NaN, NaT, pd.NA) are blank cells and stay missing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import pandas as pd

from excel_glm import api
from excel_glm.config import Settings


@pd.api.extensions.register_series_accessor("glm")
class GlmSeriesAccessor:
    """`series.glm.translate/classify/extract/ask`, answers aligned on the series' index."""

    def __init__(self, series: pd.Series) -> None:
        self._series = series

    def _values(self) -> list[object]:
        series = self._series.astype(object)
        return series.where(series.notna(), None).tolist()

    def _series_of(self, answers: list) -> pd.Series:
        return pd.Series(answers, index=self._series.index, name=self._series.name, dtype=object)

    def translate(
        self,
        to: str,
        from_: str | None = None,
        glossary: Mapping[str, str] | str | None = None,
        *,
        settings: Settings | None = None,
        on_error: api.OnError = "raise",
    ) -> pd.Series:
        """Translate each value into `to`."""
        answers = api.translate(
            self._values(), to, from_, glossary, settings=settings, on_error=on_error
        )
        return self._series_of(answers)

    def classify(
        self,
        labels: Iterable[str] | str,
        instructions: str | None = None,
        multi_label: bool = False,
        *,
        settings: Settings | None = None,
        on_error: api.OnError = "raise",
    ) -> pd.Series:
        """One of `labels` per value."""
        answers = api.classify(
            self._values(), labels, instructions, multi_label, settings=settings, on_error=on_error
        )
        return self._series_of(answers)

    def extract(
        self,
        fields: Iterable[str] | str,
        *,
        settings: Settings | None = None,
        on_error: api.OnError = "raise",
    ) -> pd.DataFrame:
        """A DataFrame with one column per field, indexed like the series."""
        task_fields = list(
            api.make_task(
                "extract", {"fields": fields if isinstance(fields, str) else list(fields)}
            ).fields
        )
        answers = api.extract(self._values(), task_fields, settings=settings, on_error=on_error)
        rows = [answer or dict.fromkeys(task_fields) for answer in answers]
        return pd.DataFrame(rows, index=self._series.index, columns=task_fields)

    def ask(
        self, prompt: str, *, settings: Settings | None = None, on_error: api.OnError = "raise"
    ) -> pd.Series:
        """Apply `prompt` to each value."""
        answers = api.ask(self._values(), prompt, settings=settings, on_error=on_error)
        return self._series_of(answers)
