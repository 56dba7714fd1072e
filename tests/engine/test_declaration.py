"""A node class is declared once; bad declarations fail at import naming node and field."""

from typing import NamedTuple

import pytest

from graphflow.api import FLOAT, INT, LATENT, STRING, Context, DeclarationError, Input, Output, Settings, node, spec_of


def test_declaration_builds_a_spec_with_ordered_fields_and_docstring():
    @node("acme.scale", version="1.2.3", title="Scale", category="acme")
    class Scale:
        """Multiply a value.

        More help here."""

        value = Input(FLOAT, default=1.0, min=0, max=10, step=0.5)
        factor = Input(INT, default=2)
        result = Output(FLOAT)

        def run(self, ctx: Context, value: float, factor: int) -> float:
            return value * factor

    spec = spec_of(Scale)
    assert spec.type_id == "acme.scale" and spec.version == "1.2.3" and spec.major == 1
    assert list(spec.inputs) == ["value", "factor"] and list(spec.outputs) == ["result"]
    assert spec.description.startswith("Multiply a value.") and spec.cacheable and not spec.is_output


@pytest.mark.parametrize(
    ("type_id", "version", "fragment"),
    [("Blur", "1.0.0", "namespaced"), ("acme.blur", "1.0", "semantic"), ("acme.blur", "v1.0.0", "semantic")],
)
def test_bad_id_or_version_names_the_node(type_id, version, fragment):
    with pytest.raises(DeclarationError, match=fragment) as err:

        @node(type_id, version=version)
        class Blur:
            result = Output(FLOAT)

            def run(self, ctx):
                return 1.0

    assert type_id in str(err.value)


def _declare(**fields):
    body = dict(fields)
    body.setdefault("result", Output(FLOAT))
    body.setdefault("run", lambda self, ctx, **kw: 0.0)
    return node("acme.bad", version="1.0.0")(type("Bad", (), body))


@pytest.mark.parametrize(
    ("fields", "fragment"),
    [
        ({"amount": Input(INT, default="three")}, "default 'three' is not a INT"),
        ({"amount": Input(INT, default=50, min=0, max=10)}, "outside its bounds"),
        ({"amount": Input(INT, min=5, max=1)}, "min 5 is above max 1"),
        ({"amount": Input(INT, step=0)}, "step must be positive"),
        ({"mode": Input(STRING, choices=[])}, "non-empty list"),
        ({"mode": Input(STRING, default="c", choices=["a", "b"])}, "not one of its choices"),
        ({"latent": Input(LATENT, source="literal")}, "cannot be typed in"),
        ({"amount": Input("INT")}, "has no value type"),
        ({"Amount": Input(INT)}, "lowercase identifier"),
        ({"word": Input(STRING, check=lambda value: None)}, "check must be a function of the run's settings"),
        ({"word": Input(STRING, check="no spaces")}, "check must be a function of the run's settings"),
    ],
)
def test_bad_field_names_node_and_field(fields, fragment):
    with pytest.raises(DeclarationError, match=fragment) as err:
        _declare(**fields)
    assert "acme.bad" in str(err.value)
    assert next(iter(fields)) in str(err.value)


def test_run_signature_must_match_inputs():
    with pytest.raises(DeclarationError, match="input 'b' is not a parameter of run"):

        @node("acme.sig", version="1.0.0")
        class Sig:
            a = Input(FLOAT)
            b = Input(FLOAT)
            result = Output(FLOAT)

            def run(self, ctx, a):
                return a


def test_a_node_without_outputs_must_be_an_output_node():
    with pytest.raises(DeclarationError, match="at least one output"):

        @node("acme.nothing", version="1.0.0")
        class Nothing:
            def run(self, ctx):
                return None


def test_link_only_types_default_to_link_source():
    @node("acme.decode", version="1.0.0")
    class Decode:
        latent = Input(LATENT)
        result = Output(FLOAT)

        def run(self, ctx, latent):
            return 0.0

    assert spec_of(Decode).inputs["latent"].source == "link"


