"""Every fuzz target runs on its seeds and on random bytes (the long runs are ``make fuzz``)."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fuzz.targets import TARGETS, seeds


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_target_accepts_its_seeds(name: str) -> None:
    for seed in seeds()[name]:
        TARGETS[name](seed)


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_target_survives_random_bytes(name: str) -> None:
    @settings(max_examples=300, deadline=None, database=None)
    @given(st.binary(max_size=2048))
    def run(data: bytes) -> None:
        TARGETS[name](data)

    run()


def test_a_valid_note_is_accepted_by_the_target() -> None:
    from audit.checkpoint import open_checkpoint
    from fuzz.targets import _VERIFIER, ORIGIN

    note = seeds()["checkpoint_note"][0].decode()
    assert open_checkpoint(note, _VERIFIER, origin=ORIGIN).size == 42


def test_the_valid_proof_seed_verifies() -> None:
    import json

    from audit.proofs import check_inclusion
    from fuzz.targets import _VERIFIER, ORIGIN

    proof = json.loads(seeds()["inclusion_proof"][0])
    assert check_inclusion(proof, _VERIFIER, origin=ORIGIN).size == 2
