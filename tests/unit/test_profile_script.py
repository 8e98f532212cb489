"""scripts/profile_pipeline.py: the offline profile is repeatable, digest and all."""

import re

from scripts import profile_pipeline


def run_digest(capsys, *argv):
    assert profile_pipeline.main([*argv, "--digest"]) == 0
    out = capsys.readouterr().out
    return re.search(r"digest=(\w+) records=(\d+)", out).groups(), out


def test_two_runs_over_the_same_events_give_the_same_digest(capsys):
    first, out = run_digest(capsys, "--synthetic", "3000", "--stub-scorer")
    second, _ = run_digest(capsys, "--synthetic", "3000", "--stub-scorer")
    assert first == second
    assert int(first[1]) > 3000
    assert "events=3000" in out and "gc (inside the parts above)" in out


def test_flushing_in_batches_changes_the_writes_not_the_outputs(capsys, tmp_path):
    one = tmp_path / "one.jsonl"
    many = tmp_path / "many.jsonl"
    base = ["--synthetic", "3000", "--stub-scorer", "--sweep-every", "500"]
    profile_pipeline.main([*base, "--dump", str(one)])
    profile_pipeline.main([*base, "--batch", "50", "--dump", str(many)])
    capsys.readouterr()

    def records(path, *kinds):
        lines = path.read_bytes().splitlines()
        return [line for line in lines if line.startswith(kinds)]

    # Vectors are recorded as they are made, outputs and writes as they are sent.
    made = (b'["score_x"', b'["learn_x"')
    sent = (b'["user-scores"', b'["recommendations"', b'["final_row"', b'["counts"')
    assert records(one, *made) == records(many, *made)
    assert records(one, *sent) == records(many, *sent)
    assert len(records(many, b'["write"')) < len(records(one, b'["write"'))
