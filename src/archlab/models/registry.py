"""One way to build a model: ``create_model(name)`` over archlab's own models, timm and torchvision.

A *model source* knows a set of names, their metadata without building them, and how to build
one. Three sources are consulted, in this fixed precedence:

1. ``archlab``: the models registered with ``@register_model`` (the seeds' models) and
   architecture files (a name ending in ``.yaml``);
2. ``timm``: every name in ``timm.list_models()`` (:mod:`archlab.models.timm_source`);
3. ``torchvision``: every classification builder of ``torchvision.models``
   (:mod:`archlab.models.torchvision_source`).

A bare name builds from the first source that knows it; a prefix picks the source
(``timm:resnet50``, ``torchvision:resnet50``, ``archlab:mnist_net3``). timm and torchvision are
imported only when a name is not one of archlab's own, so the own-model path stays light.

Every own factory has the signature
``fn(num_classes: int = <default>, in_chans: int = <default>, **kwargs) -> nn.Module``
and carries metadata: the default input size ``(C, H, W)``, the default number of classes,
where the model comes from (a seed document, ...) and its task.
"""

from __future__ import annotations

import fnmatch
import inspect
import re
from typing import Any

from torch import nn

from archlab._registry import Registry, closest

MODELS = Registry("model")
PRECEDENCE = ("archlab", "timm", "torchvision")
SELECTIONS = ("featured", "all") + PRECEDENCE


def register_model(
    name: str | None = None,
    *,
    input_size: tuple[int, int, int],
    num_classes: int,
    source: str,
    task: str = "single_label",
):
    """Register a model factory with its default input size, class count and source."""
    return MODELS.register(
        name, input_size=tuple(input_size), num_classes=num_classes, source=source, task=task
    )


class ModelSource:
    """A set of model names: their metadata without building them, and how to build one."""

    name = ""

    def names(self) -> list[str]:
        """Every name this source builds, sorted."""
        raise NotImplementedError

    def featured(self) -> list[str]:
        """The names ``archlab models`` lists by default."""
        return []

    def __contains__(self, name: object) -> bool:
        return name in self.names()

    def info(self, name: str) -> dict[str, Any]:
        """``input_size``, ``num_classes``, ``source`` (a description) and ``task`` of ``name``."""
        raise NotImplementedError

    def create(
        self, name: str, num_classes: int | None, in_chans: int | None, pretrained: Any, **kwargs: Any
    ) -> nn.Module:
        raise NotImplementedError


class ArchlabSource(ModelSource):
    """archlab's own models: the registered factories and architecture files."""

    name = "archlab"

    def names(self) -> list[str]:
        return MODELS.names()

    def featured(self) -> list[str]:
        return MODELS.names()

    def __contains__(self, name: object) -> bool:
        from archlab.models.spec import is_spec_path

        return isinstance(name, str) and (name in MODELS or is_spec_path(name))

    def info(self, name: str) -> dict[str, Any]:
        from archlab.models.spec import is_spec_path, spec_info

        return spec_info(name) if is_spec_path(name) else dict(MODELS.meta(name))

    def create(
        self, name: str, num_classes: int | None, in_chans: int | None, pretrained: Any, **kwargs: Any
    ) -> nn.Module:
        from archlab.models.spec import create_from_spec_file, is_spec_path

        if is_spec_path(name):  # kwargs set the file's variables (and compound scaling multipliers)
            model = create_from_spec_file(name, num_classes=num_classes, in_chans=in_chans, **kwargs)
        else:
            fn = MODELS.get(name)
            meta = MODELS.meta(name)
            num_classes = meta["num_classes"] if num_classes is None else int(num_classes)
            in_chans = meta["input_size"][0] if in_chans is None else int(in_chans)
            if pretrained and "pretrained" in inspect.signature(fn).parameters:
                return call_factory(
                    name, fn, num_classes=num_classes, in_chans=in_chans, pretrained=pretrained, **kwargs
                )
            model = call_factory(name, fn, num_classes=num_classes, in_chans=in_chans, **kwargs)
        if pretrained:
            if pretrained is True:
                raise ValueError(
                    f"model {name!r} has no published weights; pass model.pretrained=PATH to a local weights file"
                )
            from archlab.models.pretrained import load_pretrained

            load_pretrained(model, pretrained, in_chans=in_chans, num_classes=num_classes)
        return model


_SOURCES: dict[str, ModelSource] = {"archlab": ArchlabSource()}


