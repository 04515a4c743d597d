"""Generator presets are data that builds real generators of the advertised size."""
from __future__ import annotations

import pytest

from pix2pix_stream.pix2pix.presets import GENERATOR_PRESETS, generator_preset
from pix2pix_stream.networks.models import UnetGenerator, count_parameters


def test_paper_and_realtime_sizes():
    assert count_parameters(UnetGenerator(**generator_preset("paper"))) == 54_413_955
    realtime = count_parameters(UnetGenerator(**generator_preset("realtime")))
    assert 3.3e6 < realtime < 3.5e6  # ngf 16: 1/16 of the paper's parameters
    assert realtime * 4 < 25 * 2**20  # the fp32 engine fits the 25 MB demo budget
    assert 13.5e6 < count_parameters(UnetGenerator(**generator_preset("balanced"))) < 13.7e6


def test_unknown_preset_lists_the_known_ones():
    with pytest.raises(KeyError, match="balanced, paper, realtime"):
        generator_preset("huge")
    assert generator_preset("paper") is not GENERATOR_PRESETS["paper"]  # callers get a copy
