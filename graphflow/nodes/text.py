"""Text nodes: join strings, format numbers, and save text to the output folder."""

from typing import Any

from graphflow.api import FLOAT, STRING, Context, Input, Output, hookimpl, node


@node("graphflow.text.join", version="2.0.0", title="Join Text", category="text")
class JoinText:
    """Join two pieces of text with a separator between them."""

    first = Input(STRING, default="")
    second = Input(STRING, default="")
    separator = Input(STRING, default=" ")
    result = Output(STRING)

    @staticmethod
    def upgrade(from_version: str, inputs: dict[str, Any], links: dict[str, Any]) -> tuple[dict, dict]:
        """Version 1 called the separator input `sep`."""
        rename = {"sep": "separator"}
        return ({rename.get(k, k): v for k, v in inputs.items()}, {rename.get(k, k): v for k, v in links.items()})

    def run(self, ctx: Context, first: str, second: str, separator: str) -> str:
        return f"{first}{separator}{second}"


@node("graphflow.text.format_number", version="1.0.0", title="Number to Text", category="text")
class FormatNumber:
    """Write a number as text with a Python format spec such as '.2f'."""

    value = Input(FLOAT, default=0.0)
    format = Input(STRING, default="g", source="literal")
    result = Output(STRING)

    def run(self, ctx: Context, value: float, format: str) -> str:
        try:
            return f"{value:{format}}"
        except ValueError as exc:
            raise ValueError(f"bad number format {format!r}: {exc}") from None


@node("graphflow.text.save", version="1.0.0", title="Save Text", category="text", output=True, cacheable=False)
class SaveText:
    """Write text to a numbered .txt file in the output folder (existing files are never overwritten)."""

    text = Input(STRING, default="")
    filename_prefix = Input(STRING, default="text", source="literal")

    def run(self, ctx: Context, text: str, filename_prefix: str) -> None:
        path = ctx.output_file(filename_prefix, ".txt")
        path.write_text(text, encoding="utf-8")
        ctx.add_ui("texts", {**ctx.file_ref(path), "text": text})
        ctx.log.info("saved %s", path)


@hookimpl
def register_nodes(register) -> None:
    """Provide the text nodes."""
    for cls in (JoinText, FormatNumber, SaveText):
        register(cls)