def register_source(source: ModelSource) -> ModelSource:
    """Make ``source`` available under ``source.name`` (one of :data:`PRECEDENCE`)."""
    if source.name not in PRECEDENCE:
        raise ValueError(f"unknown model source {source.name!r}; expected one of {', '.join(PRECEDENCE)}")
    _SOURCES[source.name] = source
    return source


def get_source(name: str) -> ModelSource:
    """The model source called ``name`` (``archlab``, ``timm`` or ``torchvision``)."""
    _ensure_loaded()
    if name not in _SOURCES:
        raise ValueError(f"unknown model source {name!r}; choose one of {', '.join(PRECEDENCE)}")
    return _SOURCES[name]


def split_name(name: str) -> tuple[str | None, str]:
    """``"timm:resnet50"`` -> ``("timm", "resnet50")``; a name without a source prefix -> ``(None, name)``."""
    prefix, sep, rest = name.partition(":")
    if sep and prefix in PRECEDENCE:
        return prefix, rest
    return None, name


def sources_of(name: str) -> list[str]:
    """The sources that know the bare ``name``, in precedence order (the first one builds it)."""
    _ensure_loaded()
    return [key for key in PRECEDENCE if name in _SOURCES[key]]


def qualified_name(source: str, name: str) -> str:
    """The name that builds ``source``'s ``name``: bare when that source wins, else ``source:name``."""
    _ensure_loaded()
    for key in PRECEDENCE:
        if key == source:
            return name
        if name in _SOURCES[key]:
            return f"{source}:{name}"
    raise ValueError(f"unknown model source {source!r}; choose one of {', '.join(PRECEDENCE)}")


def resolve(name: str) -> tuple[ModelSource, str]:
    """``(source, bare name)`` that ``name`` builds from; unknown names raise a one-line ``ValueError``."""
    _ensure_loaded()
    prefix, bare = split_name(name)
    if prefix is not None:
        source = _SOURCES[prefix]
        if bare not in source:
            elsewhere = [k for k in PRECEDENCE if k != prefix and bare in _SOURCES[k]]
            if elsewhere:
                raise ValueError(
                    f"{prefix} has no model {bare!r}; {elsewhere[0]} has: {qualified_name(elsewhere[0], bare)}"
                )
            raise ValueError(_unknown(f"{prefix} model", bare, source.names()))
        return source, bare
    for key in PRECEDENCE:
        if name in _SOURCES[key]:
            return _SOURCES[key], name
    if ":" in name and not name.endswith((".yaml", ".yml")):
        raise ValueError(
            f"unknown model source {name.partition(':')[0]!r} in {name!r}; "
            f"prefix a name with {', '.join(p + ':' for p in PRECEDENCE)} or none"
        )
    raise ValueError(_unknown("model", name, all_names()))


def shadow_note(name: str) -> str | None:
    """For a bare library name that several sources know: which one it builds and how to pick another.

    ``None`` for a prefixed name, a name one source knows, and archlab's own names (checking
    those against timm and torchvision would import them; ``archlab models --source all`` does).
    """
    source, bare = resolve(name)
    if split_name(name)[0] is not None or source.name == "archlab":
        return None
    others = [k for k in PRECEDENCE if k != source.name and bare in _SOURCES[k]]
    if not others:
        return None
    picks = ", ".join(f"{k}:{bare} builds {k}'s" for k in others)
    return f"{bare} builds {source.name}'s model (precedence {' > '.join(PRECEDENCE)}); {picks}"


def _unknown(kind: str, name: str, choices: list[str]) -> str:
    near = closest(name, choices)
    hint = f"did you mean {', '.join(map(repr, near))}?" if near else "see 'archlab models --source all'"
    return f"unknown {kind} {name!r}; {hint}"


def all_names() -> list[str]:
    """Every bare name of every source (a name in several sources once)."""
    _ensure_loaded()
    return sorted({n for key in PRECEDENCE for n in _SOURCES[key].names()})


def model_info(name: str) -> dict[str, Any]:
    """Metadata of ``name``: ``input_size``, ``num_classes``, ``source``, ``task`` and ``library``.

    ``library`` is the model source that builds it (``archlab``, ``timm`` or ``torchvision``);
    nothing is built.
    """
    source, bare = resolve(name)
    return dict(source.info(bare), name=name, library=source.name)


