"""Example graphflow plugin: nodes that reverse text and count its words."""

from graphflow.api import INT, STRING, Context, Input, Output, hookimpl, node


@node("example.reverse_text", version="1.0.0", title="Reverse Text", category="example")
class ReverseText:
    """Write the text backwards."""

    text = Input(STRING, default="", multiline=True)
    result = Output(STRING)

    def run(self, ctx: Context, text: str) -> str:
        return text[::-1]


@node("example.word_count", version="1.0.0", title="Word Count", category="example")
class WordCount:
    """Count the words in a text (split on white space)."""

    text = Input(STRING, default="")
    count = Output(INT)

    def run(self, ctx: Context, text: str) -> int:
        return len(text.split())


@hookimpl
def register_nodes(register) -> None:
    """Tell graphflow about this plugin's nodes."""
    register(ReverseText)
    register(WordCount)
