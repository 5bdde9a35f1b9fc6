"""The ERU model: causal over time, the same fed whole or token by token, and configs that refuse bad values."""

from __future__ import annotations

import pytest
import torch

from search_spaces.errors import ConfigError
from search_spaces.eru import build_language_model
from search_spaces.eru_config import ERUConfig, resolve_language
from tests.language.conftest import TINY


def test_token_by_token_equals_the_whole_sequence() -> None:
    torch.manual_seed(0)
    model = build_language_model(TINY).eval()
    tokens = torch.randint(0, TINY.vocab_size, (2, 15))
    with torch.no_grad():
        whole, _ = model(tokens)
        state, steps = None, []
        for t in range(tokens.shape[1]):
            out, state = model(tokens[:, t : t + 1], state)
            steps.append(out)
        split_a, state_a = model(tokens[:, :6])
        split_b, _ = model(tokens[:, 6:], state_a)
    torch.testing.assert_close(torch.cat(steps, 1), whole)
    torch.testing.assert_close(torch.cat([split_a, split_b], 1), whole)


def test_no_output_depends_on_a_later_token() -> None:
    torch.manual_seed(0)
    model = build_language_model(TINY).eval()
    tokens = torch.randint(0, TINY.vocab_size, (1, 12))
    changed = tokens.clone()
    changed[0, 8] = (changed[0, 8] + 1) % TINY.vocab_size
    with torch.no_grad():
        a, _ = model(tokens)
        b, _ = model(changed)
    torch.testing.assert_close(a[:, :8], b[:, :8])
    assert not torch.allclose(a[:, 8], b[:, 8])


def test_the_convolution_sees_the_past_up_to_its_cap() -> None:
    # K=4 with cap 9: dilations 1, 2, 3, 4, so the unit's output at t reads the frames t-8 .. t and nothing older.
    cfg = ERUConfig(vocab_size=20, embedding=8, hidden=8, layers=1, dilation_caps=(9,))
    unit = build_language_model(cfg).eval().layers[0].transform
    assert unit.dilations == (1, 2, 3, 4) and unit.context == 8
    x = torch.randn(1, 8, 12)
    past = torch.zeros(1, unit.width, unit.context)
    with torch.no_grad():
        base, _ = unit(x, past)
        for back, differs in ((8, True), (9, False)):
            changed = x.clone()
            changed[0, :, 11 - back] += 1.0
            out, _ = unit(changed, past)
            assert (not torch.allclose(out[..., 11], base[..., 11])) == differs


def test_tied_decoder_shares_the_embedding() -> None:
    model = build_language_model(TINY)
    assert model.decoder.weight is model.embedding.weight
    untied = build_language_model(TINY.replace(tie_weights=False))
    assert untied.decoder.weight is not untied.embedding.weight


@pytest.mark.parametrize(
    ("changes", "needle"),
    [
        ({"dilation_caps": (9, 9)}, "one per layer"),
        ({"dilation_caps": (9, 2, 9)}, "dilation_caps[1]=2"),
        ({"reduce_groups": 3}, "reduce_groups=3"),
        ({"expand_groups": 7}, "expand_groups=7"),
        ({"branches": 3}, "branches K=3"),
        ({"dropout": 1.0}, "dropout=1.0"),
        ({"hidden": 0}, "hidden=0"),
        ({"hff": 1}, "hff=1"),
    ],
)
def test_invalid_configs_are_one_line_errors(changes: dict, needle: str) -> None:
    with pytest.raises(ConfigError) as err:
        TINY.replace(**changes)
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_spec_forms_round_trip() -> None:
    assert resolve_language(TINY.to_compact()) == TINY
    assert resolve_language(TINY.to_json()) == TINY
    assert ERUConfig.from_dict(TINY.to_dict()) == TINY
    assert resolve_language("eru-7m").hidden == 316
    with pytest.raises(ConfigError, match="unknown language model spec"):
        resolve_language("eru-9m")
    with pytest.raises(ConfigError, match="valid keys"):
        resolve_language("eru:x=1")