def test_one_input_shared_by_two_classes_is_copied_not_changed():
    shared = Input(LATENT, description="a latent")

    @node("acme.first", version="1.0.0")
    class First:
        source = shared
        result = Output(FLOAT)

        def run(self, ctx, source):
            return 0.0

    @node("acme.second", version="1.0.0")
    class Second:
        target = shared
        result = Output(FLOAT)

        def run(self, ctx, target):
            return 0.0

    assert spec_of(First).inputs["source"].name == "source" and spec_of(Second).inputs["target"].name == "target"
    assert spec_of(First).inputs["source"].source == "link" and (shared.name, shared.source) == ("", "either")


def test_a_run_parameter_annotated_with_another_type_is_refused_at_import():
    with pytest.raises(
        DeclarationError,
        match=r"acme.typed.*'count' is annotated str, but a INT input gives "
        r"builtins.int",
    ):

        @node("acme.typed", version="1.0.0")
        class Typed:
            count = Input(INT, default=1)
            result = Output(FLOAT)

            def run(self, ctx: Context, count: str) -> float:
                return 0.0


def test_an_optional_input_must_be_annotated_to_admit_none():
    with pytest.raises(DeclarationError, match=r"'extra' may be None .* annotate it `... \| None`"):

        @node("acme.optional", version="1.0.0")
        class Optional:
            extra = Input(LATENT, optional=True)
            result = Output(FLOAT)

            def run(self, ctx: Context, extra: float) -> float:
                return 0.0


def test_annotations_that_fit_their_types_are_accepted():
    @node("acme.fits", version="1.0.0")
    class Fits:
        count = Input(INT, default=1)
        ratio = Input(FLOAT, default=0.5)
        name = Input(STRING, default="x")
        text = Input(STRING, optional=True)
        result = Output(FLOAT)

        def run(self, ctx: Context, count: int, ratio: float, name: str, text: str | None) -> float:
            return 0.0

    assert list(spec_of(Fits).inputs) == ["count", "ratio", "name", "text"]


def test_a_named_tuple_return_must_name_every_output():
    class Pair(NamedTuple):
        low: float
        high: float

    with pytest.raises(
        DeclarationError,
        match=r"returns Pair with fields \['low', 'high'\], but the outputs are "
        r"\['low', 'top'\]",
    ):

        @node("acme.pair", version="1.0.0")
        class Split:
            low = Output(FLOAT)
            top = Output(FLOAT)

            def run(self, ctx: Context) -> Pair:
                return Pair(0.0, 1.0)


def test_an_annotation_that_cannot_be_resolved_names_the_node():
    with pytest.raises(DeclarationError, match=r"acme\.unresolved.*cannot be resolved"):

        @node("acme.unresolved", version="1.0.0")
        class Unresolved:
            count = Input(INT, default=1)
            result = Output(FLOAT)

            def run(self, ctx: Context, count: "NoSuchType") -> float:  # noqa: F821
                return 0.0


def test_choices_are_a_function_of_the_settings_or_of_nothing(tmp_path):
    (tmp_path / "a.txt").write_text("")

    @node("acme.files", version="1.0.0")
    class Files:
        name = Input(
            STRING,
            choices=lambda settings: sorted(p.name for p in settings.input_dir.iterdir()),
            choices_help=lambda settings: f"files in {settings.input_dir}",
        )
        legacy = Input(STRING, choices=lambda: ["x", "y"])
        result = Output(FLOAT)

        def run(self, ctx: Context, name: str, legacy: str) -> float:
            return 0.0

    settings = Settings(input_dir=tmp_path)
    inputs = spec_of(Files).inputs
    assert inputs["name"].current_choices(settings) == ("a.txt",)
    assert inputs["name"].choices_hint(settings) == f"files in {tmp_path}"
    assert inputs["legacy"].current_choices(settings) == ("x", "y")
