from streams.demo import PRESETS, print_summary

SUMMARY = {
    "dataset": "cdnow", "rows_read": 3, "events_in": 3, "duplicates": 0,
    "users": 2, "users_tracked": 2, "users_evicted": 0, "scores": 4, "alerts": 0,
    "recommendations": 0, "seconds": 1.0, "events_per_s": 3.0,
    "rejected": {}, "models": {},
}


def test_a_log_without_items_says_why_it_recommends_nothing(capsys):
    assert not PRESETS["cdnow"].items
    assert PRESETS["taobao"].items and PRESETS["online-retail"].items
    note = "cdnow has no item ids: nothing to recommend from"
    print_summary({**SUMMARY, "recommendations_note": note}, as_json=False)
    lines = capsys.readouterr().out.splitlines()
    at = next(i for i, line in enumerate(lines) if "recommendations" in line)
    assert lines[at].split() == ["recommendations", "0"]
    assert lines[at + 1].strip() == f"({note})"


def test_the_note_is_absent_when_there_is_nothing_to_explain(capsys):
    print_summary(SUMMARY, as_json=False)
    assert "item ids" not in capsys.readouterr().out
