"""`ssl-audio probe --peers LIST` is `--features pretrained,LIST`; both at once is one clear error."""

from __future__ import annotations

import argparse

import pytest

from ssl_audio.commands import probe as command
from ssl_audio.errors import BadValueError
from ssl_audio_linear_probe.run import DEFAULT_FEATURES


def parse(*argv: str):
    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    return parser.parse_args(["--checkpoint", "runs/x", "--dataset", "d", "--out", "o", *argv])


def test_peers_are_the_baselines_beside_the_pretrained_features():
    assert command.feature_kinds(parse("--peers", "mfcc,random,musicnn")) == ("pretrained", "mfcc", "random", "musicnn")
    assert command.feature_kinds(parse("--features", "mfcc")) == ("mfcc",)
    assert command.feature_kinds(parse()) == tuple(DEFAULT_FEATURES)


def test_features_and_peers_together_are_refused_in_one_line():
    with pytest.raises(BadValueError, match="--features or --peers, not both"):
        command.feature_kinds(parse("--features", "mfcc", "--peers", "musicnn"))
