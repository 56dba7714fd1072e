"""Primitive value nodes: a typed constant to wire into several inputs."""

from graphflow.api import BOOLEAN, FLOAT, INT, STRING, Context, Input, Output, hookimpl, node


@node("graphflow.primitive.int", version="1.0.0", title="Integer", category="primitive")
class IntValue:
    """A whole number."""

    value = Input(INT, default=0, source="literal")
    result = Output(INT)

    def run(self, ctx: Context, value: int) -> int:
        return value


@node("graphflow.primitive.float", version="1.0.0", title="Float", category="primitive")
class FloatValue:
    """A real number."""

    value = Input(FLOAT, default=0.0, source="literal")
    result = Output(FLOAT)

    def run(self, ctx: Context, value: float) -> float:
        return value


@node("graphflow.primitive.string", version="1.0.0", title="Text", category="primitive")
class StringValue:
    """A piece of text."""

    value = Input(STRING, default="", multiline=True, source="literal")
    result = Output(STRING)

    def run(self, ctx: Context, value: str) -> str:
        return value


@node("graphflow.primitive.boolean", version="1.0.0", title="Boolean", category="primitive")
class BooleanValue:
    """True or false."""

    value = Input(BOOLEAN, default=False, source="literal")
    result = Output(BOOLEAN)

    def run(self, ctx: Context, value: bool) -> bool:
        return value


@hookimpl
def register_nodes(register) -> None:
    """Provide the primitive nodes."""
    for cls in (IntValue, FloatValue, StringValue, BooleanValue):
        register(cls)
