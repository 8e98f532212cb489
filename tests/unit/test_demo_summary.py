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


def test_the_demo_keeps_the_settings_a_user_chose_over_its_preset():
    import io

    from streams.demo import preset_overrides

    out = io.StringIO()
    overrides = preset_overrides(
        PRESETS["cdnow"],
        {"LIFECYCLE_LEARN_MOMENTS": "activity,session_end",
         "LIFECYCLE_CHURN_HORIZON_S": "7200", "LIFECYCLE_GRACE_S": ""},
        out,
    )
    assert "learn_moments" not in overrides
    assert "churn_horizon_s" not in overrides
    # Unset or empty: the preset's value.
    assert overrides["grace_s"] == PRESETS["cdnow"].overrides["grace_s"]
    assert overrides["purchase_horizon_s"] == 90 * 86_400.0
    said = out.getvalue()
    assert "LIFECYCLE_LEARN_MOMENTS=activity,session_end" in said
    assert "LIFECYCLE_CHURN_HORIZON_S=7200" in said


def test_what_the_live_view_hides_is_said_and_adds_up():
    import io

    from streams import topics
    from streams.demo import OutputWatch

    out = io.StringIO()
    watch = OutputWatch("unused", show_per_s=2, out=out)
    rec = {"user_id": "u", "items": [{"item_id": "i1", "reason": "popular"}]}
    for _ in range(5):
        watch._show(topics.RECOMMENDATIONS, rec)
    assert not watch.caught_up({"alerts": 0, "recommendations": 6})
    assert watch.caught_up({"alerts": 0, "recommendations": 5})
    watch._say_hidden()  # as when the view stops
    lines = out.getvalue().splitlines()
    shown = [line for line in lines if line.startswith("REC")]
    hidden = sum(int(line.split()[1]) for line in lines if "more not shown" in line)
    assert len(shown) + hidden == 5
