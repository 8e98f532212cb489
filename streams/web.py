"""The worker's HTTP views: counters for operators, one user's state, the models,
and a live page of the churn-alert stream."""

from __future__ import annotations

from collections import Counter
from typing import Any

import faust
from aiokafka.structs import TopicPartition
from faust.stores.memory import Store as MemoryStore
from faust.web import Request, Response, View

from models.features import FEATURE_NAMES, UserState, feature_values
from streams import topics
from streams.alert_watch import AlertFeed
from streams.pipeline import UserPipeline


def register(
    app: faust.App,
    users: faust.Table,
    pipeline: UserPipeline,
    received: Counter[str],
    feed: AlertFeed,
) -> None:
    """Attach the views to the app."""

    @app.page("/stats/")
    class Stats(View):
        async def get(self, request: Request) -> Response:
            body = pipeline.stats()
            body["received"] = dict(received)
            body["rejected_total"] = sum(pipeline.rejected.values())
            body["users_local"] = users_owned(app, users)
            # Unchanged while the worker keeps its place in the consumer group.
            body["consumer_generation"] = app.consumer_generation_id
            body["partitions"] = partitions_view(app)
            return self.json(body)

    @app.page("/models/")
    class Models(View):
        async def get(self, request: Request) -> Response:
            return self.json(
                {
                    "models": pipeline.scorer.report(),
                    "model_versions": pipeline.scorer.versions(),
                    "all_model_versions": pipeline.scorer.model_versions(),
                    "feature_names": list(FEATURE_NAMES),
                }
            )

    @app.table_route(table=users, match_info="user_id")
    async def routed_user(view: View, request: Request, user_id: str) -> Response:
        state = users.get(user_id)
        if state is None:
            if app.rebalancing or app.in_recovery:
                # The row may still be on its way from the changelog.
                return unavailable(
                    view, f"user_id={user_id} not recovered yet (the worker is "
                    "recovering its table)",
                )
            return view.json({"error": f"unknown user_id={user_id}"}, status=404)
        return view.json(user_view(state, pipeline.watermark.value_ms, pipeline))

    table_name = users.name

    @app.page("/users/{user_id}/")
    class User(View):
        async def get(self, request: Request, user_id: str) -> Response:
            try:
                # Which worker owns the user's partition; unknown while the
                # worker starts or the group rebalances.
                app.router.key_store(table_name, user_id)
            except (KeyError, TypeError):
                return unavailable(
                    self, "partition owners not known yet (starting or rebalancing)"
                )
            return await routed_user(self, request, user_id=user_id)


    @app.page("/alerts/")
    class Alerts(View):
        async def get(self, request: Request) -> Response:
            return self.html(ALERTS_PAGE)

    @app.page("/alerts/recent/")
    class RecentAlerts(View):
        async def get(self, request: Request) -> Response:
            try:
                after = int(request.query.get("after", "0"))
            except ValueError:
                return self.json({"error": "after must be a whole number"},
                                 status=400)
            return self.json(feed.since(after))


