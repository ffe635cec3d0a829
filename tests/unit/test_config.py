import re

import pytest

from parley.config import ConfigError, TTSConfig, load_settings
from parley.config.voice import choose_voice
from testbed.serve import write_stack
from tests.conftest import CONFIGS


def test_default_stack_loads():
    s = load_settings(CONFIGS / "cpu.yaml")
    assert s.stack.llm.engine == "llama_cpp"
    assert s.prompt_style == "completion"  # gemma3-270m is a base model
    assert s.persona.name == "Ada"


@pytest.mark.parametrize("persona", sorted(p.name for p in (CONFIGS / "personas").glob("*.yaml")))
def test_every_persona_is_valid_and_swaps_by_config_only(tmp_path, persona):
    s = load_settings(write_stack(tmp_path, persona=str(CONFIGS / "personas" / persona)))
    assert s.persona.examples and s.persona.fill(s.persona.system_prompt).strip()


def test_unknown_engine_names_file_key_and_allowed(tmp_path):
    path = write_stack(tmp_path, **{"llm.engine": "llamacpp"})
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    msg = str(err.value)
    assert str(path) in msg and "llm.engine" in msg and "llama_cpp" in msg and "'llamacpp'" in msg


def test_unknown_key_lists_allowed_keys(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_settings(write_stack(tmp_path, **{"tts.speed": 2}))
    msg = str(err.value)
    assert "tts.speed" in msg and "unknown key" in msg and "length_scale" in msg


def test_bad_value_type(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_settings(write_stack(tmp_path, **{"llm.max_tokens": "lots"}))
    assert "llm.max_tokens" in str(err.value)


def test_prompt_style_lists_allowed_values(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_settings(write_stack(tmp_path, **{"llm.prompt_style": "fewshot"}))
    assert "llm.prompt_style" in str(err.value) and "'completion'" in str(err.value)


def test_unknown_model_names_registry_choices(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_settings(write_stack(tmp_path, **{"llm.model": "gpt-5"}))
    msg = str(err.value)
    assert "llm.model" in msg and "gpt-5" in msg and "gemma3-270m" in msg and "qwen2.5-0.5b-instruct" in msg


def test_voice_must_be_a_tts_model(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_settings(write_stack(tmp_path, **{"tts.voice": "gemma3-270m"}))
    assert "tts.voice" in str(err.value) and "piper-en_US-joe-medium" in str(err.value)


def test_the_voice_is_the_avatars_unless_the_stack_names_one(tmp_path):
    s = load_settings(write_stack(tmp_path))
    assert (s.stack.tts.engine, s.stack.tts.voice) == ("hibari", "hibari-heart")  # avatars/portrait's voice
    s = load_settings(write_stack(tmp_path, **{"tts.voice": "piper-en_US-joe-medium"}))
    assert (s.stack.tts.engine, s.stack.tts.voice) == ("piper", "piper-en_US-joe-medium")


def test_a_voice_and_an_engine_that_cannot_play_it_are_named(tmp_path):
    with pytest.raises(ConfigError, match="tts.engine: hibari-heart is played by the hibari engine, not piper"):
        load_settings(write_stack(tmp_path, **{"tts.engine": "piper"}))
    with pytest.raises(ConfigError, match="hibari-heart is a hibari voice; Triton serves Piper voices"):
        load_settings(write_stack(tmp_path, **{"tts.engine": "triton"}))


def mute_avatar(tmp_path):
    """A 3D avatar whose avatar.yaml names no voice, as `parley avatar init` without --voice writes it."""
    avatar = tmp_path / "mute" / "avatar.yaml"
    avatar.parent.mkdir()
    glb = CONFIGS.parent / "avatars" / "head3d" / "head.glb"
    avatar.write_text(f"name: mute\nkind: glb\nmodel: {glb}\nlicence: test\n")
    return avatar


@pytest.mark.parametrize("stack, avatar, default, chosen", [
    ("piper-en_US-joe-medium", "hibari-heart", "hibari-heart", ("piper-en_US-joe-medium", "stack")),
    (None, "hibari-heart", "piper-en_US-joe-medium", ("hibari-heart", "avatar")),
    (None, None, "piper-en_US-joe-medium", ("piper-en_US-joe-medium", "default")),
    (None, None, None, None),
])
def test_the_voice_is_the_stacks_then_the_avatars_then_the_stacks_default(stack, avatar, default, chosen):
    assert choose_voice(TTSConfig(voice=stack, default_voice=default), avatar) == chosen


def test_an_avatar_without_a_voice_speaks_with_the_shipped_default(tmp_path):
    avatar = str(mute_avatar(tmp_path))
    s = load_settings(write_stack(tmp_path, **{"face.avatar": avatar}))
    assert (s.stack.tts.engine, s.stack.tts.voice) == ("piper", "piper-en_US-joe-medium")
    s = load_settings(write_stack(tmp_path, **{"face.avatar": avatar, "tts.default_voice": "hibari-heart"}))
    assert (s.stack.tts.engine, s.stack.tts.voice) == ("hibari", "hibari-heart")


def test_no_voice_anywhere_says_where_to_name_one(tmp_path):
    avatar = mute_avatar(tmp_path)
    with pytest.raises(ConfigError) as err:
        load_settings(write_stack(tmp_path, **{"face.avatar": str(avatar), "tts.default_voice": None}))
    msg = str(err.value)
    assert "tts.default_voice: no voice for the avatar" in msg and f"voice: in {avatar}" in msg
    assert "(piper-en_US-joe-medium, hibari-heart)" in msg


def test_an_unknown_default_voice_is_named_even_when_the_avatar_has_its_own(tmp_path):
    path = write_stack(tmp_path, **{"tts.default_voice": "piper-en_GB-nobody"})
    with pytest.raises(ConfigError, match=r"tts.default_voice: unknown tts model 'piper-en_GB-nobody'; known: "):
        load_settings(path)


def test_the_settings_take_the_avatars_voice_and_leave_its_model_to_the_face(tmp_path):
    from parley.face.avatars import load_avatar

    avatar = tmp_path / "broken" / "avatar.yaml"
    avatar.parent.mkdir()
    (avatar.parent / "head.glb").write_bytes(b"not a model")
    avatar.write_text("name: broken\nkind: glb\nmodel: head.glb\nlicence: test\nvoice: hibari-heart\n")
    s = load_settings(write_stack(tmp_path, **{"face.avatar": str(avatar)}))
    assert s.stack.tts.voice == "hibari-heart"
    with pytest.raises(ConfigError, match=f"^{re.escape(str(avatar))}: model: .*not a GLB file"):
        load_avatar(str(avatar))


def test_invalid_yaml_gives_line(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("llm:\n  engine: [llama_cpp\n")
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    assert f"{path}:" in str(err.value) and "not valid YAML" in str(err.value)


def test_missing_file_and_non_mapping(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        load_settings(tmp_path / "nope.yaml")
    path = tmp_path / "list.yaml"
    path.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_settings(path)


def test_missing_persona_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="file not found") as err:
        load_settings(write_stack(tmp_path, persona=str(tmp_path / "ghost.yaml")))
    assert "ghost.yaml" in str(err.value)


def test_persona_unknown_placeholder(tmp_path):
    import yaml

    persona = yaml.safe_load((CONFIGS / "personas" / "tutor.yaml").read_text())
    persona["system_prompt"] = "You are {name}, talking about {topic}."
    ppath = tmp_path / "p.yaml"
    ppath.write_text(yaml.safe_dump(persona))
    with pytest.raises(ConfigError) as err:
        load_settings(write_stack(tmp_path, persona=str(ppath)))
    assert "system_prompt" in str(err.value) and "topic" in str(err.value) and "knowledge" in str(err.value)


def test_registry_sources_must_cover_files(tmp_path):
    import yaml

    reg = yaml.safe_load((CONFIGS / "models.yaml").read_text())
    del reg["models"]["whisper-tiny.en"]["sources"][0]["files"]["vocabulary.txt"]
    rpath = tmp_path / "models.yaml"
    rpath.write_text(yaml.safe_dump(reg))
    with pytest.raises(ConfigError) as err:
        load_settings(write_stack(tmp_path, models=str(rpath)))
    assert "whisper-tiny.en" in str(err.value) and "vocabulary.txt" in str(err.value)


def test_binding_off_loopback_needs_tls(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_settings(write_stack(tmp_path, **{"server.host": "0.0.0.0"}))
    assert "server" in str(err.value) and "tls_cert" in str(err.value) and "HTTPS" in str(err.value)
    ok = load_settings(write_stack(tmp_path, **{"server.host": "0.0.0.0", "server.tls_cert": "c.pem",
                                                "server.tls_key": "k.pem"}))
    assert ok.stack.server.host == "0.0.0.0"


def test_the_end_of_turn_model_must_be_a_gguf_llm_of_the_registry(tmp_path):
    import yaml

    with pytest.raises(ConfigError) as err:
        load_settings(write_stack(tmp_path, **{"turn_taking.turn_model": "whisper-tiny.en"}))
    assert "turn_taking.turn_model" in str(err.value) and "gemma3-270m" in str(err.value)

    registry = yaml.safe_load((CONFIGS / "models.yaml").read_text())
    served = registry["models"]["gemma3-270m"] | {"files": [{"name": "model.safetensors", "sha256": "0" * 64}]}
    served["sources"] = [{"kind": "url", "files": {"model.safetensors": "https://example.org/model.safetensors"}}]
    registry["models"]["served-llm"] = served
    (tmp_path / "models.yaml").write_text(yaml.safe_dump(registry))
    with pytest.raises(ConfigError) as err:
        load_settings(write_stack(tmp_path, **{"turn_taking.turn_model": "served-llm",
                                               "models": str(tmp_path / "models.yaml")}))
    assert "served-llm is not a GGUF" in str(err.value) and "null" in str(err.value)
    assert load_settings(write_stack(tmp_path, **{"turn_taking.turn_model": None})).stack.turn_taking.turn_model is None