def model_entries(source: str = "featured") -> list[tuple[str, str]]:
    """``(library, bare name)`` of a selection: ``featured`` (archlab's own models and the standard
    families), ``archlab``, ``timm``, ``torchvision`` or ``all``; sorted by name, then precedence."""
    _ensure_loaded()
    if source not in SELECTIONS:
        near = closest(source, SELECTIONS, n=1)
        hint = f"did you mean {near[0]!r}?" if near else f"choose one of {', '.join(SELECTIONS)}"
        raise ValueError(f"unknown model selection {source!r}; {hint}")
    keys = PRECEDENCE if source in ("featured", "all") else (source,)
    entries = []
    for key in keys:
        names = _SOURCES[key].featured() if source == "featured" else _SOURCES[key].names()
        entries += [(key, n) for n in names]
    return sorted(entries, key=lambda e: (e[1], PRECEDENCE.index(e[0])))


def select_models(pattern: str | None = None, source: str = "featured") -> list[tuple[str, str, str]]:
    """``(library, bare name, name that builds it)`` of a selection, filtered by a shell wildcard.

    The name that builds an entry is bare, or prefixed with its source when an earlier source
    also knows it (``torchvision:resnet50``). The pattern matches the bare or the prefixed name.
    """
    out = []
    for library, bare in model_entries(source):
        name = bare if library == "archlab" else qualified_name(library, bare)
        if pattern is None or fnmatch.fnmatchcase(bare, pattern) or fnmatch.fnmatchcase(name, pattern):
            out.append((library, bare, name))
    return out


def list_models(pattern: str | None = None, source: str = "featured") -> list[str]:
    """Names of a selection (see :func:`model_entries`), optionally filtered by a shell wildcard.

    Each name builds the entry it lists: a name that an earlier source also knows is prefixed
    with its source (``torchvision:resnet50``).
    """
    return [name for _, _, name in select_models(pattern, source)]


def create_model(
    name: str,
    num_classes: int | None = None,
    in_chans: int | None = None,
    pretrained: bool | str = False,
    **kwargs: Any,
) -> nn.Module:
    """Build ``name``: an own model, an architecture file (``.yaml``), a timm or a torchvision model.

    A prefix (``timm:``, ``torchvision:``, ``archlab:``) picks the source; a bare name builds
    from the first source that knows it (archlab, then timm, then torchvision).
    ``num_classes`` and ``in_chans`` default to the model's (1000 and 3 for timm and torchvision).
    ``pretrained`` is ``False``, ``True`` (the library's published weights, from its cache or
    downloaded) or a path to a local weights file (safetensors or a torch checkpoint), loaded by
    :func:`archlab.models.pretrained.load_pretrained` with the input bands adapted and a head
    of another size re-initialised. Other keyword arguments go to the model's constructor.
    """
    source, bare = resolve(name)
    return source.create(bare, num_classes, in_chans, pretrained, **kwargs)


def call_factory(name: str, fn, **kwargs: Any) -> nn.Module:
    """Call a factory; an argument it does not take is a one-line ValueError naming the closest one."""
    try:
        return fn(**kwargs)
    except TypeError as exc:
        match = re.search(r"unexpected keyword argument '(\w+)'", str(exc))
        if not match:
            raise
        bad = match.group(1)
        accepted = _accepted_arguments(fn, exc)
        near = closest(bad, accepted, n=1)
        hint = (
            f"did you mean {near[0]!r}?"
            if near
            else f"it takes {', '.join(accepted) or 'no extra arguments'}"
        )
        raise ValueError(f"model {name!r} takes no argument {bad!r} (model.kwargs.{bad}); {hint}") from None


def _accepted_arguments(fn, exc: TypeError) -> list[str]:
    """Keyword arguments of the factory, or of the class it forwards ``**kwargs`` to."""
    params = inspect.signature(fn).parameters
    names = [p for p, v in params.items() if v.kind in (v.KEYWORD_ONLY, v.POSITIONAL_OR_KEYWORD)]
    owner = str(exc).split(".__init__()")[0].strip() if ".__init__()" in str(exc) else None
    if owner and any(v.kind == v.VAR_KEYWORD for v in params.values()):
        stack = [nn.Module]
        while stack:  # the module class named in the error: the factory forwarded **kwargs to it
            cls = stack.pop()
            if cls.__name__ == owner:
                names += [
                    p
                    for p in inspect.signature(cls.__init__).parameters
                    if p not in ("self", "args", "kwargs")
                ]
                break
            stack.extend(cls.__subclasses__())
    return sorted(set(names) - {"num_classes", "in_chans", "kwargs", "pretrained", "weights", "progress"})


def _ensure_loaded() -> None:
    """Import the modules that register models and sources (done lazily to keep imports light)."""
    import archlab.models  # noqa: F401