# The live page: polls /alerts/recent/ every 2 s and puts new alerts on top. Plain
# HTML and script, no assets to serve, so it works from any worker.
ALERTS_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>lifecycle: churn alerts</title>
<style>
body { font: 14px system-ui, sans-serif; margin: 1.5em; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid #ddd; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
tr.new { background: #fff3c4; }
#status { color: #555; }
</style></head><body>
<h1>Churn alerts</h1>
<p id="status">connecting...</p>
<table><thead><tr><th>event time (UTC)</th><th>user</th><th>churn risk</th>
<th>inactive</th><th>events</th><th>purchases</th><th>spent</th><th>alert id</th>
</tr></thead><tbody id="rows"></tbody></table>
<script>
let after = 0, shown = 0;
const rows = document.getElementById("rows");
const status = document.getElementById("status");
function cell(text, numeric) {
  const td = document.createElement("td");
  td.textContent = text;
  if (numeric) td.className = "n";
  return td;
}
async function poll() {
  try {
    const answer = await fetch("/alerts/recent/?after=" + after);
    const body = await answer.json();
    // Taken first: an alert this page cannot draw is skipped, never asked again.
    after = body.seq;
    for (const tr of rows.querySelectorAll("tr.new")) tr.className = "";
    for (const a of body.alerts) {
      try {
        const tr = document.createElement("tr");
        tr.className = "new";
        tr.append(
          cell(new Date(a.alert_ts_ms).toISOString().replace(".000Z", "Z")),
          cell(a.user_id), cell(a.churn_risk.toFixed(3), true),
          cell((a.inactive_s / 3600).toFixed(1) + " h", true),
          cell(a.n_events ?? "", true), cell(a.purchases ?? "", true),
          cell(a.monetary_total ?? "", true), cell(a.alert_id));
        rows.prepend(tr);
        shown += 1;
      } catch (err) {
        console.warn("alert not shown", a, err);
      }
    }
    while (rows.children.length > 500) rows.lastChild.remove();
    status.textContent = (body.following ? "following" : "starting") +
      " churn-alerts: " + shown + " shown since this page opened" +
      (body.not_alerts ? ", " + body.not_alerts + " non-alert messages" : "") +
      ". Updated " + new Date().toLocaleTimeString() + ".";
  } catch (err) {
    status.textContent = "worker not answering (" + err + "); retrying";
  }
  setTimeout(poll, 2000);
}
poll();
</script></body></html>
"""


def unavailable(view: View, why: str) -> Response:
    """503 with Retry-After: the answer exists, just not on this worker yet."""
    return view.json(
        {"error": f"{why}; try again shortly"},
        status=503, headers={"Retry-After": "1"},
    )


def partitions_view(app: faust.App) -> dict[str, Any]:
    """What the consumer is assigned, by topic, and which of those it has paused.

    A stream partition assigned and paused outside a recovery is not being read;
    this is where an operator sees it.
    """
    consumer = app.consumer
    by_topic: dict[str, list[int]] = {}
    for tp in sorted(consumer.assignment()):
        by_topic.setdefault(tp.topic, []).append(tp.partition)
    paused: dict[str, list[int]] = {}
    for tp in sorted(consumer._paused_partitions):
        paused.setdefault(tp.topic, []).append(tp.partition)
    # Per input partition: the offset last read, the offset committed and the
    # broker's end (highwater), as this worker knows them; null when unknown.
    offsets = {
        f"{tp.topic}:{tp.partition}": {
            "read": consumer._read_offset.get(tp),
            "committed": consumer._committed_offset.get(tp),
            **_client_view(consumer, tp),
        }
        for tp in sorted(consumer.assignment())
        if tp.topic == topics.CLICKSTREAM
    }
    return {
        "assigned": by_topic, "paused": paused, "offsets": offsets,
        "in_recovery": bool(app.in_recovery), "rebalancing": bool(app.rebalancing),
    }


def _client_view(consumer: Any, tp: Any) -> dict[str, Any]:
    """The Kafka client's own view of a partition: where it will fetch next,
    the end it last saw, and whether it has paused it. Read from outside the
    client's thread, so a snapshot that may be a moment old; for diagnosis."""
    try:
        client = consumer._thread._ensure_consumer()
        state = client._subscription.subscription.assignment.state_value(
            TopicPartition(tp.topic, tp.partition)
        )
        return {
            "position": state.position if state.has_valid_position else None,
            "highwater": state.highwater,
            "client_paused": state.paused,
            "awaiting_reset": state.awaiting_reset,
        }
    except Exception as exc:  # noqa: BLE001 - a view must not fail the page
        return {"client_view_error": repr(exc)}


def users_owned(app: faust.App, users: faust.Table) -> int:
    """Rows of the partitions this worker owns now.

    The memory store keeps the rows of a partition this worker gave up in a
    rebalance (they are replaced from the changelog if it comes back), so
    counting every key would count those users on two workers.
    """
    if not isinstance(users.data, MemoryStore):
        return sum(1 for _ in users.keys())
    # The table's own partitions: those of the source topics can be assigned
    # differently for a moment in a rebalance.
    changelog = users.changelog_topic.get_topic_name()
    owned = {
        tp.partition for tp in app.assignor.assigned_actives()
        if tp.topic == changelog
    }
    return sum(1 for state in users.data.values() if state.partition in owned)


def user_view(
    state: UserState, watermark_ms: int, pipeline: UserPipeline | None = None
) -> dict[str, Any]:
    """A user's row, with features (and, given the pipeline, scores) as they stand
    at the worker's watermark."""
    at_ms = max(watermark_ms, state.last_ts_ms)
    body = state.to_dict()
    body.pop("seen")
    body.pop("pending")
    body["pending_moments"] = len(state.pending)
    body["features_at_ms"] = at_ms
    x = feature_values(state, at_ms)
    body["features"] = dict(zip(FEATURE_NAMES, x, strict=True))
    if pipeline is not None:
        # Scored now, not at the last scoring moment: an evaluation reads what the
        # models make of every user at one instant of event time.
        body["scores_now"] = pipeline.scorer.score(x)
        body["model_versions"] = pipeline.scorer.versions()
    return body
