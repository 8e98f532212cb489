"""The worker's HTTP views: counters for operators, one user's state, the models."""

from __future__ import annotations

from collections import Counter
from typing import Any

import faust
from faust.stores.memory import Store as MemoryStore
from faust.web import Request, Response, View

from models.features import FEATURE_NAMES, UserState, feature_values
from streams.pipeline import UserPipeline


def register(
    app: faust.App,
    users: faust.Table,
    pipeline: UserPipeline,
    received: Counter[str],
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


def unavailable(view: View, why: str) -> Response:
    """503 with Retry-After: the answer exists, just not on this worker yet."""
    return view.json(
        {"error": f"{why}; try again shortly"},
        status=503, headers={"Retry-After": "1"},
    )


def users_owned(app: faust.App, users: faust.Table) -> int:
    """Rows of the partitions this worker owns now.

    The memory store keeps the rows of a partition this worker gave up in a
    rebalance (they are replaced from the changelog if it comes back), so
    counting every key would count those users on two workers.
    """
    if not isinstance(users.data, MemoryStore):
        return sum(1 for _ in users.keys())
    owned = {tp.partition for tp in app.assignor.assigned_actives()}
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
